package cellgrpc_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cellgrpc"
	"github.com/cellkit/cellkit/cellgrpc/cellgrpctest"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// await waits, at most 10 s, for c to run a map of version v or later.
func await(t *testing.T, c *cell.Client, v uint64) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		ch := c.Swapped()
		if m := c.Map(); m != nil && m.Version() >= v {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("client not on v%d after 10s (on v%d)", v, c.Map().Version())
		}
	}
}

func homeOf(t *testing.T, f *cellgrpctest.Fleet, key string) string {
	t.Helper()
	a, err := f.Map().Locate(key)
	if err != nil {
		t.Fatalf("Locate(%q): %v", key, err)
	}
	return a.Cell
}

func fleetModes(t *testing.T, run func(t *testing.T, bufconn bool)) {
	for _, mode := range []string{"tcp", "bufconn"} {
		t.Run(mode, func(t *testing.T) { run(t, mode == "bufconn") })
	}
}

// Scenario 1: 12 cells in 3 zones, shard size 1. One cell fails: only its
// keys fail; once its breaker is open they fail fast with a typed error
// (UNAVAILABLE to gRPC) without reaching it; no other cell counts a failure.
func TestE2EOneCellFails(t *testing.T) {
	fleetModes(t, func(t *testing.T, bufconn bool) {
		// The breaker stays open for the whole test: real time passes.
		f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 12, Zones: 3, Seed: 7, Bufconn: bufconn,
			Client: cell.Config{Breakers: breaker.Config{OpenBase: time.Minute, OpenMax: time.Minute}}})
		c := f.Client()
		keys := f.Keys(600)
		bad := f.Cells()[4]
		bad.Fail()
		ctx := context.Background()
		for round := range 3 {
			for i, k := range keys {
				home := homeOf(t, f, k)
				call := cellgrpctest.Get
				if i%2 == 1 {
					call = cellgrpctest.Put
				}
				got, err := call(cellgrpc.WithKey(ctx, k), f.Conn())
				switch {
				case home != bad.ID() && (err != nil || got != home):
					t.Fatalf("round %d: key %q (home %s) = %q, %v; want its home", round, k, home, got, err)
				case home == bad.ID() && err == nil:
					t.Fatalf("round %d: key %q homed on the failed cell succeeded", round, k)
				case home == bad.ID() && status.Code(err) != codes.Unavailable:
					t.Fatalf("round %d: key %q on the failed cell: %v; want UNAVAILABLE", round, k, err)
				}
			}
		}
		if s := c.Breakers().State(bad.ID()); s != breaker.Open {
			t.Fatalf("breaker of %s is %v; want open", bad.ID(), s)
		}
		reached := bad.Requests()
		if reached != 5 {
			t.Fatalf("the failed cell was reached %d times; want 5 before its breaker opened", reached)
		}
		// Open: its keys fail fast with a typed error (how fast is a
		// matter for benchmarks), and nothing reaches it.
		for _, k := range f.KeysOf(bad.ID(), 200) {
			_, err := cellgrpctest.Put(cellgrpc.WithKey(ctx, k), f.Conn())
			var ue *cell.UnavailableError
			if !errors.As(err, &ue) || ue.Cell != bad.ID() || ue.Reason != cell.RejectBreaker || !errors.Is(err, breaker.ErrOpen) ||
				status.Code(err) != codes.Unavailable {
				t.Fatalf("Put(%q) = %v; want an UnavailableError for %s by its breaker, UNAVAILABLE", k, err, bad.ID())
			}
		}
		if n := bad.Requests(); n != reached {
			t.Fatalf("the failed cell was reached %d more times with its breaker open", n-reached)
		}
		for _, cs := range c.Stats().Cells {
			if cs.Cell != bad.ID() && cs.Failures != 0 {
				t.Fatalf("cell %s counts %d failures; only %s failed", cs.Cell, cs.Failures, bad.ID())
			}
		}
	})
}

