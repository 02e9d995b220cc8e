package layout

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors a caller branches on, matched with errors.Is.
var (
	// ErrLayout is etcdsource.ErrLayout: keys under the prefix that do not
	// follow the layout. Its text names etcdsource, the package users see.
	ErrLayout = errors.New("etcdsource: the keys under the prefix do not follow the layout")
)

// Bounds of the layout, against a hostile or broken store.
const (
	MaxChunks    = 100_000 // chunk indexes have six digits
	MaxIDBytes   = 128     // bytes of a manifest's id
	MaxManifest  = 4 << 10 // bytes of a manifest
	maxVersionKV = 20      // digits of a uint64
)

// Errorf is an ErrLayout with a detail.
func Errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrLayout}, args...)...)
}

// A Manifest describes a chunked document: its chunks are the keys
// chunk/<id>/000000 … chunk/<id>/<chunks-1>, whose values concatenated are
// the document of the given size and SHA-256.
type Manifest struct {
	ID     string `json:"id"`
	Chunks int    `json:"chunks"`
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Encode returns m as the JSON stored under the manifest key.
func (m Manifest) Encode() []byte {
	b, _ := json.Marshal(m) // cannot fail: strings and ints
	return b
}

// ParseManifest reads a manifest strictly; maxBytes bounds the document it
// describes. Every refusal matches ErrLayout.
func ParseManifest(data []byte, maxBytes int) (Manifest, error) {
	if len(data) > MaxManifest {
		return Manifest{}, Errorf("manifest of %d bytes, more than %d", len(data), MaxManifest)
	}
	var w struct {
		ID     *string `json:"id"`
		Chunks *int    `json:"chunks"`
		Bytes  *int    `json:"bytes"`
		SHA256 *string `json:"sha256"`
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return Manifest{}, Errorf("manifest: %v", err)
	}
	if d.More() {
		return Manifest{}, Errorf("manifest: data after the JSON object")
	}
	if w.ID == nil || w.Chunks == nil || w.Bytes == nil || w.SHA256 == nil {
		return Manifest{}, Errorf("manifest: id, chunks, bytes and sha256 are required")
	}
	m := Manifest{ID: *w.ID, Chunks: *w.Chunks, Bytes: *w.Bytes, SHA256: *w.SHA256}
	if err := CheckID(m.ID); err != nil {
		return Manifest{}, err
	}
	switch {
	case m.Bytes < 1 || m.Bytes > maxBytes:
		return Manifest{}, Errorf("manifest: bytes %d out of [1, %d]", m.Bytes, maxBytes)
	case m.Chunks < 1 || m.Chunks > MaxChunks || m.Chunks > m.Bytes:
		return Manifest{}, Errorf("manifest: chunks %d out of [1, %d]", m.Chunks, min(MaxChunks, m.Bytes))
	}
	if h, err := hex.DecodeString(m.SHA256); err != nil || len(h) != sha256.Size || m.SHA256 != strings.ToLower(m.SHA256) {
		return Manifest{}, Errorf("manifest: sha256 %q is not 64 lowercase hex digits", Shorten(m.SHA256))
	}
	return m, nil
}

// CheckID accepts chunk directory names of 1 to 128 bytes of [A-Za-z0-9._-],
// so that no ID escapes the chunk directory.
func CheckID(id string) error {
	ok := id != "" && len(id) <= MaxIDBytes && id != "." && id != ".."
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return Errorf("manifest: id %q is not 1 to %d bytes of [A-Za-z0-9._-]", Shorten(id), MaxIDBytes)
	}
	return nil
}

// CheckDoc checks the joined chunks of m against m.
func CheckDoc(m Manifest, doc []byte) error {
	if len(doc) != m.Bytes {
		return Errorf("chunks of %s hold %d bytes, the manifest says %d", m.ID, len(doc), m.Bytes)
	}
	if sum := sha256.Sum256(doc); hex.EncodeToString(sum[:]) != m.SHA256 {
		return Errorf("chunks of %s do not have the manifest's sha256", m.ID)
	}
	return nil
}

// ParseVersion reads the version key: a decimal uint64 above 0 without
// leading zeros.
func ParseVersion(v []byte) (uint64, error) {
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil || len(v) > maxVersionKV || n == 0 || (len(v) > 1 && v[0] == '0') {
		return 0, Errorf("version key holds %q, not a version", Shorten(string(v)))
	}
	return n, nil
}

// Shorten keeps messages bounded whatever the store holds.
func Shorten(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
