package cell_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

func TestNewClientConfig(t *testing.T) {
	src := source.NewStatic(nil)
	tests := []struct {
		name  string
		cfg   cell.Config
		field string
	}{
		{"no source", cell.Config{}, "Source"},
		{"NaN ratio", cell.Config{Source: src, Budget: cell.Budget{Ratio: math.NaN()}}, "Budget.Ratio"},
		{"infinite rate", cell.Config{Source: src, Budget: cell.Budget{PerSecond: math.Inf(1)}}, "Budget.PerSecond"},
		{"negative TTL", cell.Config{Source: src, Budget: cell.Budget{TTL: -time.Second}}, "Budget.TTL"},
		{"tiny TTL", cell.Config{Source: src, Budget: cell.Budget{TTL: time.Millisecond}}, "Budget.TTL"},
		{"negative bulkhead", cell.Config{Source: src, MaxInFlight: -1}, "MaxInFlight"},
		{"negative hedge delay", cell.Config{Source: src, Hedge: cell.Hedge{Delay: -1}}, "Hedge.Delay"},
		{"negative hedges", cell.Config{Source: src, Hedge: cell.Hedge{Delay: time.Millisecond, Max: -1}}, "Hedge.Max"},
		{"negative refresh timeout", cell.Config{Source: src, RefreshTimeout: -1}, "RefreshTimeout"},
		{"bad breakers", cell.Config{Source: src, Breakers: breaker.Config{FailureRatio: 2}}, "Breakers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := cell.NewClient(tt.cfg)
			var ce *cell.ConfigError
			if c != nil || !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, cell.ErrConfig) {
				t.Fatalf("NewClient(%s) = %v, %v; want a ConfigError for %s", tt.name, c, err, tt.field)
			}
			if !strings.HasPrefix(err.Error(), "cell: invalid config: "+tt.field) {
				t.Fatalf("error %q does not name %s", err, tt.field)
			}
		})
	}
	// Negative means none, where zero means the default.
	for _, cfg := range []cell.Config{
		{Source: src, Hops: -1, Budget: cell.Budget{Ratio: -1, PerSecond: -1}, AttemptTimeout: -1},
		{Source: src, Hedge: cell.Hedge{Delay: time.Millisecond}, MaxInFlight: 3, AttemptTimeout: time.Second},
	} {
		if _, err := cell.NewClient(cfg); err != nil {
			t.Fatalf("NewClient(%+v) = %v", cfg, err)
		}
	}
}

// blockingSource never delivers a map.
type blockingSource struct{}

