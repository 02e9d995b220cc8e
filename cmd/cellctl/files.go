package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// The signature file ("sidecar") of a document is the document's path with
// ".sig" appended: one detached ed25519 signature of the document's exact
// bytes a line, in standard base64; the sources accept the document when one
// line verifies.
const sigSuffix = ".sig"

// docFlags are the flags of the commands that read maps: the limits and the
// trusted keys.
type docFlags struct {
	lim  placement.Limits
	keys stringList // public key files
}

func (d *docFlags) register(fs *flag.FlagSet, withKeys bool) {
	fs.IntVar(&d.lim.MaxBytes, "max-bytes", 0, "limit: document size in bytes (0: placement's default, 64 MiB)")
	fs.IntVar(&d.lim.MaxCells, "max-cells", 0, "limit: cells (0: default 10,000)")
	fs.IntVar(&d.lim.MaxOverrides, "max-overrides", 0, "limit: overrides (0: default 10,000,000)")
	fs.IntVar(&d.lim.MaxMigrations, "max-migrations", 0, "limit: migrations (0: default 1,000,000)")
	fs.IntVar(&d.lim.MaxKeyBytes, "max-key-bytes", 0, "limit: bytes of an override or migration key (0: default 1 KiB)")
	fs.IntVar(&d.lim.MaxEndpoints, "max-endpoints", 0, "limit: endpoints of a cell (0: default 64)")
	fs.IntVar(&d.lim.MaxLabelBytes, "max-label-bytes", 0, "limit: label bytes of a cell (0: default 16 KiB)")
	fs.IntVar(&d.lim.MaxTableWork, "max-table-work", 0, "limit: buckets × active cells of a derived table (0: default 2^28)")
	if withKeys {
		fs.Var(&d.keys, "public-key", "require a signature by this public key `FILE` (repeatable; the signatures come from the map's .sig file)")
	}
}

func (d *docFlags) options() (placement.Options, error) {
	opt := placement.Options{Limits: d.lim}
	for _, path := range d.keys {
		k, err := readPublicKey(path)
		if err != nil {
			return opt, err
		}
		opt.PublicKeys = append(opt.PublicKeys, k)
	}
	return opt, nil
}

// load reads and parses the map at path strictly; with trusted keys, one of
// the signatures of its sidecar must verify. It returns the document's
// bytes and the sidecar's signatures too; without trusted keys a malformed
// sidecar counts as none.
func (d *docFlags) load(path string) (*placement.Map, []byte, [][]byte, error) {
	opt, err := d.options()
	if err != nil {
		return nil, nil, nil, err
	}
	return loadDoc(path, opt)
}

func loadDoc(path string, opt placement.Options) (*placement.Map, []byte, [][]byte, error) {
	max := opt.Limits.MaxBytes
	if max <= 0 {
		max = 64 << 20
	}
	doc, err := readLimited(path, max)
	if err != nil {
		return nil, nil, nil, err
	}
	sigs, err := readSidecar(path + sigSuffix)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil && len(opt.PublicKeys) > 0:
		return nil, nil, nil, err
	case err != nil:
		sigs = nil // verifies nothing, and nothing asked for it (publish checks it)
	}
	m, err := placement.ParseSigned(doc, sigs, opt)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, doc, sigs, nil
}

func readLimited(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > max {
		return nil, fmt.Errorf("%s: %w", path, &placement.FieldError{Field: "document", Err: placement.ErrLimit, Detail: fmt.Sprintf("more than %d bytes", max)})
	}
	return data, nil
}

// readSidecar returns the signatures of a signature file; a missing file
// gives an error matching fs.ErrNotExist.
func readSidecar(path string) ([][]byte, error) {
	data, err := readLimited(path, source.MaxSignatureFileBytes)
	if err != nil {
		return nil, err
	}
	sigs, err := source.ParseSignatures(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sigs, nil
}

// saveDoc replaces the document at path, and its sidecar, so that a reader
// finds at every moment a document and a sidecar that verify: the new
// signatures are added to the sidecar first, the document renamed into
// place, and the old signatures dropped last. Without signatures, the
// sidecar is removed after the document is replaced.
func saveDoc(path string, doc []byte, sigs [][]byte) error {
	sigPath := path + sigSuffix
	if len(sigs) == 0 {
		if err := writeFile(path, doc); err != nil {
			return err
		}
		if err := os.Remove(sigPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	old, _ := readSidecar(sigPath) // an unreadable sidecar verified nothing
	both := append([][]byte(nil), sigs...)
	for _, o := range old {
		if len(both) < source.MaxSignatures && !containsBytes(both, o) {
			both = append(both, o)
		}
	}
	if len(both) > len(sigs) {
		if err := writeFile(sigPath, source.FormatSignatures(both)); err != nil {
			return err
		}
	}
	if err := writeFile(path, doc); err != nil {
		return err
	}
	return writeFile(sigPath, source.FormatSignatures(sigs))
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}

// writeFile replaces the file at path with data through placement/source's
// atomic write, the one the last-known-good file uses (a temporary file
// synced and renamed over path, the directory synced, every failure
// reported), so that cellctl keeps no copy of that rule.
// A path that is a symbolic link is followed (see resolve).
func writeFile(path string, data []byte) error {
	real, err := resolve(path)
	if err != nil {
		return err
	}
	return source.WriteFileAtomic(real, data)
}

// resolve returns the file that a write to path replaces: path itself, or,
// when path is a symbolic link, the file it points to through any chain of
// links. cellctl follows links (a rename over the link would replace the
// link by a regular file and leave its target, which others may read, at
// the old version). A link to a file that does not exist is refused: where
// to create it is the operator's call.
func resolve(path string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return path, nil // a missing path is created; other errors come from the write
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		dest, _ := os.Readlink(path)
		return "", fmt.Errorf("%w: %s points to %q, which cannot be followed: %v", errSymlink, path, dest, err)
	}
	return real, nil
}

// stringList is a repeatable flag; each use may also list values separated
// by commas.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// keyID names a public key in messages: the first 8 bytes of its SHA-256,
// in hex.
func keyID(k ed25519.PublicKey) string {
	h := sha256.Sum256(k)
	return hex.EncodeToString(h[:8])
}
