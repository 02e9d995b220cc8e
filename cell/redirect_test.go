package cell_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
	"github.com/cellkit/cellkit/placement"
)

// The paths of a moved reply that TestMoved leaves out: what the newer map
// says decides the redirect for each class. Each case holds a client on v1,
// publishes v2, and has the key's v1 owner answer "moved" with v2.

type redirectCase struct {
	f      *celltest.Fleet
	c      *cell.Client
	key    string
	from   string // the key's home in v1
	mu     sync.Mutex
	called []string
}

func newRedirectCase(t *testing.T, cfg celltest.Config, v2 func(rc *redirectCase, b *placement.Builder) error) *redirectCase {
	t.Helper()
	cfg.InMemory = true
	rc := &redirectCase{f: celltest.NewFleet(t, cfg)}
	rc.key = rc.f.Keys(1)[0]
	a, err := rc.f.Map().Locate(rc.key)
	if err != nil {
		t.Fatal(err)
	}
	rc.from = a.Cell
	src := rc.f.Source()
	src.Hold(true)
	rc.c = newClient(t, rc.f, cell.Config{Source: src, Breakers: breaker.Config{ConsecutiveFailures: 100, MinRequests: 100}})
	if _, err := rc.f.Publish(func(b *placement.Builder) error { return v2(rc, b) }); err != nil {
		t.Fatal(err)
	}
	return rc
}

// other returns a cell of the fleet that is not the key's v1 home.
func (rc *redirectCase) other(skip int) string {
	for _, c := range rc.f.Cells() {
		if c.ID() != rc.from {
			if skip == 0 {
				return c.ID()
			}
			skip--
		}
	}
	return ""
}

// do calls Do; the v1 home answers "moved to" the cell v2 names (or to the
// given cell), every other cell succeeds.
func (rc *redirectCase) do(class cell.Class, to string) error {
	return rc.c.Do(context.Background(), rc.key, class, func(ctx context.Context, r cell.Route) error {
		rc.mu.Lock()
		rc.called = append(rc.called, r.Cell)
		rc.mu.Unlock()
		if r.Cell == rc.from {
			return &cell.MovedError{Cell: to, Version: 2}
		}
		return nil
	})
}

func TestRedirectWriteFrozen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var to string
		rc := newRedirectCase(t, celltest.Config{Cells: 3, Explicit: true}, func(rc *redirectCase, b *placement.Builder) error {
			to = rc.other(0)
			if err := b.MigrateKey(rc.key, to); err != nil {
				return err
			}
			return b.Advance(placement.Migration{Key: rc.key})
		})
		if a, _ := rc.f.Map().Locate(rc.key); a.Writable {
			t.Fatal("the key is writable in v2; want frozen")
		}
		err := rc.do(cell.Write, to)
		var re *cell.RefusedError
		if !errors.As(err, &re) || !errors.Is(err, cell.ErrFrozen) {
			t.Fatalf("a Write redirected into a frozen migration = %v; want a refusal matching ErrFrozen", err)
		}
		if len(rc.called) != 1 || rc.c.Map().Version() != 2 {
			t.Fatalf("fn called at %v, client on v%d; want the v1 home only, then v2", rc.called, rc.c.Map().Version())
		}
	})
}

func TestRedirectOwnerUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var to string
		rc := newRedirectCase(t, celltest.Config{Cells: 3}, func(rc *redirectCase, b *placement.Builder) error {
			to = rc.other(0)
			return b.Pin(rc.key, to)
		})
		if err := rc.c.Breakers().Force(to, breaker.ForcedOpen); err != nil {
			t.Fatal(err)
		}
		err := rc.do(cell.Write, to)
		var ce *cell.CallError
		var ue *cell.UnavailableError
		if !errors.As(err, &ce) || !errors.As(err, &ue) || ue.Cell != to || ue.Reason != cell.RejectBreaker {
			t.Fatalf("a Write redirected to a cell whose breaker is open = %v; want a CallError naming %s unavailable (breaker)", err, to)
		}
		if len(rc.called) != 1 || len(ce.Tried) != 1 || ce.Tried[0] != rc.from {
			t.Fatalf("fn called at %v, tried %v; want the v1 home only", rc.called, ce.Tried)
		}
	})
}

func TestRedirectRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var to string
		rc := newRedirectCase(t, celltest.Config{Cells: 3}, func(rc *redirectCase, b *placement.Builder) error {
			to = rc.other(1)
			return b.Pin(rc.key, to)
		})
		if err := rc.do(cell.Read, to); err != nil {
			t.Fatalf("a Read redirected to its v2 owner = %v", err)
		}
		if len(rc.called) != 2 || rc.called[1] != to {
			t.Fatalf("fn called at %v; want %s then %s", rc.called, rc.from, to)
		}
	})
}

func TestRedirectStatelessSkipsTried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := newRedirectCase(t, celltest.Config{Cells: 5, ShardSize: 3, Stateless: true}, func(rc *redirectCase, b *placement.Builder) error {
			return b.SetLabels(rc.from, map[string]string{"rev": "2"}) // the shards stay
		})
		a, err := rc.f.Map().Locate(rc.key)
		if err != nil || len(a.Shard) != 3 || a.Shard[0] != rc.from {
			t.Fatalf("v2's shard %v, %v; want three cells from %s", a.Shard, err, rc.from)
		}
		// The home fails, the failover answers "moved": the redirect skips
		// both cells tried and goes to the shard's third.
		var called []string
		err = rc.c.Do(context.Background(), rc.key, cell.Stateless, func(ctx context.Context, r cell.Route) error {
			called = append(called, r.Cell)
			switch r.Cell {
			case a.Shard[0]:
				return errors.New("the home failed")
			case a.Shard[1]:
				return &cell.MovedError{Cell: a.Shard[2], Version: 2}
			}
			return nil
		})
		if err != nil || len(called) != 3 || called[2] != a.Shard[2] {
			t.Fatalf("Do = %v, fn called at %v; want success at %s after %s and %s", err, called, a.Shard[2], a.Shard[0], a.Shard[1])
		}
	})
}
