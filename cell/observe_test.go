package cell_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
	"github.com/cellkit/cellkit/placement"
)

// callLog keeps the CallInfos the Call hook heard, with their cells.
type callLog struct {
	mu    sync.Mutex
	calls []cell.CallInfo
	cells [][]string
}

func (l *callLog) hook(ci cell.CallInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, ci)
	l.cells = append(l.cells, slices.Clone(ci.Cells()))
}

func (l *callLog) last(t *testing.T) (cell.CallInfo, []string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) == 0 {
		t.Fatal("the Call hook heard nothing")
	}
	return l.calls[len(l.calls)-1], l.cells[len(l.cells)-1]
}

// The Call hook hears each Do once, with its class, outcome, duration,
// attempts and cells, for every way a call ends.
func TestObserverCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log callLog
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 2, Stateless: true, InMemory: true,
			Client: cell.Config{Observer: cell.Observer{Call: log.hook}}})
		c := f.Client()
		<-c.Ready()
		ctx := context.Background()
		const key = "tenant-9"
		r, err := c.Resolve(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		first, second := r.Shard[0], r.Shard[1]
		f.Cell(first).Fail()
		f.Cell(second).Slow(20 * time.Millisecond)
		if err := c.Do(ctx, key, cell.Stateless, f.Call); err != nil {
			t.Fatal(err)
		}
		ci, cells := log.last(t)
		if ci.Key != key || ci.Class != cell.Stateless || ci.Outcome != cell.CallOK || ci.Err != nil ||
			ci.Attempts != 2 || !slices.Equal(cells, []string{first, second}) || ci.Redirected {
			t.Fatalf("CallInfo after a failover = %+v, cells %v; want ok after %s, %s", ci, cells, first, second)
		}
		if ci.Duration != 20*time.Millisecond { // synctest's clock: the slow cell's answer, exactly
			t.Fatalf("Duration = %v; want 20ms", ci.Duration)
		}

		f.Cell(first).Recover()
		f.Cell(second).Recover()
		if err := c.Breakers().Force(first, breaker.ForcedOpen); err != nil {
			t.Fatal(err)
		}
		err = c.Do(ctx, key, cell.Write, f.Call)
		if ci, cells := log.last(t); ci.Outcome != cell.CallUnavailable || ci.Attempts != 0 || len(cells) != 0 || ci.Err != err {
			t.Fatalf("CallInfo of a Write to a forced-open home = %+v, cells %v; want unavailable, no attempt", ci, cells)
		}
		c.Breakers().Force(first, breaker.Auto)

		if err := c.Do(ctx, key, cell.Write, nil); !errors.Is(err, cell.ErrNoFunc) {
			t.Fatal(err)
		}
		if ci, _ := log.last(t); ci.Outcome != cell.CallInvalid {
			t.Fatalf("CallInfo of a Do without fn = %+v; want invalid", ci)
		}

		cctx, cancel := context.WithCancel(ctx)
		cancel()
		honours := func(ctx context.Context, r cell.Route) error { return ctx.Err() }
		if err := c.Do(cctx, key, cell.Write, honours); err == nil {
			t.Fatal("Do with a cancelled context succeeded")
		}
		if ci, _ := log.last(t); ci.Outcome != cell.CallCanceled {
			t.Fatalf("CallInfo of a cancelled call = %+v; want canceled", ci)
		}

		f.Cell(first).Fail()
		err = c.Do(ctx, key, cell.Write, f.Call)
		if ci, cells := log.last(t); ci.Outcome != cell.CallFailed || ci.Attempts != 1 || !slices.Equal(cells, []string{first}) || ci.Err != err {
			t.Fatalf("CallInfo of a failed Write = %+v, cells %v; want failed at %s", ci, cells, first)
		}
		if n := len(log.calls); n != 5 {
			t.Fatalf("the Call hook heard %d calls; want 5, one per Do", n)
		}
	})
}

func TestCallOutcomeNames(t *testing.T) {
	want := []string{"ok", "failed", "unavailable", "refused", "canceled", "invalid", "not_ready"}
	for i, w := range want {
		if got := cell.CallOutcome(i).String(); got != w {
			t.Errorf("CallOutcome(%d) = %q; want %q", i, got, w)
		}
	}
	if got := cell.CallOutcome(200).String(); got != "unknown" {
		t.Errorf("CallOutcome(200) = %q", got)
	}
}

