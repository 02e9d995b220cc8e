package etcdsource

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Bounds of the layout, against a hostile or broken store.
const (
	maxChunks    = 100_000 // chunk indexes have six digits
	maxIDBytes   = 128
	maxManifest  = 4 << 10
	maxVersionKV = 20 // digits of a uint64
)

// keys names the keys under one prefix; the package documentation is their
// specification.
type keys struct {
	prefix   string
	version  string
	doc      string
	sig      string
	manifest string
	chunks   string // the directory of every chunk
}

func newKeys(prefix string) (keys, error) {
	if prefix == "" || !strings.HasSuffix(prefix, "/") {
		return keys{}, fmt.Errorf("etcdsource: prefix %q must be non-empty and end with /", prefix)
	}
	return keys{
		prefix:   prefix,
		version:  prefix + "version",
		doc:      prefix + "doc",
		sig:      prefix + "sig",
		manifest: prefix + "manifest",
		chunks:   prefix + "chunk/",
	}, nil
}

// confirmation is the key of a cell's confirmed version (see Confirmer);
// with cell "", the directory of every confirmation. It sorts before the
// chunk directory, so that a Source does not watch it.
func (k keys) confirmation(cell string) string { return k.prefix + "cells/" + cell }

// chunkDir is the directory of the chunks of one chunked document.
func (k keys) chunkDir(id string) string { return k.chunks + id + "/" }

// chunkKey is the key of chunk i of a chunked document.
func (k keys) chunkKey(id string, i int) string {
	return fmt.Sprintf("%s%06d", k.chunkDir(id), i)
}

// watchFrom is the first key after the chunk directory: a Source watches
// from there to the end of the prefix (see Source.watch).
func (k keys) watchFrom() string { return rangeEnd(k.chunks) }

// rangeEnd is the end of the range of keys that start with p.
func rangeEnd(p string) string { return clientv3.GetPrefixRangeEnd(p) }

// A manifest describes a chunked document: its chunks are the keys
// chunk/<id>/000000 … chunk/<id>/<chunks-1>, whose values concatenated are
// the document of the given size and SHA-256.
type manifest struct {
	ID     string `json:"id"`
	Chunks int    `json:"chunks"`
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
}

func (m manifest) encode() []byte {
	b, _ := json.Marshal(m) // cannot fail: strings and ints
	return b
}

// parseManifest reads a manifest strictly; maxBytes bounds the document it
// describes.
func parseManifest(data []byte, maxBytes int) (manifest, error) {
	if len(data) > maxManifest {
		return manifest{}, layoutErr("manifest of %d bytes, more than %d", len(data), maxManifest)
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
		return manifest{}, layoutErr("manifest: %v", err)
	}
	if d.More() {
		return manifest{}, layoutErr("manifest: data after the JSON object")
	}
	if w.ID == nil || w.Chunks == nil || w.Bytes == nil || w.SHA256 == nil {
		return manifest{}, layoutErr("manifest: id, chunks, bytes and sha256 are required")
	}
	m := manifest{ID: *w.ID, Chunks: *w.Chunks, Bytes: *w.Bytes, SHA256: *w.SHA256}
	if err := checkID(m.ID); err != nil {
		return manifest{}, err
	}
	switch {
	case m.Bytes < 1 || m.Bytes > maxBytes:
		return manifest{}, layoutErr("manifest: bytes %d out of [1, %d]", m.Bytes, maxBytes)
	case m.Chunks < 1 || m.Chunks > maxChunks || m.Chunks > m.Bytes:
		return manifest{}, layoutErr("manifest: chunks %d out of [1, %d]", m.Chunks, min(maxChunks, m.Bytes))
	}
	if h, err := hex.DecodeString(m.SHA256); err != nil || len(h) != sha256.Size || m.SHA256 != strings.ToLower(m.SHA256) {
		return manifest{}, layoutErr("manifest: sha256 %q is not 64 lowercase hex digits", shorten(m.SHA256))
	}
	return m, nil
}

// checkID accepts chunk directory names of 1 to 128 bytes of [A-Za-z0-9._-],
// so that no ID escapes the chunk directory.
func checkID(id string) error {
	ok := id != "" && len(id) <= maxIDBytes && id != "." && id != ".."
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return layoutErr("manifest: id %q is not 1 to %d bytes of [A-Za-z0-9._-]", shorten(id), maxIDBytes)
	}
	return nil
}

// checkDoc checks the joined chunks of m against m.
func checkDoc(m manifest, doc []byte) error {
	if len(doc) != m.Bytes {
		return layoutErr("chunks of %s hold %d bytes, the manifest says %d", m.ID, len(doc), m.Bytes)
	}
	if sum := sha256.Sum256(doc); hex.EncodeToString(sum[:]) != m.SHA256 {
		return layoutErr("chunks of %s do not have the manifest's sha256", m.ID)
	}
	return nil
}

// checkSig refuses a signature that cannot be an ed25519 signature.
func checkSig(sig []byte) error {
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("etcdsource: signature of %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	return nil
}

// parseVersion reads the version key.
func parseVersion(v []byte) (uint64, error) {
	n, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil || len(v) > maxVersionKV || n == 0 || (len(v) > 1 && v[0] == '0') {
		return 0, layoutErr("version key holds %q, not a version", shorten(string(v)))
	}
	return n, nil
}

// shorten keeps messages bounded whatever the store holds.
func shorten(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// errNoDoc is what a Source finds before the first publish.
var errNoDoc = errors.New("etcdsource: no document is stored under the prefix")