// Scenario 2: shard size 3, Stateless. A failed cell, or one that accepts
// calls and never answers, costs no call: its tenants are served by
// failover within their deadline and the retry budget, and its breaker
// opens.
func TestE2EStatelessFailover(t *testing.T) {
	for _, fault := range []string{"fail", "blackhole"} {
		t.Run(fault, func(t *testing.T) {
			var failovers atomic.Int64
			var wrong sync.Map
			f := cellgrpctest.NewFleet(t, cellgrpctest.Config{
				Cells: 12, Zones: 3, ShardSize: 3, Seed: 11, Stateless: true, Bufconn: fault == "blackhole",
				Client: cell.Config{Observer: cell.Observer{Failover: func(i cell.FailoverInfo) {
					failovers.Add(1)
					wrong.Store(i.From, true)
				}}},
			})
			c := f.Client()
			bad := f.Cells()[2]
			if fault == "fail" {
				bad.Fail()
			} else {
				bad.Blackhole()
			}
			const deadline = 2 * time.Second
			calls := 0
			for _, k := range f.Keys(300) {
				ctx, cancel := context.WithTimeout(cell.WithClass(cellgrpc.WithKey(context.Background(), k), cell.Stateless), deadline)
				start := time.Now()
				got, err := cellgrpctest.Get(ctx, f.Conn())
				took := time.Since(start)
				cancel()
				calls++
				if err != nil || got == bad.ID() {
					t.Fatalf("Get %q = %q, %v; want an answer by failover", k, got, err)
				}
				if took >= deadline {
					t.Fatalf("Get %q took %v; want under its deadline", k, took)
				}
			}
			if s := c.Breakers().State(bad.ID()); s != breaker.Open {
				t.Fatalf("breaker of %s is %v; want open", bad.ID(), s)
			}
			st := c.Stats()
			if st.BudgetRefused != 0 || st.Retries == 0 || st.Retries > uint64(0.2*float64(calls))+100 {
				t.Fatalf("%d extra attempts (%d refused) for %d calls", st.Retries, st.BudgetRefused, calls)
			}
			wrong.Range(func(k, _ any) bool {
				if k != bad.ID() {
					t.Errorf("a failover from %v; want every failover from %s", k, bad.ID())
				}
				return true
			})
			t.Logf("%s: %d calls, %d failovers, cell reached %d times", fault, calls, failovers.Load(), bad.Requests())
		})
	}
}

// Scenario 2b: a black-holed cell at shard size 1. Its writes fail, judged
// by the attempt's own deadline (Config.AttemptTimeout) or, without one, by
// the caller's deadline cutting a cell that answered nothing; its breaker
// opens within five writes, and nothing else is touched.
func TestE2EBlackholeWrite(t *testing.T) {
	for _, own := range []bool{true, false} {
		t.Run(fmt.Sprintf("attemptTimeout=%v", own), func(t *testing.T) {
			ccfg := cell.Config{}
			callerDeadline := 5 * time.Second
			if own {
				ccfg.AttemptTimeout = 50 * time.Millisecond
			} else {
				callerDeadline = 100 * time.Millisecond
			}
			f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 4, Bufconn: true, Client: ccfg})
			c := f.Client()
			bad := f.Cells()[1]
			bad.Blackhole()
			for _, k := range f.KeysOf(bad.ID(), 5) {
				ctx, cancel := context.WithTimeout(cellgrpc.WithKey(context.Background(), k), callerDeadline)
				_, err := cellgrpctest.Put(ctx, f.Conn())
				cancel()
				if code := status.Code(err); code != codes.DeadlineExceeded {
					t.Fatalf("Put %q = %v; want DEADLINE_EXCEEDED", k, err)
				}
			}
			if s := c.Breakers().State(bad.ID()); s != breaker.Open {
				t.Fatalf("breaker of %s is %v after 5 writes; want open", bad.ID(), s)
			}
			for _, k := range f.Keys(50) {
				if home := homeOf(t, f, k); home != bad.ID() {
					if got, err := cellgrpctest.Put(cellgrpc.WithKey(context.Background(), k), f.Conn()); err != nil || got != home {
						t.Fatalf("Put %q = %q, %v; want %s", k, got, err, home)
					}
				}
			}
		})
	}
}

