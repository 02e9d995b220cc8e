package source

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/cellkit/cellkit/placement"
)

// The integrity record ("sum file") at path + ".sum" binds the
// last-known-good document to its exact bytes, so that LoadFile refuses a
// document corrupted on disk instead of loading it as another valid map.
// The document itself stays byte for byte the one published. The record is
// in the format of sha256sum(1): one or more lines, each the SHA-256 of a
// document in lowercase hex, two spaces and the document's base name, so
// that `sha256sum -c map.json.sum` checks it in the document's directory.
// LoadFile accepts the document when one line matches it; anything else
// than lines of exactly that form, for exactly that base name, is refused.
// Several lines exist only while SaveFile replaces the document, for the
// same reason as in the signature file.
const (
	maxSumBytes = 4 << 10
	maxSumLines = 8
)

// sumLine is the record line of doc under base.
func sumLine(base string, doc []byte) []byte {
	h := sha256.Sum256(doc)
	return fmt.Appendf(nil, "%x  %s\n", h, base)
}

// sumLines splits a record into its lines, each with its newline; it
// reports whether every line is of the form sumLine writes for base.
func sumLines(rec []byte, base string) ([][]byte, bool) {
	var lines [][]byte
	for len(rec) > 0 {
		i := bytes.IndexByte(rec, '\n')
		if i < 0 {
			return lines, false
		}
		line := rec[:i+1]
		rec = rec[i+1:]
		h, name, ok := bytes.Cut(line[:i], []byte("  "))
		if !ok || string(name) != base || len(h) != 2*sha256.Size || !isLowerHex(h) {
			return lines, false
		}
		lines = append(lines, line)
	}
	return lines, len(lines) > 0
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkSum verifies doc against the integrity record rec of base.
func checkSum(rec []byte, base string, doc []byte) error {
	lines, ok := sumLines(rec, base)
	switch {
	case !ok:
		return fmt.Errorf("%w: the record is not %d or fewer lines of a SHA-256 and the name %q", ErrIntegrity, maxSumLines, shorten(base))
	case len(lines) > maxSumLines:
		return fmt.Errorf("%w: more than %d lines", ErrIntegrity, maxSumLines)
	}
	want := sumLine(base, doc)
	for _, l := range lines {
		if bytes.Equal(l, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: the document's SHA-256 is not in the record", ErrIntegrity)
}

// addSum returns the record to write before replacing the document: line,
// then the valid lines of the old record, which include the current
// document's even if earlier saves were interrupted.
func addSum(old []byte, base string, line []byte) [][]byte {
	lines := [][]byte{line}
	prev, _ := sumLines(old, base) // the valid lines before the first bad one
	for _, p := range prev {
		if !bytes.Equal(p, line) && len(lines) < maxSumLines {
			lines = append(lines, p)
		}
	}
	return lines
}

// SaveFile writes m's document to path, to be read back with LoadFile as the
// last-known-good map, with its integrity record at path + ".sum" and, when
// m is signed, its signature at path + ".sig". The document's bytes are
// exactly m.Bytes(), the document as published.
//
// A crash at any moment leaves path holding either the previous document or
// the new one, whole, and the record and signature files able to verify it:
// each file is replaced by writing a temporary file in the same directory
// (named after the file with a ".tmp-" and a number appended), syncing it,
// renaming it over the file and syncing the directory; the new document's
// checksum and signature are added to their files before the document is
// renamed into place, and the old ones dropped after. When m is not signed,
// a signature file left from an earlier map is removed. Files are mode
// 0644: a map holds no secrets, and tools and other processes may read it.
//
// SaveFile first removes the temporary files of this path that an earlier,
// interrupted SaveFile left; calls for the same path must not overlap. A
// nil map, or one without a document, gives an error matching ErrConfig.
func SaveFile(path string, m *placement.Map) error {
	if m == nil {
		return fmt.Errorf("%w: SaveFile of a nil map", ErrConfig)
	}
	doc := m.Bytes()
	dir, base := filepath.Split(path)
	switch {
	case len(doc) == 0:
		return fmt.Errorf("%w: SaveFile of a map without a document", ErrConfig)
	case base == "" || strings.ContainsAny(base, "\n\\"):
		return fmt.Errorf("%w: SaveFile to %q: the file name must be non-empty, without newline or backslash", ErrConfig, shorten(path))
	}
	if dir == "" {
		dir = "."
	}
	removeStale(dir, base)

	sumPath, sigPath := path+".sum", path+".sig"
	// An unreadable old record or signature file verified nothing: dropping
	// it loses nothing.
	oldSum, _ := readSmall(sumPath, maxSumBytes)
	sums := addSum(oldSum, base, sumLine(base, doc))
	if err := writeFileAtomic(sumPath, bytes.Join(sums, nil)); err != nil {
		return err
	}
	sig := m.Signature()
	var sigs [][]byte
	if sig != nil {
		oldSig, _ := readSmall(sigPath, maxSidecarBytes)
		sigs = addSignature(oldSig, sig)
		if err := writeFileAtomic(sigPath, formatSidecar(sigs)); err != nil {
			return err
		}
	}
	if err := writeFileAtomic(path, doc); err != nil {
		return err
	}
	switch {
	case sig == nil:
		err := os.Remove(sigPath)
		if err == nil {
			err = syncDir(dir)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	case len(sigs) > 1:
		if err := writeFileAtomic(sigPath, formatSidecar(sigs[:1])); err != nil {
			return err
		}
	}
	if len(sums) > 1 {
		return writeFileAtomic(sumPath, sums[0])
	}
	return nil
}

// removeStale removes the temporary files that writeFileAtomic names after
// base, base.sig and base.sum in dir, as an interrupted save leaves them.
// It is best effort: a file it cannot remove is harmless.
func removeStale(dir, base string) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range es {
		for _, p := range []string{base, base + ".sig", base + ".sum"} {
			if n, ok := strings.CutPrefix(e.Name(), p+".tmp-"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
}

// readSmall reads a regular file of at most max bytes.
func readSmall(name string, max int) ([]byte, error) {
	data, _, err := readRegular(osFS{}, name, max, filepath.Base(name), sameOS)
	return data, err
}

func sameOS(a, b fs.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// LoadFile reads the document that SaveFile wrote at path, checks it against
// its integrity record at path + ".sum", and parses it with opt. When
// opt.PublicKeys is set, the signatures come from path + ".sig": one or more
// lines, each a detached ed25519 signature of the document's exact bytes in
// standard base64; the document is accepted when one of them verifies.
//
// Every error is a *SourceError naming the file at fault. A
// missing document gives an error matching fs.ErrNotExist (and
// ErrFetch); a missing, malformed or mismatched record, one
// matching ErrIntegrity, so that a document corrupted on disk is refused
// rather than loaded as another map; a refused document, the error of
// placement.ParseSigned. Only regular files are read. A document that
// SaveFile did not write has no record and is refused: read such a file
// with os.ReadFile and placement.ParseSigned, or follow it with NewFile.
func LoadFile(path string, opt placement.Options) (*placement.Map, error) {
	return loadFile(osFS{}, path, opt)
}

// loadFile is LoadFile on fsys.
//
// LoadFile may run during a SaveFile, which replaces three files that
// cannot be read as one snapshot. It reads the document first and its
// record and signatures after, and SaveFile keeps the old document's line
// in the record until the new document is in place, so a record read after
// the document names it unless a save finished in between; then the
// document read is no longer the one in place, and reading all three again
// sees the newer document with its record. A second mismatch needs a
// second whole save within one load and is reported.
func loadFile(fsys fs.FS, path string, opt placement.Options) (*placement.Map, error) {
	m, err := loadOnce(fsys, path, opt)
	if errors.Is(err, ErrIntegrity) || errors.Is(err, placement.ErrSignature) {
		m, err = loadOnce(fsys, path, opt)
	}
	return m, err
}

// loadOnce reads the document, then its record and signatures, once.
func loadOnce(fsys fs.FS, path string, opt placement.Options) (*placement.Map, error) {
	doc, err := readFile(fsys, path, opt.Limits.WithDefaults().MaxBytes, "document")
	if err != nil {
		return nil, err
	}
	sumPath := path + ".sum"
	rec, err := readFile(fsys, sumPath, maxSumBytes, "integrity record")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &SourceError{Source: sumPath, Err: fmt.Errorf("%w: no integrity record", ErrIntegrity)}
	case errors.Is(err, placement.ErrLimit):
		return nil, &SourceError{Source: sumPath, Err: fmt.Errorf("%w: %w", ErrIntegrity, errors.Unwrap(err))}
	case err != nil:
		return nil, err
	}
	if err := checkSum(rec, filepath.Base(path), doc); err != nil {
		return nil, &SourceError{Source: path, Err: err}
	}
	var sigs [][]byte
	if len(opt.PublicKeys) > 0 {
		sigPath := path + ".sig"
		data, err := readFile(fsys, sigPath, maxSidecarBytes, "signature")
		switch {
		case err == nil:
			if sigs, err = parseSidecar(data); err != nil {
				return nil, &SourceError{Source: sigPath, Err: err}
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	m, err := parseNext(nil, doc, sigs, opt)
	if err != nil {
		return nil, &SourceError{Source: path, Err: err}
	}
	return m, nil
}

// readFile reads a regular file of at most max bytes for LoadFile; every
// error is a *SourceError naming the file.
func readFile(fsys fs.FS, name string, max int, field string) ([]byte, error) {
	data, _, err := readRegular(fsys, name, max, field, sameOS)
	var pe *fs.PathError
	switch {
	case err == nil:
		return data, nil
	case errors.Is(err, placement.ErrLimit):
		return nil, &SourceError{Source: name, Err: err}
	case errors.As(err, &pe) && pe.Path == name:
		err = pe.Err
	}
	return nil, fetchErr(name, err)
}

// WriteFileAtomic replaces the file at path with data the way SaveFile
// replaces each of its files, so that a crash leaves either the old file or
// the new one, whole: a temporary file in the same directory, named after
// path with ".tmp-" and a number appended, is written, synced, given mode
// 0644, renamed over path, and the directory is synced (except on Windows,
// which cannot sync a directory); a failure of any step, the directory's
// sync included, is returned. A symbolic link at path is replaced by the
// file, not followed. Tools that publish maps (cellctl) write with it, so
// that every map file is written by one rule.
func WriteFileAtomic(path string, data []byte) error { return writeFileAtomic(path, data) }

// RemoveStaleTemps removes the temporary files that interrupted calls of
// WriteFileAtomic or SaveFile left for path, path + ".sig" and path +
// ".sum". It must not run while another process writes one of those files
// (it would remove that writer's temporary file): call it under the lock
// that serializes the writers. It is best effort: a file it cannot remove
// is harmless.
func RemoveStaleTemps(path string) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	removeStale(dir, base)
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
		return fmt.Errorf("source: sync %s: %w", dir, err)
	}
	return nil
}
