package etcdsource

// The rules of the manifest, ids and the version key are in
// internal/layout, which its fuzz target can link without etcd.

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
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

// checkSig refuses a signature that cannot be an ed25519 signature.
func checkSig(sig []byte) error {
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("etcdsource: signature of %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	return nil
}

// errNoDoc is what a Source finds before the first publish.
var errNoDoc = errors.New("etcdsource: no document is stored under the prefix")