// Scenario 7: callers that cancel mid-call, unary calls and streams alike,
// leave the cell's breaker unchanged: every such call is Ignored.
func TestE2ECallerCancels(t *testing.T) {
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 3})
	c := f.Client()
	slow := f.Cells()[0]
	slow.Slow(time.Minute)
	keys := f.KeysOf(slow.ID(), 12)
	for i, k := range keys {
		ctx, cancel := context.WithTimeout(cellgrpc.WithKey(context.Background(), k), time.Minute)
		time.AfterFunc(30*time.Millisecond, cancel)
		var err error
		switch i % 3 {
		case 0:
			_, err = cellgrpctest.Put(ctx, f.Conn())
		case 1:
			_, err = cellgrpctest.Get(ctx, f.Conn())
		case 2:
			_, err = cellgrpctest.List(ctx, f.Conn(), 2)
		}
		cancel()
		if code := status.Code(err); code != codes.Canceled {
			t.Fatalf("call %d for %q = %v; want CANCELED", i, k, err)
		}
	}
	for _, s := range c.Breakers().Snapshot() {
		if s.Cell != slow.ID() {
			continue
		}
		if s.State != breaker.Closed || s.Totals.Failures != 0 || s.Totals.Ignored != uint64(len(keys)) {
			t.Fatalf("breaker of %s after %d cancelled calls: %+v; want closed, every call ignored", slow.ID(), len(keys), s)
		}
		return
	}
	t.Fatalf("no breaker for %s", slow.ID())
}

// Scenario 4: a key migrates through copying, frozen, flipped and done,
// with a client that stays on an older map. Writes are refused only while
// frozen (ErrFrozen from the client that knows, the guard's refusal to the
// one that does not); after the flip the stale client gets one moved reply,
// refreshes and succeeds with a single redirect, never two.
func TestE2EMigration(t *testing.T) {
	fleetModes(t, func(t *testing.T, bufconn bool) {
		const key = "tenant-7"
		f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 4, Explicit: true, Bufconn: bufconn})
		src := f.Source()
		src.Hold(true)
		var redirects []cell.RedirectInfo
		var mu sync.Mutex
		stale, staleConn, err := f.NewClient(cell.Config{Source: src, Observer: cell.Observer{Redirect: func(i cell.RedirectInfo) {
			mu.Lock()
			redirects = append(redirects, i)
			mu.Unlock()
		}}})
		if err != nil {
			t.Fatal(err)
		}
		await(t, stale, 1)
		// Another held client, for the frozen write the Guard refuses: a
		// refusal refreshes its map.
		refusedSrc := f.Source()
		refusedSrc.Hold(true)
		refused, refusedConn, err := f.NewClient(cell.Config{Source: refusedSrc})
		if err != nil {
			t.Fatal(err)
		}
		await(t, refused, 1)
		from := f.Cell(homeOf(t, f, key))
		to := f.Cells()[0]
		if to == from {
			to = f.Cells()[1]
		}
		g := placement.Migration{Key: key}
		ctx := cellgrpc.WithKey(context.Background(), key)
		publish := func(edit func(*placement.Builder) error) {
			t.Helper()
			m, err := f.Publish(edit)
			if err != nil {
				t.Fatal(err)
			}
			await(t, f.Client(), m.Version())
		}
		expect := func(phase string, conn *grpc.ClientConn, write bool, want string) {
			t.Helper()
			call := cellgrpctest.Get
			if write {
				call = cellgrpctest.Put
			}
			got, err := call(ctx, conn)
			if err != nil || got != want {
				t.Fatalf("%s (write %v): %q, %v; want %s", phase, write, got, err, want)
			}
		}

		publish(func(b *placement.Builder) error { return b.MigrateKey(key, to.ID()) })
		expect("copying", f.Conn(), true, from.ID())
		expect("copying, stale", staleConn, true, from.ID())

		publish(func(b *placement.Builder) error { return b.Advance(g) })
		if _, err := cellgrpctest.Put(ctx, f.Conn()); !errors.Is(err, cell.ErrFrozen) || status.Code(err) != codes.Unavailable {
			t.Fatalf("frozen: Put = %v; want ErrFrozen, UNAVAILABLE", err)
		}
		_, err = cellgrpctest.Put(ctx, refusedConn)
		var re *cell.RefusedError
		if !errors.As(err, &re) || !errors.Is(err, cell.ErrFrozen) || re.Cell != from.ID() || re.RetryAfter != time.Second || status.Code(err) != codes.Unavailable {
			t.Fatalf("frozen, stale: Put = %v; want the guard's refusal (ErrFrozen, retry after 1s)", err)
		}
		await(t, refused, f.Map().Version())
		expect("frozen, read", f.Conn(), false, from.ID())
		expect("frozen, stale read", staleConn, false, from.ID())
		if v := stale.Map().Version(); v != 1 {
			t.Fatalf("the stale client moved to v%d", v)
		}

		publish(func(b *placement.Builder) error { return b.Advance(g) })
		flipped := f.Map().Version()
		expect("flipped", f.Conn(), true, to.ID())
		acceptedByFrom := from.Accepted()
		expect("flipped, stale", staleConn, true, to.ID())
		mu.Lock()
		if len(redirects) != 1 || redirects[0].From != from.ID() || redirects[0].To != to.ID() {
			t.Fatalf("redirects of the stale client: %+v; want one, from %s to %s", redirects, from.ID(), to.ID())
		}
		mu.Unlock()
		if v := stale.Map().Version(); v != flipped {
			t.Fatalf("the stale client is on v%d after the redirect; want v%d", v, flipped)
		}
		if from.Accepted() != acceptedByFrom {
			t.Fatalf("%s accepted the stale client's write after the flip", from.ID())
		}
		expect("flipped, stale again", staleConn, true, to.ID())
		expect("flipped, read", f.Conn(), false, to.ID())
		mu.Lock()
		if len(redirects) != 1 {
			t.Fatalf("%d redirects; want the one", len(redirects))
		}
		mu.Unlock()

		publish(func(b *placement.Builder) error { return b.Advance(g) })
		expect("done", f.Conn(), true, to.ID())
		expect("done, read", f.Conn(), false, to.ID())
	})
}