// A Do with the Call and Attempt hooks set still allocates nothing: the
// cells tried travel in CallInfo by value.
func TestObserverCallAllocs(t *testing.T) {
	m := benchMap(t, 12, 1, "http://127.0.0.1:1")
	calls := 0
	c := runClient(t, m, cell.Config{Zone: "z1", Observer: cell.Observer{
		Call:    func(ci cell.CallInfo) { calls += len(ci.Cells()) },
		Attempt: func(cell.AttemptInfo) {},
	}})
	ctx := context.Background()
	fn := func(context.Context, cell.Route) error { return nil }
	if n := testing.AllocsPerRun(500, func() { c.Do(ctx, "tenant-7", cell.Write, fn) }); n != 0 {
		t.Fatalf("Do with Observer.Call allocates %v times; want 0", n)
	}
	if calls == 0 {
		t.Fatal("the Call hook heard no cell")
	}
}

// Stats carries each cell's latencies, successes and failures apart, and
// counts the healthy and unhealthy cells.
func TestStatsLatencyAndHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, InMemory: true})
		c := f.Client()
		<-c.Ready()
		ctx := context.Background()
		slow, failing, forced := f.Cells()[0], f.Cells()[1], f.Cells()[2]
		slow.Slow(30 * time.Millisecond)
		failing.Fail()
		for _, k := range f.KeysOf(slow.ID(), 10) {
			if err := c.Do(ctx, k, cell.Write, f.Call); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range f.KeysOf(failing.ID(), 3) {
			if err := c.Do(ctx, k, cell.Write, f.Call); err == nil {
				t.Fatal("a write to a failing cell succeeded")
			}
		}
		if err := c.Breakers().Force(forced.ID(), breaker.ForcedOpen); err != nil {
			t.Fatal(err)
		}
		st := c.Stats()
		by := map[string]cell.CellStats{}
		for _, cs := range st.Cells {
			by[cs.Cell] = cs
		}
		s := by[slow.ID()]
		if s.Success.Count() != 10 || s.Failure.Count() != 0 || s.Judged() != 10 {
			t.Fatalf("slow cell: %d successes, %d failures; want 10, 0", s.Success.Count(), s.Failure.Count())
		}
		for _, q := range []time.Duration{s.Success.P50(), s.Success.P90(), s.Success.P99(), s.Success.Mean()} {
			if q < 26*time.Millisecond || q > 34*time.Millisecond {
				t.Fatalf("slow cell's latency %v; want 30ms within its bucket", q)
			}
		}
		if s.Success.Sum != 300*time.Millisecond {
			t.Fatalf("slow cell's Sum = %v; want 300ms", s.Success.Sum)
		}
		if fl := by[failing.ID()]; fl.Failure.Count() != fl.Failures || fl.Failures == 0 || fl.Success.Count() != 0 {
			t.Fatalf("failing cell: Failures %d, Failure.Count %d, Success.Count %d", fl.Failures, fl.Failure.Count(), fl.Success.Count())
		}
		if st.Healthy+st.Unhealthy != 3 || by[forced.ID()].Healthy || !s.Healthy || st.Unhealthy < 1 {
			t.Fatalf("Healthy %d, Unhealthy %d, forced cell healthy %v; want the forced-open cell unhealthy",
				st.Healthy, st.Unhealthy, by[forced.ID()].Healthy)
		}
		if s.Zone != "z1" || s.State != placement.Active {
			t.Fatalf("slow cell's zone, state = %q, %v", s.Zone, s.State)
		}
	})
}

// A disabled cell counts as neither healthy nor unhealthy.
func TestStatsDisabledNotCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, InMemory: true})
		c := f.Client()
		<-c.Ready()
		m, err := f.Publish(func(b *placement.Builder) error { return b.SetState("c02", placement.Disabled) })
		if err != nil {
			t.Fatal(err)
		}
		awaitMap(t, c, m.Version())
		if st := c.Stats(); st.Healthy != 2 || st.Unhealthy != 0 {
			t.Fatalf("Healthy, Unhealthy = %d, %d; want 2, 0 with one cell disabled", st.Healthy, st.Unhealthy)
		}
	})
}

