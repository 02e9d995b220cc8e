package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startEtcd starts a one-member etcd on loopback, in dir, and returns its
// client endpoint (host:port) and its stop.
func startEtcd(dir string) (string, func(), error) {
	cfg := embed.NewConfig()
	cfg.Name = "cellctl-test"
	cfg.Dir = dir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	lo := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{lo}, []url.URL{lo}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{lo}, []url.URL{lo}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return "", nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return "", nil, fmt.Errorf("etcd did not start within 60s")
	}
	return e.Clients[0].Addr().String(), e.Close, nil
}

// cmdEtcd is the scripts' "etcd VAR": start an etcd for the rest of the
// script and set VAR to its endpoint.
func cmdEtcd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: etcd VAR")
	}
	ep, stop, err := startEtcd(ts.MkAbs("etcd-data"))
	ts.Check(err)
	ts.Defer(stop)
	ts.Setenv(args[0], ep)
}

// TestPublishRaceEtcd runs publishers of the same version at once against
// one etcd prefix, each from the version it read: exactly one wins, and
// every other is refused with both versions named, whether it read the
// version before the winner's write (a lost compare-and-swap) or after it
// (a version that does not increase).
func TestPublishRaceEtcd(t *testing.T) {
	dir := t.TempDir()
	ep, stop, err := startEtcd(filepath.Join(dir, "etcd"))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	target := "etcd:" + ep + "/race/"
	v1 := filepath.Join(dir, "v1.json")
	os.WriteFile(v1, []byte(`{"version": 1, "cells": [{"id": "c1"}]}`), 0o644)
	runOK(t, "publish", "--to", target, v1)

	const n = 6
	docs := make([]string, n)
	for i := range docs {
		docs[i] = filepath.Join(dir, fmt.Sprintf("v2-%d.json", i))
		os.WriteFile(docs[i], []byte(fmt.Sprintf(`{"version": 2, "cells": [{"id": "c1"}, {"id": "p%d"}]}`, i)), 0o644)
	}
	codes := make([]int, n)
	errs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var out, errOut bytes.Buffer
			codes[i] = run(context.Background(), []string{"publish", "--to", target, docs[i]}, &out, &errOut)
			errs[i] = errOut.String()
		})
	}
	wg.Wait()
	winner := -1
	for i, c := range codes {
		lost := strings.Contains(errs[i], "lost the race: "+target+" holds v2, not v1 as expected; v2 not published")
		stale := strings.Contains(errs[i], "version 2 does not increase on v2")
		switch {
		case c == exitOK && winner < 0:
			winner = i
		case c == exitOK:
			t.Fatalf("publishers %d and %d both won", winner, i)
		case c != exitRefused || !(lost || stale):
			t.Errorf("publisher %d: exit %d, %q; want exit 1 naming v1 and v2", i, c, errs[i])
		}
	}
	if winner < 0 {
		t.Fatalf("no publisher won: %q", errs)
	}
	got := runOK(t, "get", "--from", target)
	want, _ := os.ReadFile(docs[winner])
	if got != string(want) {
		t.Errorf("get after the race = %s; want the winner's %s", got, want)
	}
}
