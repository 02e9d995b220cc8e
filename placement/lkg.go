package placement

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// The signature file ("sidecar") next to a document holds one or more
// detached signatures of the document, each in standard base64 with padding
// on a line of its own; blank lines are ignored. A document is accepted when
// one of them verifies. Several lines let a writer replace the document and
// its sidecar, two files, without a moment where they disagree: it first
// adds the new signature to the sidecar, keeping the old one, then renames the
// new document into place, then drops the old signature. SaveFile does this.
const (
	maxSidecarBytes = 4 << 10
	maxSidecarSigs  = 8
)

// parseSidecar returns the signatures of a signature file.
func parseSidecar(data []byte) ([][]byte, error) {
	if len(data) > maxSidecarBytes {
		return nil, fieldErr(ErrLimit, "signature", "", "signature file of %d bytes, more than %d", len(data), maxSidecarBytes)
	}
	var sigs [][]byte
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		s := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
		n, err := base64.StdEncoding.Decode(s, line)
		if err != nil {
			return nil, fieldErr(ErrSignature, "signature", "", "line %d of the signature file is not base64", i+1)
		}
		if len(sigs) == maxSidecarSigs {
			return nil, fieldErr(ErrLimit, "signature", "", "more than %d signatures", maxSidecarSigs)
		}
		sigs = append(sigs, s[:n])
	}
	return sigs, nil
}

func formatSidecar(sigs [][]byte) []byte {
	var b []byte
	for _, s := range sigs {
		b = base64.StdEncoding.AppendEncode(b, s)
		b = append(b, '\n')
	}
	return b
}

// addSignature returns the signatures of the sidecar to write before
// replacing the document: sig, then those of the old sidecar, which include
// the current document's even if earlier saves were interrupted.
func addSignature(old, sig []byte) [][]byte {
	sigs := [][]byte{sig}
	// An unreadable old sidecar verified nothing: dropping it loses nothing.
	prev, _ := parseSidecar(old)
	for _, p := range prev {
		if !bytes.Equal(p, sig) && len(sigs) < maxSidecarSigs {
			sigs = append(sigs, p)
		}
	}
	return sigs
}

// SaveFile writes m's document to path, to be read back with LoadFile as the
// last-known-good map. A crash at any moment leaves path holding either the
// previous document or the new one, whole: SaveFile writes a temporary file
// in the same directory (named after path with a ".tmp-" suffix), syncs it,
// renames it over path and syncs the directory. The file's mode is 0644: a
// map holds no secrets, and tools and other processes may read it.
//
// When m is signed, its signature goes to path + ".sig" in the sidecar format
// of LoadFile, in an order that keeps document and sidecar verifiable at every
// moment (the new signature is added first, the old one dropped last). When m
// is not signed, a sidecar left from an earlier map is removed.
//
// A crash may leave a temporary file behind; it is harmless and may be
// deleted. Calls for the same path must not overlap.
func SaveFile(path string, m *Map) error {
	sigPath := path + ".sig"
	sig := m.Signature()
	if sig == nil {
		if err := writeFileAtomic(path, m.Bytes()); err != nil {
			return err
		}
		err := os.Remove(sigPath)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return syncDir(filepath.Dir(path))
	}
	old, err := os.ReadFile(sigPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	sigs := addSignature(old, sig)
	if err := writeFileAtomic(sigPath, formatSidecar(sigs)); err != nil {
		return err
	}
	if err := writeFileAtomic(path, m.Bytes()); err != nil {
		return err
	}
	if len(sigs) == 1 {
		return nil
	}
	return writeFileAtomic(sigPath, formatSidecar(sigs[:1]))
}

// LoadFile reads and parses the document at path with opt, typically the
// last-known-good copy SaveFile wrote. When opt.PublicKeys is set and
// opt.Signature is empty, the signatures come from path + ".sig": one or more
// lines, each a detached ed25519 signature of the document's exact bytes in
// standard base64; the document is accepted when one of them verifies. A
// missing file gives an error matching fs.ErrNotExist; a refused document, a
// *SourceError naming path.
func LoadFile(path string, opt Options) (*Map, error) {
	doc, err := readFileLimit(path, opt.Limits.withDefaults().MaxBytes, "document")
	if err != nil {
		return nil, err
	}
	var sigs [][]byte
	switch {
	case len(opt.Signature) > 0:
		sigs = [][]byte{opt.Signature}
	case len(opt.PublicKeys) > 0:
		data, err := readFileLimit(path+".sig", maxSidecarBytes, "signature")
		switch {
		case err == nil:
			if sigs, err = parseSidecar(data); err != nil {
				return nil, &SourceError{Source: path + ".sig", Err: err}
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	m, err := parseSigned(doc, sigs, opt)
	if err != nil {
		return nil, &SourceError{Source: path, Err: err}
	}
	return m, nil
}

// readFileLimit reads a file of at most max bytes; a larger one gives a
// *SourceError.
func readFileLimit(path string, max int, field string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data, err := readLimit(f, fi.Size(), max, field)
	if fe := (*FieldError)(nil); errors.As(err, &fe) {
		return nil, &SourceError{Source: path, Err: err}
	}
	return data, err
}

// readLimit reads an open file whose stat gave size, refusing more than max
// bytes even if it grows meanwhile; field names the file in errors.
func readLimit(f *os.File, size int64, max int, field string) ([]byte, error) {
	if size > int64(max) {
		return nil, fieldErr(ErrLimit, field, "", "%d bytes, more than %d", size, max)
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > max {
		return nil, fieldErr(ErrLimit, field, "", "more than %d bytes", max)
	}
	return data, nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old file or the new one.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // Windows cannot sync a directory
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("placement: sync %s: %w", dir, err)
	}
	return nil
}
