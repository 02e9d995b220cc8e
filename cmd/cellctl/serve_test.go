package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

func newTestServer(t *testing.T, opt placement.Options, doc string, sig []byte) (*mapServer, string, *strings.Builder) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "map.json")
	if err := saveDoc(path, []byte(doc), sigList(sig)); err != nil {
		t.Fatal(err)
	}
	log := &strings.Builder{}
	s := &mapServer{path: path, opt: opt, log: log}
	first, err := s.read()
	if err != nil {
		t.Fatalf("read(%s) = %v", path, err)
	}
	s.cur = first
	return s, path, log
}

func sigList(sig []byte) [][]byte {
	if sig == nil {
		return nil
	}
	return [][]byte{sig}
}

type answer struct {
	status int
	body   string
	etag   string
	sig    string
}

func get(t *testing.T, h http.Handler, method, path string, header ...string) answer {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Result().Body)
	return answer{w.Code, string(body), w.Header().Get("ETag"), w.Header().Get(source.SignatureHeader)}
}

const (
	serveV1 = `{"version": 1, "cells": [{"id": "c1"}]}`
	serveV2 = `{"version": 2, "cells": [{"id": "c1"}, {"id": "c2"}]}`
)

func TestServeHTTP(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	sig := placement.Sign(priv, []byte(serveV1))
	s, _, _ := newTestServer(t, placement.Options{PublicKeys: []ed25519.PublicKey{pub}}, serveV1, sig)

	a := get(t, s, "GET", "/")
	if a.status != 200 || a.body != serveV1 {
		t.Fatalf("GET / = %d %q; want 200 and the document", a.status, a.body)
	}
	if a.sig != base64.StdEncoding.EncodeToString(sig) {
		t.Errorf("GET / %s = %q; want the signature", source.SignatureHeader, a.sig)
	}
	if !strings.HasPrefix(a.etag, `"`) || len(a.etag) < 10 {
		t.Errorf("GET / ETag = %q; want a strong quoted tag", a.etag)
	}
	tests := []struct {
		method, path string
		header       []string
		status       int
		body         string
	}{
		{"GET", "/map.json", nil, 200, serveV1},
		{"HEAD", "/", nil, 200, ""},
		{"GET", "/", []string{"If-None-Match", a.etag}, 304, ""},
		{"GET", "/", []string{"If-None-Match", `W/` + a.etag}, 304, ""},
		{"GET", "/", []string{"If-None-Match", `"other", ` + a.etag}, 304, ""},
		{"GET", "/", []string{"If-None-Match", `"other"`}, 200, serveV1},
		{"GET", "/other.json", nil, 404, "404 page not found\n"},
		{"POST", "/", nil, 405, "method not allowed\n"},
	}
	for _, tt := range tests {
		got := get(t, s, tt.method, tt.path, tt.header...)
		if got.status != tt.status || got.body != tt.body {
			t.Errorf("%s %s %v = %d %q; want %d %q", tt.method, tt.path, tt.header, got.status, got.body, tt.status, tt.body)
		}
	}
}

func TestServeReload(t *testing.T) {
	s, path, log := newTestServer(t, placement.Options{}, serveV1, nil)
	first := get(t, s, "GET", "/")

	// A new version replaces the file: served at the next request, with a
	// new ETag; the old ETag no longer matches.
	if err := saveDoc(path, []byte(serveV2), nil); err != nil {
		t.Fatal(err)
	}
	a := get(t, s, "GET", "/", "If-None-Match", first.etag)
	if a.status != 200 || a.body != serveV2 || a.etag == first.etag {
		t.Fatalf("after a new version: %d %q ETag %s; want 200, v2 and a new ETag", a.status, a.body, a.etag)
	}
	if !strings.Contains(log.String(), "now serving v2") {
		t.Errorf("log = %q; want it to say v2 is served", log.String())
	}

	// Refused: a lower version, garbage. v2 stays, each refusal logged once.
	for _, doc := range []string{serveV1, "garbage"} {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got := get(t, s, "GET", "/"); got.body != serveV2 || got.etag != a.etag {
				t.Fatalf("after writing %q: served %q ETag %s; want v2 and its ETag", doc, got.body, got.etag)
			}
		}
	}
	if n := strings.Count(log.String(), "keeping v2"); n != 2 {
		t.Errorf("log = %q; want 2 refusals, one per bad document", log.String())
	}

	// A same-size rewrite in place within the racy window is seen: the
	// file is read again while its modification time is recent.
	same := strings.Replace(serveV2, `"c2"`, `"c3"`, 1)
	same = strings.Replace(same, `"version": 2`, `"version": 3`, 1)
	if err := os.WriteFile(path, []byte(same), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, "GET", "/"); got.body != same {
		t.Errorf("after an in-place rewrite: served %q; want %q", got.body, same)
	}

	// The file going away keeps the last good map.
	os.Remove(path)
	if got := get(t, s, "GET", "/"); got.body != same {
		t.Errorf("after removing the file: served %q; want the last good map", got.body)
	}
}

// TestServeStableNoRead checks that an unchanged, settled file costs a stat:
// the snapshot is reused, not read again.
func TestServeStableNoRead(t *testing.T) {
	s, _, _ := newTestServer(t, placement.Options{}, serveV1, nil)
	s.cur.checked = time.Now().Add(time.Hour) // as if the files settled long ago
	before := s.cur
	get(t, s, "GET", "/")
	if s.cur != before {
		t.Errorf("an unchanged file was read again")
	}
}
