package cell_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
	"github.com/cellkit/cellkit/placement"
)

// recorder wraps a fn and records the cells it was called at.
type recorder struct {
	mu    sync.Mutex
	cells []string
	fn    func(context.Context, cell.Route) error
}

func (r *recorder) call(ctx context.Context, rt cell.Route) error {
	r.mu.Lock()
	r.cells = append(r.cells, rt.Cell)
	r.mu.Unlock()
	return r.fn(ctx, rt)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.cells
	r.cells = nil
	return c
}

// newClient starts another client on the fleet and waits for its map.
func newClient(t *testing.T, f *celltest.Fleet, cfg cell.Config) *cell.Client {
	t.Helper()
	c, err := f.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	<-c.Ready()
	return c
}

func TestDoClasses(t *testing.T) {
	f := celltest.NewFleet(t, celltest.Config{Cells: 3, Explicit: true})
	c := f.Client()
	ctx := context.Background()
	const key = "moving"
	a, _ := f.Map().Locate(key)
	from := a.Cell
	to := f.Cells()[0].ID()
	if to == from {
		to = f.Cells()[1].ID()
	}
	g := placement.Migration{Key: key}
	publish := func(edit func(*placement.Builder) error) {
		t.Helper()
		m, err := f.Publish(edit)
		if err != nil {
			t.Fatal(err)
		}
		awaitMap(t, c, m.Version())
	}
	publish(func(b *placement.Builder) error { return b.MigrateKey(key, to) })
	publish(func(b *placement.Builder) error { return b.Advance(g) })
	publish(func(b *placement.Builder) error { return b.Advance(g) }) // flipped: reads to, then from

	rec := &recorder{fn: f.Call}
	tests := []struct {
		class cell.Class
		fail  string
		tried []string
		ok    bool
	}{
		{cell.Read, "", []string{to}, true},
		{cell.Read, to, []string{to, from}, true},
		{cell.Write, "", []string{to}, true},
		{cell.Write, to, []string{to}, false},
	}
	for _, tt := range tests {
		if tt.fail != "" {
			f.Cell(tt.fail).Fail()
		}
		err := c.Do(ctx, key, tt.class, rec.call)
		tried := rec.take()
		if (err == nil) != tt.ok || !slices.Equal(tried, tt.tried) {
			t.Fatalf("Do(%s) with %q failing = %v, tried %v; want ok %v, tried %v", tt.class, tt.fail, err, tried, tt.ok, tt.tried)
		}
		var ce *cell.CallError
		if !tt.ok && (!errors.As(err, &ce) || !slices.Equal(ce.Tried, tt.tried) || ce.Class != tt.class || !errors.Is(err, celltest.ErrFault)) {
			t.Fatalf("Do(%s) error %v; want a CallError naming %v and wrapping the cell's error", tt.class, err, tt.tried)
		}
		f.Cell(to).Recover()
	}
	if err := c.Do(ctx, key, cell.Class(9), rec.call); !errors.Is(err, cell.ErrClass) || len(rec.take()) != 0 {
		t.Fatalf("Do(Class(9)) = %v; want ErrClass without calling fn", err)
	}
	if err := c.Do(ctx, "", cell.Read, rec.call); !errors.Is(err, cell.ErrNoKey) {
		t.Fatalf("Do(%q) = %v; want ErrNoKey", "", err)
	}
}

