package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// TestServe runs two cells against a control plane (a source.Handler),
// waits for both to confirm each version, and checks that each serves the
// tenants the map gives it and sends the others to their owner.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var current atomic.Pointer[placement.Map]
	cp := httptest.NewServer(source.NewHandler(source.HolderFunc(current.Load)))
	defer cp.Close()

	urls := map[string]string{}
	done := make(chan error, 2)
	for _, id := range []string{"c1", "c2"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		urls[id] = "http://" + ln.Addr().String()
		go func() { done <- serve(ctx, ln, id, cp.URL, t.TempDir()+"/map.json", 20*time.Millisecond) }()
	}
	publish := func(version int, owner string) *placement.Map {
		m, err := placement.Parse(fmt.Appendf(nil, `{"version": %d, "overrides": {"acme": %q}, "cells": [
			{"id": "c1", "endpoints": [{"url": %q}]}, {"id": "c2", "endpoints": [{"url": %q}]}]}`, version, owner, urls["c1"], urls["c2"]))
		if err != nil {
			t.Fatal(err)
		}
		current.Store(m)
		confirmer, err := source.NewHTTPConfirmer(source.Fixed(m), source.HTTPConfirmerConfig{Interval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := confirmer.AwaitConfirmed(ctx, m.Version(), nil); err != nil {
			t.Fatalf("version %d: %v", version, err)
		}
		return m
	}
	get := func(cell, tenant string) string {
		resp, err := http.Get(urls[cell] + "/tenants/" + tenant + "/orders")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}

	publish(1, "c1")
	if got := get("c1", "acme"); got != "200 c1 serves /tenants/acme/orders" {
		t.Errorf("acme at c1 on version 1: %q", got)
	}
	if got := get("c2", "acme"); !strings.HasPrefix(got, "421 ") {
		t.Errorf("acme at c2 on version 1: %q; want 421", got)
	}
	// The next phase, published once every cell confirmed the previous one.
	publish(2, "c2")
	if got := get("c2", "acme"); got != "200 c2 serves /tenants/acme/orders" {
		t.Errorf("acme at c2 on version 2: %q", got)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}
