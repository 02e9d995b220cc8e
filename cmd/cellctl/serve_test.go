package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs `cellctl serve` in the test's process on path, with args
// before it, and returns its URL and its standard error. The server stops
// at the end of the test.
func startServe(t *testing.T, path string, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	readyFile := filepath.Join(t.TempDir(), "url")
	var out, errOut syncBuffer
	done := make(chan int, 1)
	argv := append([]string{"serve", "--addr", "127.0.0.1:0", "--ready", readyFile}, args...)
	go func() { done <- run(ctx, append(argv, path), &out, &errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop within 10s of its context's end")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(readyFile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return strings.TrimSpace(string(b)), &errOut
		}
		select {
		case code := <-done:
			done <- code // for the cleanup
			t.Fatalf("serve exited with %d before it listened: %s", code, errOut.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not listen within 10s: %s", errOut.String())
		}
	}
}

type answer struct {
	status int
	body   string
	etag   string
	sig    string
}

// client gives up on a request after 5 s: a server that hangs fails the
// test instead of hanging it.
var client = &http.Client{Timeout: 5 * time.Second}

func get(t *testing.T, method, url string, header ...string) answer {
	t.Helper()
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(body), resp.Header.Get("ETag"), resp.Header.Get(source.SignatureHeader)}
}

// eventually polls cond every 10 ms for up to 15 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 15s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const (
	serveV1 = `{"version": 1, "cells": [{"id": "c1"}]}`
	serveV2 = `{"version": 2, "cells": [{"id": "c1"}, {"id": "c2"}]}`
)

func writeMap(t *testing.T, path, doc string, sig []byte) {
	t.Helper()
	var sigs [][]byte
	if sig != nil {
		sigs = [][]byte{sig}
	}
	if err := saveDoc(path, []byte(doc), sigs); err != nil {
		t.Fatal(err)
	}
}

func TestServeHTTP(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	sig := placement.Sign(priv, []byte(serveV1))
	path := filepath.Join(t.TempDir(), "map.json")
	writeMap(t, path, serveV1, sig)
	keyFile := filepath.Join(t.TempDir(), "cp.pub")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(pub)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	url, _ := startServe(t, path, "--public-key", keyFile)

	a := get(t, "GET", url)
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
		{"GET", "map.json", nil, 200, serveV1},
		{"HEAD", "", nil, 200, ""},
		{"GET", "", []string{"If-None-Match", a.etag}, 304, ""},
		{"GET", "", []string{"If-None-Match", `W/` + a.etag}, 304, ""},
		{"GET", "", []string{"If-None-Match", `"other", ` + a.etag}, 304, ""},
		{"GET", "", []string{"If-None-Match", `"other"`}, 200, serveV1},
		{"GET", "other.json", nil, 404, "404 page not found\n"},
		{"POST", "", nil, 405, "source: method not allowed\n"},
	}
	for _, tt := range tests {
		got := get(t, tt.method, url+tt.path, tt.header...)
		if got.status != tt.status || got.body != tt.body {
			t.Errorf("%s /%s %v = %d %q; want %d %q", tt.method, tt.path, tt.header, got.status, got.body, tt.status, tt.body)
		}
	}
}

func TestServeReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "map.json")
	writeMap(t, path, serveV1, nil)
	url, log := startServe(t, path, "--poll", "10ms")
	first := get(t, "GET", url)

	// A new version replaces the file: served soon after, with a new ETag.
	writeMap(t, path, serveV2, nil)
	eventually(t, "v2 served", func() bool { return get(t, "GET", url).body == serveV2 })
	a := get(t, "GET", url, "If-None-Match", first.etag)
	if a.status != 200 || a.body != serveV2 || a.etag == first.etag {
		t.Fatalf("after a new version: %d %q ETag %s; want 200, v2 and a new ETag", a.status, a.body, a.etag)
	}
	eventually(t, "the log says v2 is served", func() bool { return strings.Contains(log.String(), "serve: now serving v2\n") })

	// Refused: a lower version, garbage, the file going away. v2 stays,
	// each refusal logged once.
	for i, doc := range []string{serveV1, "garbage", ""} {
		if doc == "" {
			os.Remove(path)
		} else {
			writeMap(t, path, doc, nil)
		}
		eventually(t, fmt.Sprintf("refusal %d logged", i+1), func() bool { return strings.Count(log.String(), "serve: keeping v2: ") == i+1 })
		if got := get(t, "GET", url); got.body != serveV2 || got.etag != a.etag {
			t.Fatalf("after writing %q: served %q ETag %s; want v2 and its ETag", doc, got.body, got.etag)
		}
	}
	for _, want := range []string{"does not increase", "malformed JSON", "no such file"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log = %q; want it to mention %q", log.String(), want)
		}
	}
}

// TestServeIdleTimeout: an idle keep-alive connection is closed after
// --idle-timeout. Before, the server had no IdleTimeout and kept every
// idle connection forever.
func TestServeIdleTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "map.json")
	writeMap(t, path, serveV1, nil)
	url, _ := startServe(t, path, "--idle-timeout", "200ms")
	conn, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("status %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read gave %v after %v; want EOF (closed by the server)", err, time.Since(start))
	}
}

// TestServeNoReparse: after the map changes, a request costs no read and
// no parse of the document: the bytes and ETag are computed once per map.
// Before, every request within 2 s of a change read and parsed the file
// again (HEADs of seconds with a 24 MiB map). It measures the bytes
// allocated by the process per request, a fraction of the document's size.
func TestServeNoReparse(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"version": 2, "cells": [{"id": "c1"}, {"id": "c2"}], "overrides": {`)
	for i := range 60000 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"tenant-%d": "c%d"`, i, 1+i%2)
	}
	b.WriteString("}}\n")
	big := b.String()
	path := filepath.Join(t.TempDir(), "map.json")
	writeMap(t, path, serveV1, nil)
	url, _ := startServe(t, path)
	writeMap(t, path, big, nil) // the change
	eventually(t, "v2 served", func() bool { return len(get(t, "GET", url).body) == len(big) })

	const n = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		if a := get(t, "HEAD", url); a.status != 200 {
			t.Fatalf("HEAD: %d", a.status)
		}
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / n
	if limit := uint64(len(big) / 8); per > limit {
		t.Errorf("a HEAD after a change allocated %d bytes; want at most %d (the document is %d bytes): it reads or parses the map", per, limit, len(big))
	}
}
