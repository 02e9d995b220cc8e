package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
)

// A user's unit test: fail one cell of nine and assert the blast radius,
// only the tenants homed on it, about 1/9 of them.
func TestOneCellFailureStaysInItsCell(t *testing.T) {
	f := celltest.NewFleet(t, celltest.Config{Cells: 9, Zones: 3})
	bad := f.Cells()[4]
	bad.Fail()

	failed := 0
	for _, key := range f.Keys(1000) {
		err := f.Client().Do(context.Background(), key, cell.Write, f.Call)
		if err == nil {
			continue
		}
		failed++
		if a, _ := f.Map().Locate(key); a.Cell != bad.ID() {
			t.Errorf("Do(%q) = %v; want success: its home %s is healthy", key, err, a.Cell)
		}
		// The first calls reach the cell and fail; once its breaker is
		// open, calls fail fast without reaching it.
		if !errors.Is(err, celltest.ErrFault) && !errors.Is(err, cell.ErrCellUnavailable) {
			t.Errorf("Do(%q) = %v; want an injected fault or an open breaker", key, err)
		}
	}
	if failed < 1000/9-40 || failed > 1000/9+40 {
		t.Errorf("%d of 1000 tenants failed; want about 1000/9", failed)
	}
	if got := f.Client().Breakers().State(bad.ID()); got != breaker.Open {
		t.Errorf("breaker of %s is %v; want open", bad.ID(), got)
	}
	if n := bad.Requests(); n > 10 {
		t.Errorf("%d requests reached %s; want a handful before its breaker opened", n, bad.ID())
	}
}

// The same failure for a stateless service on shuffle shards of 2: every
// tenant of the failed cell fails over to the other cell of its shard.
func TestStatelessFailsOverWithinTheShard(t *testing.T) {
	f := celltest.NewFleet(t, celltest.Config{Cells: 9, Zones: 3, ShardSize: 2, Stateless: true})
	bad := f.Cells()[4]
	bad.Fail()

	for _, key := range f.Keys(1000) {
		var served string
		err := f.Client().Do(context.Background(), key, cell.Stateless, func(ctx context.Context, r cell.Route) error {
			served = r.Cell
			return f.Call(ctx, r)
		})
		if err != nil {
			t.Fatalf("Do(%q) = %v; want a failover to the rest of its shard", key, err)
		}
		if served == bad.ID() {
			t.Fatalf("Do(%q) succeeded at the failed cell %s", key, bad.ID())
		}
	}
	if s := f.Client().Stats(); s.BudgetRefused != 0 {
		t.Errorf("the retry budget refused %d failovers; want 0", s.BudgetRefused)
	}
}

// The same assertions over HTTP: the fleet's cells are loopback servers
// behind cell.Guard, and the client's Transport routes by the key header.
func TestHTTPFailure(t *testing.T) {
	f := celltest.NewFleet(t, celltest.Config{Cells: 9, Zones: 3})
	bad := f.Cells()[4]
	bad.Fail()
	hc := f.HTTPClient()

	failed := 0
	for _, key := range f.Keys(300) {
		req, _ := http.NewRequest(http.MethodGet, "http://service/orders", nil)
		req.Header.Set(celltest.KeyHeader, key)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode == http.StatusOK {
			continue
		}
		failed++
		if a, _ := f.Map().Locate(key); a.Cell != bad.ID() {
			t.Errorf("GET for %q failed (%v) though its home %s is healthy", key, err, a.Cell)
		}
	}
	if failed == 0 {
		t.Error("no request failed; want those of the failed cell's tenants")
	}
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	lines := regexp.MustCompile(`(?m)^shard size (\d), (\w+) calls, (\w+) failing: (\d+) of 1000 tenants get errors$`).
		FindAllStringSubmatch(out.String(), -1)
	if len(lines) != 2 {
		t.Fatalf("run wrote\n%s\nwant two lines of blast radius", out.String())
	}
	if n, _ := strconv.Atoi(lines[0][4]); lines[0][1] != "1" || n < 1000/9-40 || n > 1000/9+40 {
		t.Errorf("shard size %s: %d tenants get errors; want shard size 1, about 1000/9", lines[0][1], n)
	}
	if lines[1][1] != "2" || lines[1][2] != "stateless" || lines[1][4] != "0" {
		t.Errorf("second line %q; want shard size 2, stateless, 0 tenants", lines[1][0])
	}
}