// A cell that keeps answering "moved" (a bad guard) gets one redirect
// followed, never two: the second moved reply is the call's error,
// FAILED_PRECONDITION with a *cell.MovedError.
func TestE2EMovedOnce(t *testing.T) {
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 3})
	a, b := f.Cells()[0], f.Cells()[1]
	a.MoveTo(b.ID())
	b.MoveTo(a.ID())
	k := f.KeysOf(a.ID(), 1)[0]
	before := a.Requests() + b.Requests()
	_, err := cellgrpctest.Put(cellgrpc.WithKey(context.Background(), k), f.Conn())
	var me *cell.MovedError
	if !errors.As(err, &me) || status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Put = %v; want a MovedError, FAILED_PRECONDITION", err)
	}
	if n := a.Requests() + b.Requests() - before; n != 1 {
		// The moved reply names a map no newer than the client's, whose
		// owner is the cell tried: not followed.
		t.Fatalf("%d attempts; want 1", n)
	}
}

// Scenario 5: the control plane goes down. The client keeps routing on the
// last map; when it comes back the next version is picked up.
func TestE2EControlPlaneDown(t *testing.T) {
	srcErrs := make(chan error, 16)
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 4, PollInterval: 20 * time.Millisecond,
		Client: cell.Config{Observer: cell.Observer{MapUpdate: func(u cell.MapUpdate) {
			if u.Err != nil && !u.Accepted {
				select {
				case srcErrs <- u.Err:
				default:
				}
			}
		}}}})
	c := f.Client()
	f.ControlPlaneDown()
	for range 3 {
		select {
		case err := <-srcErrs:
			if !errors.Is(err, source.ErrFetch) {
				t.Fatalf("source error %v; want ErrFetch", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no source error within 10s of the control plane going down")
		}
	}
	for _, k := range f.Keys(100) {
		if got, err := cellgrpctest.Put(cellgrpc.WithKey(context.Background(), k), f.Conn()); err != nil || got != homeOf(t, f, k) {
			t.Fatalf("control plane down: Put %q = %q, %v", k, got, err)
		}
	}
	m, err := f.Publish(func(b *placement.Builder) error { return b.SetState(f.Cells()[3].ID(), placement.Disabled) })
	if err != nil {
		t.Fatal(err)
	}
	if c.Map().Version() != 1 {
		t.Fatalf("the client took v%d with the control plane down", c.Map().Version())
	}
	f.ControlPlaneUp()
	await(t, c, m.Version())
	for _, k := range f.Keys(100) {
		if got, err := cellgrpctest.Put(cellgrpc.WithKey(context.Background(), k), f.Conn()); err != nil || got != homeOf(t, f, k) || got == f.Cells()[3].ID() {
			t.Fatalf("after the control plane came back: Put %q = %q, %v", k, got, err)
		}
	}
}