// SLIs by label over a window: wave 2's cells get a bad deploy (errors and
// latency) after a good first window; grouping the window's difference by
// "wave" shows wave 2's error ratio and p99 against the rest, and the first
// window's traffic is not in it.
func TestStatsByLabelSince(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 6, InMemory: true, Seed: 7})
		c := f.Client()
		<-c.Ready()
		m, err := f.Publish(func(b *placement.Builder) error {
			for i, cl := range f.Cells() {
				if err := b.SetLabels(cl.ID(), map[string]string{"wave": strconv.Itoa(i/2 + 1)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		awaitMap(t, c, m.Version())
		ctx := context.Background()
		keys := f.Keys(600)
		drive := func() {
			for _, k := range keys {
				c.Do(ctx, k, cell.Write, f.Call)
			}
		}
		for _, cl := range f.Cells() {
			cl.Slow(5 * time.Millisecond)
		}
		drive()
		before := c.Stats()
		for _, cl := range f.Cells()[2:4] { // wave 2
			cl.ErrorRate(0.2)
			cl.Slow(80 * time.Millisecond)
		}
		drive()
		after := c.Stats()
		win := after.Since(&before)
		waves := win.ByLabel("wave")
		if len(waves) != 3 {
			t.Fatalf("groups by wave: %v", len(waves))
		}
		w2 := waves["2"]
		if w2.Cells != 2 || w2.ErrorRatio() < 0.1 || w2.ErrorRatio() > 0.3 {
			t.Fatalf("wave 2: %d cells, error ratio %.3f; want 2, about 0.2", w2.Cells, w2.ErrorRatio())
		}
		if p := w2.P99(); p < 70*time.Millisecond || p > 90*time.Millisecond {
			t.Fatalf("wave 2's p99 = %v; want about 80ms", p)
		}
		in, rest := win.Split(func(cs *cell.CellStats) bool { return cs.Labels["wave"] == "2" })
		if in.Judged() != w2.Judged() || rest.ErrorRatio() != 0 || rest.P99() > 6*time.Millisecond || rest.Cells != 4 {
			t.Fatalf("Split: wave 2 %d judged; rest %d cells, error ratio %.3f, p99 %v",
				in.Judged(), rest.Cells, rest.ErrorRatio(), rest.P99())
		}
		var judged uint64
		for _, g := range waves {
			judged += g.Judged()
		}
		total := after.ByState()["active"]
		if judged >= total.Judged() || judged == 0 || total.Cells != 6 {
			t.Fatalf("the window judged %d of %d attempts in all: the first window leaked in", judged, total.Judged())
		}
		// The first window, alone, had no failure anywhere.
		if g := before.ByLabel("wave")["2"]; g.Failure.Count() != 0 {
			t.Fatalf("wave 2 failed %d times before its deploy", g.Failure.Count())
		}
		var att uint64
		for _, cs := range win.Cells {
			att += cs.Attempts
		}
		if att != uint64(len(keys)) {
			t.Fatalf("the window counts %d attempts; want %d, one per Write", att, len(keys))
		}
	})
}

// The SLI helpers take nil without panicking.
func TestStatsNilArguments(t *testing.T) {
	st := cell.Stats{Cells: []cell.CellStats{{Cell: "c1", Attempts: 3}}}
	if d := st.Since(nil); len(d.Cells) != 1 || d.Cells[0].Attempts != 3 {
		t.Fatalf("Since(nil) = %+v", d)
	}
	if g := st.GroupBy(nil); len(g) != 0 {
		t.Fatalf("GroupBy(nil) = %v", g)
	}
	if in, rest := st.Split(nil); in.Cells != 0 || rest.Cells != 1 || rest.Attempts != 3 {
		t.Fatalf("Split(nil) = %+v, %+v", in, rest)
	}
	var g cell.Group
	if g.ErrorRatio() != 0 || g.P99() != 0 {
		t.Fatal("an empty Group has an error ratio or a p99")
	}
}