func (blockingSource) Next(ctx context.Context) (*placement.Map, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestNotReady(t *testing.T) {
	c, err := cell.NewClient(cell.Config{Source: blockingSource{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(context.Background(), "k"); !errors.Is(err, cell.ErrNotReady) {
		t.Fatalf("Resolve before Run = %v; want ErrNotReady", err)
	}
	called := false
	if err := c.Do(context.Background(), "k", cell.Read, func(context.Context, cell.Route) error { called = true; return nil }); !errors.Is(err, cell.ErrNotReady) || called {
		t.Fatalf("Do before Run = %v (fn called %v); want ErrNotReady", err, called)
	}
	if c.Map() != nil {
		t.Fatal("Map() before the first map is not nil")
	}
	select {
	case <-c.Ready():
		t.Fatal("Ready closed before the first map")
	default:
	}
	if s := c.Stats(); s.Ready || s.Version != 0 || len(s.Cells) != 0 {
		t.Fatalf("Stats before the first map: %+v", s)
	}
}

func TestRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := cell.NewClient(cell.Config{Source: blockingSource{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- c.Run(ctx) }()
		synctest.Wait()
		if err := c.Run(ctx); !errors.Is(err, cell.ErrRunning) {
			t.Fatalf("second Run = %v; want ErrRunning", err)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run after cancel = %v; want context.Canceled", err)
		}
		if err := c.Run(context.Background()); !errors.Is(err, cell.ErrRunning) {
			t.Fatalf("Run after the first returned = %v; want ErrRunning", err)
		}
	})
}

// mapOf parses a document with a version and cells given as
// "id/zone/state/url[@zone]+url...".
func mapOf(t testing.TB, version int, extra string, cells ...string) *placement.Map {
	t.Helper()
	var parts []string
	for _, c := range cells {
		f := strings.Split(c, "/")
		var eps []string
		if len(f) > 3 && f[3] != "" {
			for _, u := range strings.Split(strings.Join(f[3:], "/"), "+") {
				url, zone, _ := strings.Cut(u, "@")
				eps = append(eps, fmt.Sprintf(`{"url": %q, "zone": %q}`, url, zone))
			}
		}
		parts = append(parts, fmt.Sprintf(`{"id": %q, "zone": %q, "state": %q, "endpoints": [%s]}`,
			f[0], f[1], f[2], strings.Join(eps, ",")))
	}
	doc := fmt.Sprintf(`{"version": %d, "seed": "9"%s, "cells": [%s]}`, version, extra, strings.Join(parts, ","))
	m, err := placement.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return m
}

func TestResolve(t *testing.T) {
	m := mapOf(t, 1, `, "overrides": {"pinned": "off"}`,
		"a/z1/active/http://a1@z1+http://a2@z1+http://a3@z2",
		"b/z2/active/http://b1+http://b2@z1",
		"c/z1/active/",
		"off/z1/disabled/http://off1")
	c := runClient(t, m, cell.Config{Zone: "z1"})
	ctx := context.Background()

	if _, err := c.Resolve(ctx, ""); !errors.Is(err, cell.ErrNoKey) {
		t.Fatalf("Resolve(%q) = %v; want ErrNoKey", "", err)
	}
	r, err := c.Resolve(ctx, "pinned")
	var ce *placement.CellError
	if !errors.Is(err, placement.ErrCellDisabled) || !errors.As(err, &ce) || r.Cell != "off" || r.Reason != placement.ReasonOverride {
		t.Fatalf("Resolve(%q) = %+v, %v; want the disabled home filled in and ErrCellDisabled", "pinned", r, err)
	}

	// Same-zone endpoints first, spread over by key, stable per key; an
	// endpoint without a zone is in its cell's; a cell without endpoints
	// has none.
	counts := map[string]int{}
	for i := range 30000 {
		key := fmt.Sprint("k", i)
		r, err := c.Resolve(ctx, key)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", key, err)
		}
		if again, _ := c.Resolve(ctx, key); again.Endpoint != r.Endpoint {
			t.Fatalf("Resolve(%q) endpoint %q then %q; want it stable", key, r.Endpoint, again.Endpoint)
		}
		if r.Version != 1 || r.Key != key || r.Shard != nil || r.Attempt != 0 {
			t.Fatalf("Resolve(%q) = %+v", key, r)
		}
		counts[r.Cell+" "+r.Endpoint]++
	}
	for ep, n := range counts {
		switch ep {
		case "a http://a1", "a http://a2":
			if a := counts["a http://a1"] + counts["a http://a2"]; math.Abs(float64(n)/float64(a)-0.5) > 0.03 {
				t.Fatalf("endpoint %s got %d of cell a's %d keys; want half ± 3%%", ep, n, a)
			}
		case "b http://b2", "c ":
		default:
			t.Fatalf("%d keys resolved to %q; want only a1, a2 (same zone), b2 (same zone), c (none)", n, ep)
		}
	}
}

func TestResolveShard(t *testing.T) {
	m := mapOf(t, 1, `, "shardSize": 3`, "a/z1/active/http://a", "b/z2/active/http://b", "c/z3/active/http://c", "d/z1/active/http://d")
	c := runClient(t, m, cell.Config{})
	ctx := context.Background()
	for i := range 200 {
		key := fmt.Sprint("k", i)
		r, err := c.Resolve(ctx, key)
		a, _ := m.Locate(key)
		if err != nil || r.Cell != a.Cell || fmt.Sprint(r.Shard) != fmt.Sprint(a.Shard) {
			t.Fatalf("Resolve(%q) = %+v, %v; want %+v", key, r, err, a)
		}
		var buf [8]string
		r2, err := c.AppendResolve(ctx, buf[:0], key)
		if err != nil || fmt.Sprint(r2.Shard) != fmt.Sprint(a.Shard) {
			t.Fatalf("AppendResolve(%q) = %+v, %v; want shard %v", key, r2, err, a.Shard)
		}
	}
}

func TestAllocs(t *testing.T) {
	m := benchMap(t, 100, 1, "http://127.0.0.1:1")
	c := runClient(t, m, cell.Config{Zone: "z1"})
	ctx := context.Background()
	dctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	keys := benchKeys(64)
	i := 0
	tests := []struct {
		name string
		fn   func()
	}{
		{"Resolve", func() { c.Resolve(ctx, keys[i%64]) }},
		{"Do/Write", func() { c.Do(ctx, keys[i%64], cell.Write, nop) }},
		{"Do/Read", func() { c.Do(ctx, keys[i%64], cell.Read, nop) }},
		{"Do/Stateless", func() { c.Do(ctx, keys[i%64], cell.Stateless, nop) }},
		{"Do/Write/deadline", func() { c.Do(dctx, keys[i%64], cell.Write, nop) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(1000, func() { tt.fn(); i++ }); n != 0 {
			t.Errorf("%s: %v allocations per call; want 0", tt.name, n)
		}
	}
}

// Observer hooks hear attempts and failovers with the cell IDs.
func TestObserverAndStats(t *testing.T) {
	ev := newEvents()
	f := celltest.NewFleet(t, celltest.Config{Cells: 4, ShardSize: 2, Stateless: true,
		Client: cell.Config{Observer: ev.observer()}})
	c := f.Client()
	key := "k1"
	r, _ := c.Resolve(context.Background(), key)
	first, second := r.Shard[0], r.Shard[1]
	f.Cell(first).Fail()
	if err := c.Do(context.Background(), key, cell.Stateless, f.Call); err != nil {
		t.Fatal(err)
	}
	if len(ev.attempts) != 2 || ev.attempts[0].Cell != first || ev.attempts[0].Outcome != breaker.Failure ||
		ev.attempts[1].Cell != second || ev.attempts[1].Outcome != breaker.Success || ev.attempts[1].Attempt != 1 {
		t.Fatalf("attempts observed: %+v", ev.attempts)
	}
	if len(ev.failovers) != 1 || ev.failovers[0] != (cell.FailoverInfo{Key: key, Class: cell.Stateless, From: first, To: second, Attempt: 1}) {
		t.Fatalf("failovers observed: %+v", ev.failovers)
	}
	st := c.Stats()
	for _, cs := range st.Cells {
		want := cell.CellStats{Cell: cs.Cell, Zone: cs.Zone, State: cs.State, Labels: cs.Labels,
			Breaker: breaker.Closed, Available: true, Healthy: true, Success: cs.Success, Failure: cs.Failure}
		var judged, failed uint64
		switch cs.Cell {
		case first:
			want.Attempts, want.Failures = 1, 1
			judged, failed = 1, 1
		case second:
			want.Attempts = 1
			judged = 1
		}
		if !reflect.DeepEqual(cs, want) || cs.Judged() != judged || cs.Failure.Count() != failed {
			t.Fatalf("Stats of %s = %+v; want %+v", cs.Cell, cs, want)
		}
	}
	if st.Retries != 1 || st.BudgetTokens <= 0 || st.Version != 1 || !st.Ready || st.MapOrigin != "source" {
		t.Fatalf("Stats = %+v", st)
	}
}
