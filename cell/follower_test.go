package cell_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// pushSource delivers the maps a test pushes.
type pushSource struct{ ch chan *placement.Map }

func (s pushSource) Next(ctx context.Context) (*placement.Map, error) {
	select {
	case m := <-s.ch:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s pushSource) Refresh() {}

func docMap(t testing.TB, version int, cells ...string) *placement.Map {
	t.Helper()
	var parts string
	for i, c := range cells {
		if i > 0 {
			parts += ", "
		}
		parts += fmt.Sprintf(`{"id": %q, "endpoints": [{"url": "http://%s.internal"}]}`, c, c)
	}
	m, err := placement.Parse(fmt.Appendf(nil, `{"version": %d, "cells": [%s]}`, version, parts))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestClientsShareFollower runs two clients on one Follower: each swaps in
// every map (routing table and breakers) before the Follower's Map returns
// it, a client made once the Follower has a map is ready at once, a moved
// reply's wait goes through the shared Follower, and a closed client keeps
// its map and hears of no later one.
func TestClientsShareFollower(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := pushSource{make(chan *placement.Map)}
		var mu sync.Mutex
		var updates []source.Update
		f, err := source.NewFollower(source.FollowerConfig{Source: src, Logger: slog.New(slog.DiscardHandler),
			OnUpdate: func(u source.Update) { mu.Lock(); updates = append(updates, u); mu.Unlock() }})
		if err != nil {
			t.Fatal(err)
		}
		quiet := slog.New(slog.DiscardHandler)
		a, err := cell.NewClient(cell.Config{Follower: f, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		// Each client's routing table is in place before the map goes live.
		f.OnSwap(func(m *placement.Map) {
			if got := a.Map(); got != m {
				t.Errorf("client a routes on %v when version %d is about to go live", got, m.Version())
			}
		})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go f.Run(ctx)
		go a.Run(ctx) // optional with a shared Follower: it only waits
		synctest.Wait()
		if _, err := a.Resolve(ctx, "k"); !errors.Is(err, cell.ErrNotReady) {
			t.Fatalf("Resolve before a map = %v; want ErrNotReady", err)
		}
		src.ch <- docMap(t, 1, "c1", "c2")
		synctest.Wait()

		b, err := cell.NewClient(cell.Config{Follower: f, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-b.Ready():
		default:
			t.Fatal("a client made on a Follower with a map is not ready")
		}
		for name, c := range map[string]*cell.Client{"a": a, "b": b} {
			if r, err := c.Resolve(ctx, "k"); err != nil || r.Version != 1 || r.Endpoint == "" {
				t.Fatalf("client %s: Resolve = %+v, %v; want a route on version 1", name, r, err)
			}
		}

		// A moved reply from a cell on version 2 makes b wait for it
		// through the Follower, which a's traffic then shares.
		done := make(chan error, 1)
		go func() {
			calls := 0
			done <- b.Do(ctx, "k", cell.Write, func(_ context.Context, r cell.Route) error {
				calls++
				if calls == 1 {
					return &cell.MovedError{Cell: "c3", Version: 2}
				}
				if r.Cell != "c3" || r.Version != 2 {
					return fmt.Errorf("redirected to %s on version %d; want c3 on 2", r.Cell, r.Version)
				}
				return nil
			})
		}()
		synctest.Wait()
		src.ch <- docMap(t, 2, "c3")
		if err := <-done; err != nil {
			t.Fatalf("Do after a moved reply: %v", err)
		}
		if !a.Breakers().Available("c3") {
			t.Error("client a has no breaker for c3 once version 2 is in force")
		}

		b.Close()
		src.ch <- docMap(t, 3, "c1")
		synctest.Wait()
		if a.Map().Version() != 3 || b.Map().Version() != 2 {
			t.Errorf("after b.Close: a on %d, b on %d; want 3 and 2", a.Map().Version(), b.Map().Version())
		}
		if st := a.Stats(); st.Updates != 3 || st.Version != 3 || st.MapOrigin != source.OriginSource {
			t.Errorf("a.Stats() = %+v; want the Follower's 3 updates", st)
		}
		mu.Lock()
		if len(updates) != 3 {
			t.Errorf("the Follower reported %d updates; want 3", len(updates))
		}
		mu.Unlock()
	})
}

// TestClientFollowerConfig: a Follower comes with its own source, file and
// options; setting them on the client too is refused, not ignored.
func TestClientFollowerConfig(t *testing.T) {
	f, err := source.NewFollower(source.FollowerConfig{Source: source.NewStatic(nil)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, field string
		cfg         cell.Config
	}{
		{"source too", "Source", cell.Config{Follower: f, Source: source.NewStatic(nil)}},
		{"last good too", "LastGood", cell.Config{Follower: f, LastGood: "map.json"}},
		{"keys too", "Options", cell.Config{Follower: f, Options: placement.Options{PublicKeys: []ed25519.PublicKey{make([]byte, 32)}}}},
	} {
		var ce *cell.ConfigError
		if _, err := cell.NewClient(tc.cfg); !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: NewClient = %v; want a ConfigError for %s", tc.name, err, tc.field)
		}
	}
}
