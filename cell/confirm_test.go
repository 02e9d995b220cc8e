package cell_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// confirmCell is one cell of TestConfirmHTTP: a Follower fed by the test, a
// Guard whose service blocks the writes of the key "slow" until released,
// and the ConfirmHandler beside the Guard.
type confirmCell struct {
	id      string
	src     pushSource
	f       *source.Follower
	srv     *httptest.Server
	hit     chan struct{} // a request to the ConfirmHandler was answered
	entered chan struct{} // a slow request is in the service
	release chan struct{}
}

func newConfirmCell(t *testing.T, id string) *confirmCell {
	t.Helper()
	c := &confirmCell{id: id, src: pushSource{make(chan *placement.Map)}, entered: make(chan struct{}, 1), release: make(chan struct{}),
		hit: make(chan struct{}, 64)}
	var err error
	c.f, err = source.NewFollower(source.FollowerConfig{Source: c.src, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.f.Run(ctx)
	guard, err := cell.NewGuard(cell.GuardConfig{Cell: id, Map: c.f, Key: cell.KeyFromPath(1),
		Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.PathValue("key") == "slow" {
				c.entered <- struct{}{}
				<-c.release
			}
			fmt.Fprint(w, id)
		})})
	if err != nil {
		t.Fatal(err)
	}
	confirm := source.ConfirmHandler(id, c.f)
	mux := http.NewServeMux()
	mux.Handle("/keys/{key}", guard)
	mux.Handle(source.ConfirmedPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		confirm.ServeHTTP(w, r)
		select {
		case c.hit <- struct{}{}:
		default:
		}
	}))
	c.srv = httptest.NewServer(mux)
	t.Cleanup(c.srv.Close)
	return c
}

// TestConfirmHTTP is the HTTP path of confirmations end to end: a write
// judged on version 1 keeps its cell from confirming version 2 while it
// runs, so a control plane waiting for version 2 times out naming that
// cell only; once the write ends, the wait succeeds.
func TestConfirmHTTP(t *testing.T) {
	c1, c2 := newConfirmCell(t, "c1"), newConfirmCell(t, "c2")
	doc := func(v int) *placement.Map {
		m, err := placement.Parse(fmt.Appendf(nil, `{"version": %d, "overrides": {"slow": "c1"}, "cells": [
			{"id": "c1", "endpoints": [{"url": %q}]}, {"id": "c2", "endpoints": [{"url": %q}]}]}`, v, c1.srv.URL, c2.srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	push := func(m *placement.Map) {
		for _, c := range []*confirmCell{c1, c2} {
			c.src.ch <- m
			if _, err := c.f.Await(t.Context(), m.Version()); err != nil {
				t.Fatal(err)
			}
		}
	}
	v1, v2 := doc(1), doc(2)
	push(v1)

	done := make(chan error, 1)
	go func() {
		resp, err := http.Post(c1.srv.URL+"/keys/slow", "text/plain", nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("write of the slow key: %s", resp.Status)
			}
		}
		done <- err
	}()
	<-c1.entered // judged on version 1, and running
	push(v2)

	confirmer, err := source.NewHTTPConfirmer(source.Fixed(v2), source.HTTPConfirmerConfig{Interval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// The wait goes on, round after round, while the write runs: give up
	// after c1 has been asked three times.
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- confirmer.AwaitConfirmed(ctx, 2, nil) }()
	for range 3 {
		select {
		case err := <-errc:
			t.Fatalf("AwaitConfirmed returned %v while a write judged on version 1 runs", err)
		case <-c1.hit:
		}
	}
	cancel()
	err = <-errc
	var nc *source.NotConfirmedError
	if !errors.As(err, &nc) || !errors.Is(err, source.ErrNotConfirmed) || !errors.Is(err, context.Canceled) ||
		!slices.Equal(nc.Cells, []string{"c1"}) || nc.Version != 2 || nc.Causes["c1"] == nil {
		t.Fatalf("AwaitConfirmed with a write on version 1 running = %v; want a NotConfirmedError naming c1 only", err)
	}
	if c1.f.Confirmed() != 1 || c2.f.Confirmed() != 2 {
		t.Fatalf("Confirmed(): c1 %d, c2 %d; want 1 and 2", c1.f.Confirmed(), c2.f.Confirmed())
	}

	close(c1.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := confirmer.AwaitConfirmed(t.Context(), 2, []string{"c1", "c2"}); err != nil {
		t.Fatalf("AwaitConfirmed after the write ended = %v", err)
	}
}