func TestDoStatelessHops(t *testing.T) {
	f := celltest.NewFleet(t, celltest.Config{Cells: 6, Zones: 3, ShardSize: 4, Stateless: true})
	const key = "tenant-9"
	r, err := f.Client().Resolve(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range r.Shard[:3] {
		f.Cell(id).Fail()
	}
	tests := []struct {
		hops  int
		tried int
		ok    bool
	}{{-1, 1, false}, {0, 2, false}, {2, 3, false}, {3, 4, true}, {10, 4, true}}
	for _, tt := range tests {
		// Breakers that do not open, so that every call tries the same cells.
		c := newClient(t, f, cell.Config{Hops: tt.hops, Breakers: breaker.Config{ConsecutiveFailures: 1000, MinRequests: 1000}})
		rec := &recorder{fn: f.Call}
		err := c.Do(context.Background(), key, cell.Stateless, rec.call)
		if tried := rec.take(); (err == nil) != tt.ok || !slices.Equal(tried, r.Shard[:tt.tried]) {
			t.Fatalf("Hops %d: Do = %v, tried %v; want ok %v, tried %v", tt.hops, err, tried, tt.ok, r.Shard[:tt.tried])
		}
	}
}

func TestDoUnavailable(t *testing.T) {
	f := celltest.NewFleet(t, celltest.Config{Cells: 4, ShardSize: 3, Stateless: true, Explicit: true})
	c := f.Client()
	ctx := context.Background()
	const key = "tenant-3"
	r, _ := c.Resolve(ctx, key)
	rec := &recorder{fn: f.Call}

	c.Breakers().Force(r.Cell, breaker.ForcedOpen)
	err := c.Do(ctx, key, cell.Write, rec.call)
	var ue *cell.UnavailableError
	if !errors.As(err, &ue) || ue.Cell != r.Cell || ue.Reason != cell.RejectBreaker || ue.Key != key ||
		!errors.Is(err, breaker.ErrForcedOpen) || !errors.Is(err, cell.ErrCellUnavailable) || len(rec.take()) != 0 {
		t.Fatalf("Do(Write) at a cell forced open = %v; want an UnavailableError naming %s, without calling fn", err, r.Cell)
	}
	if err := c.Do(ctx, key, cell.Stateless, rec.call); err != nil || !slices.Equal(rec.take(), r.Shard[1:2]) {
		t.Fatalf("Do(Stateless) with its home forced open = %v; want served by %s", err, r.Shard[1])
	}
	for _, id := range r.Shard {
		c.Breakers().Force(id, breaker.ForcedOpen)
	}
	if err := c.Do(ctx, key, cell.Stateless, rec.call); !errors.As(err, &ue) || ue.Cell != r.Shard[0] || len(rec.take()) != 0 {
		t.Fatalf("Do(Stateless) with the whole shard forced open = %v; want an UnavailableError naming %s", err, r.Shard[0])
	}
	for _, id := range r.Shard {
		c.Breakers().Force(id, breaker.Auto)
	}

	m, err := f.Publish(func(b *placement.Builder) error { return b.SetState(r.Cell, placement.Disabled) })
	if err != nil {
		t.Fatal(err)
	}
	awaitMap(t, c, m.Version())
	err = c.Do(ctx, key, cell.Write, rec.call)
	if !errors.As(err, &ue) || ue.Cell != r.Cell || ue.Reason != cell.RejectDisabled || !errors.Is(err, placement.ErrCellDisabled) || len(rec.take()) != 0 {
		t.Fatalf("Do(Write) homed on a disabled cell = %v; want an UnavailableError for disabled %s", err, r.Cell)
	}
	if err := c.Do(ctx, key, cell.Stateless, rec.call); err != nil || slices.Contains(rec.take(), r.Cell) {
		t.Fatalf("Do(Stateless) homed on a disabled cell = %v; want served by another cell", err)
	}
	// Each skip of the cell counts as a rejection by its reason, the
	// stateless calls' skips included, as they do for the breaker above.
	for _, cs := range c.Stats().Cells {
		if cs.Cell == r.Cell && (cs.Rejected[cell.RejectBreaker] != 3 || cs.Rejected[cell.RejectDisabled] != 2) {
			t.Fatalf("Stats of %s: rejections %v; want 3 by its breaker, 2 disabled", cs.Cell, cs.Rejected)
		}
	}
}

func TestDoBulkhead(t *testing.T) {
	f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 2, Stateless: true})
	c := newClient(t, f, cell.Config{MaxInFlight: 1})
	ctx := context.Background()
	const key = "tenant-1"
	r, _ := c.Resolve(ctx, key)
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- c.Do(ctx, key, cell.Write, func(context.Context, cell.Route) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	var ue *cell.UnavailableError
	if err := c.Do(ctx, key, cell.Write, nop); !errors.As(err, &ue) || ue.Reason != cell.RejectBulkhead || ue.Cell != r.Cell {
		t.Fatalf("Do(Write) with the home's bulkhead full = %v; want RejectBulkhead for %s", err, r.Cell)
	}
	rec := &recorder{fn: f.Call}
	if err := c.Do(ctx, key, cell.Stateless, rec.call); err != nil || !slices.Equal(rec.take(), r.Shard[1:]) {
		t.Fatalf("Do(Stateless) with the home's bulkhead full = %v; want served by %s", err, r.Shard[1])
	}
	var inFlight int64
	for _, cs := range c.Stats().Cells {
		if cs.Cell == r.Cell {
			inFlight = cs.InFlight
		}
	}
	if inFlight != 1 {
		t.Fatalf("Stats: %d in flight at %s; want 1", inFlight, r.Cell)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, key, cell.Write, nop); err != nil {
		t.Fatalf("Do(Write) after the bulkhead emptied = %v", err)
	}
}

