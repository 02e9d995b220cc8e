package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// runOK runs a cellctl command line and fails the test unless it succeeds.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), args, &out, &errOut); code != exitOK {
		t.Fatalf("cellctl %q = exit %d: %s", args, code, errOut.String())
	}
	return out.String()
}

// TestPublishFollowedByFileSource checks that what publish writes to a file
// target is what the library's file source follows: each version, signed,
// in order.
func TestPublishFollowedByFileSource(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "cp")
	runOK(t, "keygen", "-o", key)
	pub, err := readPublicKey(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "live.json")
	src, err := source.NewFile(live, source.FileConfig{Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	src.SetParse(placement.Options{PublicKeys: []ed25519.PublicKey{pub}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for v := 1; v <= 3; v++ {
		doc := filepath.Join(dir, "v.json")
		os.WriteFile(doc, []byte(fmt.Sprintf(`{"version": %d, "cells": [{"id": "c1"}]}`, v)), 0o644)
		runOK(t, "sign", "--key", key+".key", doc)
		runOK(t, "publish", "--to", "file:"+live, doc)
		m, err := src.Next(ctx)
		for err != nil && ctx.Err() == nil {
			m, err = src.Next(ctx) // a report, such as a file caught mid-replace
		}
		if err != nil || m.Version() != uint64(v) || m.Signature() == nil {
			t.Fatalf("file source after publishing v%d: %v, %v; want v%d, signed", v, m, err, v)
		}
	}
}

// TestServeFollowedByHTTPSource checks that the HTTP source follows serve:
// it gets the map with its signature, and an unchanged map costs a 304.
func TestServeFollowedByHTTPSource(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	opt := placement.Options{PublicKeys: []ed25519.PublicKey{pub}}
	dir := t.TempDir()
	path := filepath.Join(dir, "map.json")
	writeMap(t, path, serveV1, placement.Sign(priv, []byte(serveV1)))
	keyFile := filepath.Join(dir, "cp.pub")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(pub)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	serveURL, _ := startServe(t, path, "--poll", "10ms", "--public-key", keyFile)
	target, err := url.Parse(serveURL)
	if err != nil {
		t.Fatal(err)
	}
	// A proxy in front of serve counts its 304s.
	var notModified atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.StatusCode == http.StatusNotModified {
			notModified.Add(1)
		}
		return nil
	}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	src, err := source.NewHTTP(srv.URL, source.HTTPConfig{Interval: time.Millisecond, MinInterval: -1, Jitter: -1})
	if err != nil {
		t.Fatal(err)
	}
	src.SetParse(opt, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := src.Next(ctx)
	if err != nil || m.Version() != 1 || m.Signature() == nil {
		t.Fatalf("first Next = %v, %v; want v1, signed", m, err)
	}
	// Next polls; an unchanged map is answered 304 until v2 is saved.
	type result struct {
		m   *placement.Map
		err error
	}
	next := make(chan result, 1)
	go func() {
		m, err := src.Next(ctx)
		next <- result{m, err}
	}()
	for notModified.Load() < 2 {
		if ctx.Err() != nil {
			t.Fatal("no 304 for an unchanged map")
		}
		time.Sleep(time.Millisecond)
	}
	if err := saveDoc(path, []byte(serveV2), [][]byte{placement.Sign(priv, []byte(serveV2))}); err != nil {
		t.Fatal(err)
	}
	if r := <-next; r.err != nil || r.m.Version() != 2 {
		t.Fatalf("Next after saving v2 = %v, %v; want v2", r.m, r.err)
	}
}