// An error that Classify does not call a Failure is the call's answer: no
// failover, and the cell's breaker hears what Classify said.
func TestDoClassify(t *testing.T) {
	errNotFound := errors.New("not found")
	f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 3, Stateless: true})
	c := newClient(t, f, cell.Config{Classify: func(err error) breaker.Outcome {
		if errors.Is(err, errNotFound) {
			return breaker.Success
		}
		return breaker.DefaultClassify(err)
	}})
	rec := &recorder{fn: func(context.Context, cell.Route) error { return errNotFound }}
	err := c.Do(context.Background(), "k", cell.Stateless, rec.call)
	if tried := rec.take(); !errors.Is(err, errNotFound) || len(tried) != 1 {
		t.Fatalf("Do = %v, tried %v; want errNotFound after one attempt", err, tried)
	}
	for _, s := range c.Breakers().Snapshot() {
		if s.Totals.Failures != 0 {
			t.Fatalf("breaker %s counts %d failures", s.Cell, s.Totals.Failures)
		}
	}
}

func TestDoBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 2, Stateless: true, InMemory: true})
		// One token (0.1/s over 10 s) and no share of calls; breakers that
		// do not open.
		c := newClient(t, f, cell.Config{
			Budget:   cell.Budget{Ratio: -1, PerSecond: 0.1},
			Breakers: breaker.Config{ConsecutiveFailures: 1000, MinRequests: 1000},
		})
		ctx := context.Background()
		const key = "k"
		r, _ := c.Resolve(ctx, key)
		f.Cell(r.Shard[0]).Fail()
		if err := c.Do(ctx, key, cell.Stateless, f.Call); err != nil {
			t.Fatalf("first failover: %v", err)
		}
		err := c.Do(ctx, key, cell.Stateless, f.Call)
		var ce *cell.CallError
		if !errors.Is(err, cell.ErrBudget) || !errors.As(err, &ce) || !ce.Budget || len(ce.Tried) != 1 {
			t.Fatalf("second failover = %v; want ErrBudget after one attempt", err)
		}
		if s := c.Stats(); s.Retries != 1 || s.BudgetRefused != 1 || s.BudgetTokens >= 1 {
			t.Fatalf("Stats: %d retries, %d refused, %.2f tokens; want 1, 1, under 1", s.Retries, s.BudgetRefused, s.BudgetTokens)
		}
		time.Sleep(10 * time.Second) // the withdrawal expires
		if err := c.Do(ctx, key, cell.Stateless, f.Call); err != nil {
			t.Fatalf("failover after the token expired: %v", err)
		}
	})
}

func TestAttemptDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 3, Stateless: true, InMemory: true})
		ctx := context.Background()
		type attempt struct {
			cell     string
			deadline time.Duration // from the call's start; 0 for none
		}
		run := func(c *cell.Client, class cell.Class, timeout time.Duration, fail int) []attempt {
			t.Helper()
			cctx, cancel := ctx, context.CancelFunc(func() {})
			if timeout > 0 {
				cctx, cancel = context.WithTimeout(ctx, timeout)
			}
			defer cancel()
			start := time.Now()
			var got []attempt
			c.Do(cctx, "k", class, func(ctx context.Context, r cell.Route) error {
				a := attempt{cell: r.Cell}
				if d, ok := ctx.Deadline(); ok {
					a.deadline = d.Sub(start)
				}
				got = append(got, a)
				if len(got) <= fail {
					<-ctx.Done() // a cell that never answers
					return ctx.Err()
				}
				return nil
			})
			return got
		}
		def := newClient(t, f, cell.Config{Hops: 2})
		r, _ := def.Resolve(ctx, "k")
		s := r.Shard
		tests := []struct {
			name    string
			c       *cell.Client
			class   cell.Class
			timeout time.Duration
			fail    int
			want    []attempt
		}{
			{"shared", def, cell.Stateless, 900 * time.Millisecond, 2,
				[]attempt{{s[0], 300 * time.Millisecond}, {s[1], 600 * time.Millisecond}, {s[2], 900 * time.Millisecond}}},
			{"write", def, cell.Write, time.Second, 0, []attempt{{s[0], time.Second}}},
			{"no deadline", def, cell.Stateless, 0, 0, []attempt{{s[0], 0}}},
			{"timeout", newClient(t, f, cell.Config{AttemptTimeout: 100 * time.Millisecond}), cell.Write, time.Second, 0,
				[]attempt{{s[0], 100 * time.Millisecond}}},
			{"timeout over the caller's", newClient(t, f, cell.Config{AttemptTimeout: time.Minute}), cell.Write, time.Second, 0,
				[]attempt{{s[0], time.Second}}},
			{"none", newClient(t, f, cell.Config{AttemptTimeout: -1}), cell.Stateless, time.Second, 0,
				[]attempt{{s[0], time.Second}}},
		}
		for _, tt := range tests {
			if got := run(tt.c, tt.class, tt.timeout, tt.fail); !slices.Equal(got, tt.want) {
				t.Errorf("%s: attempts %v; want %v", tt.name, got, tt.want)
			}
		}
		// The two attempts that ran out of their own deadline were failures
		// of their cells; the caller's deadline is never one.
		for _, st := range def.Stats().Cells {
			want := uint64(0)
			if st.Cell == s[0] || st.Cell == s[1] {
				want = 1
			}
			if st.Failures != want {
				t.Errorf("cell %s: %d failures; want %d", st.Cell, st.Failures, want)
			}
		}
	})
}

func TestMoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, InMemory: true})
		src := f.Source()
		src.Hold(true)
		ev := newEvents()
		c := newClient(t, f, cell.Config{Source: src, Observer: ev.observer(), RefreshTimeout: time.Second})
		ctx := context.Background()
		const key = "tenant-5"
		r, _ := c.Resolve(ctx, key)
		home := r.Cell
		other := f.Cells()[0].ID()
		if other == home {
			other = f.Cells()[1].ID()
		}

		moved := func(cellID string, v uint64) func(context.Context, cell.Route) error {
			return func(context.Context, cell.Route) error { return &cell.MovedError{Cell: cellID, Version: v} }
		}
		rec := &recorder{fn: moved(home, 1)}
		err := c.Do(ctx, key, cell.Write, rec.call)
		var me *cell.MovedError
		if !errors.As(err, &me) || !errors.Is(err, cell.ErrMoved) || len(rec.take()) != 1 {
			t.Fatalf("moved back to the cell tried = %v; want the MovedError, one attempt", err)
		}
		rec.fn = moved(other, 0)
		if err := c.Do(ctx, key, cell.Write, rec.call); !errors.As(err, &me) || len(rec.take()) != 1 {
			t.Fatalf("moved on an older map = %v; want the MovedError, one attempt", err)
		}
		rec.fn = moved(other, 1) // same version: the map in force still names home
		if err := c.Do(ctx, key, cell.Write, rec.call); !errors.As(err, &me) || len(rec.take()) != 1 {
			t.Fatalf("moved on the same map = %v; want the MovedError, one attempt", err)
		}

		// The key moves in v2; the client is held on v1 and learns it
		// from the cell's 421, once for all its callers.
		m2, err := f.Publish(func(b *placement.Builder) error { return b.Pin(key, other) })
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		polls := f.Polls()
		var wg, misdirected sync.WaitGroup
		errs := make([]error, 20)
		misdirected.Add(len(errs))
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first := true
				errs[i] = c.Do(ctx, key, cell.Write, func(ctx context.Context, r cell.Route) error {
					err := f.Call(ctx, r)
					if first {
						// Every caller gets its 421 before any follows it.
						first = false
						misdirected.Done()
						misdirected.Wait()
					}
					return err
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("caller %d: %v", i, err)
			}
		}
		if c.Map().Version() != m2.Version() || len(ev.redirects) != 20 {
			t.Fatalf("after the redirects: v%d, %d redirects; want v%d, 20", c.Map().Version(), len(ev.redirects), m2.Version())
		}
		if n := f.Polls() - polls; n != 1 {
			t.Fatalf("20 moved replies caused %d polls; want 1", n)
		}

		// A second moved reply is not followed.
		rec.fn = func(_ context.Context, r cell.Route) error {
			return &cell.MovedError{Cell: "x" + r.Cell, Version: m2.Version()}
		}
		if err := c.Do(ctx, key, cell.Read, rec.call); !errors.As(err, &me) || len(rec.take()) != 1 {
			t.Fatalf("moved to a cell the map does not name = %v; want one attempt", err)
		}

		// A version that never comes: the shared wait gives up after
		// RefreshTimeout, and the next caller waits anew.
		rec.fn = moved(home, 99)
		for range 2 {
			start := time.Now()
			err := c.Do(ctx, key, cell.Write, rec.call)
			if !errors.As(err, &me) || me.Version != 99 || time.Since(start) != time.Second {
				t.Fatalf("moved to v99 = %v after %v; want the MovedError after the 1s refresh timeout", err, time.Since(start))
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := c.Do(cctx, key, cell.Write, rec.call); err == nil || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("moved to v99 under a 100ms deadline = %v after %v; want an error at the deadline", err, time.Since(start))
		}
	})
}
