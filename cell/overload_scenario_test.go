package cell_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
)

// The overload scenarios of the package documentation, on celltest's
// overload model, in synctest bubbles: deterministic, in fake time. Each
// prints its figures with t.Log (go test -v -run Scenario).

// outcome is one Do of a load.
type outcome struct {
	key string
	at  time.Duration // when it started, since the load's start
	lat time.Duration
	err error
}

// loadRun collects the outcomes of an open-loop load.
type loadRun struct {
	mu    sync.Mutex
	out   []outcome
	wg    sync.WaitGroup
	start time.Time
}

func newLoad() *loadRun { return &loadRun{start: time.Now()} }

// offer starts an open loop: rate calls a second of key's class, from
// offset after now for d, each on a goroutine of its own with a 1 s
// deadline.
func (l *loadRun) offer(c *cell.Client, fn func(context.Context, cell.Route) error, key string, class cell.Class, rate float64, offset, d time.Duration) {
	l.wg.Go(func() {
		time.Sleep(offset)
		every := time.Duration(float64(time.Second) / rate)
		tk := time.NewTicker(every)
		defer tk.Stop()
		end := time.Now().Add(d)
		for now := time.Now(); now.Before(end); now = <-tk.C {
			l.wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				t0 := time.Now()
				err := c.Do(ctx, key, class, fn)
				o := outcome{key: key, at: t0.Sub(l.start), lat: time.Since(t0), err: err}
				l.mu.Lock()
				l.out = append(l.out, o)
				l.mu.Unlock()
			})
		}
	})
}

func (l *loadRun) wait() []outcome {
	l.wg.Wait()
	return l.out
}

// figures are a set of outcomes' success rate and latencies.
type figures struct {
	n, ok         int
	p50, p99, max time.Duration
}

func (f figures) rate() float64 { return float64(f.ok) / float64(max(f.n, 1)) }

func (f figures) String() string {
	return fmt.Sprintf("%d calls, %.2f%% success, p50 %v, p99 %v, max %v", f.n, 100*f.rate(), f.p50, f.p99, f.max)
}

// measure returns the figures of the outcomes keep selects; latencies are
// those of the successes.
func measure(out []outcome, keep func(outcome) bool) figures {
	var f figures
	var lats []time.Duration
	for _, o := range out {
		if !keep(o) {
			continue
		}
		f.n++
		if o.err == nil {
			f.ok++
			lats = append(lats, o.lat)
		}
	}
	if len(lats) > 0 {
		slices.Sort(lats)
		f.p50 = lats[len(lats)/2]
		f.p99 = lats[min(len(lats)-1, len(lats)*99/100)]
		f.max = lats[len(lats)-1]
	}
	return f
}

// breakerWatch counts the breakers' openings by cell.
type breakerWatch struct {
	mu     sync.Mutex
	opened map[string]int
}

func (b *breakerWatch) observer() cell.Observer {
	b.opened = make(map[string]int)
	return cell.Observer{Breaker: func(e breaker.Event) {
		if e.Kind == breaker.StateChanged && e.To == breaker.Open {
			b.mu.Lock()
			b.opened[e.Cell]++
			b.mu.Unlock()
		}
	}}
}

func (b *breakerWatch) count(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opened[id]
}

// Scenario (a): one tenant floods its cell at 10× its share. With the
// Guard's fairness only that tenant is throttled, and the other tenants of
// the cell keep ≥ 99 % success and their p99 within 2× of their baseline;
// without it, they do not.
func TestScenarioNoisyNeighbour(t *testing.T) {
	const share = 50.0 // requests a second per key
	run := func(t *testing.T, fair bool) (base, others, flood figures, heavy []cell.KeyRate) {
		synctest.Test(t, func(t *testing.T) {
			cfg := celltest.Config{Cells: 3, InMemory: true}
			if fair {
				cfg.Fairness = cell.Fairness{Rate: share, Burst: 10}
			}
			f := celltest.NewFleet(t, cfg)
			c := newClient(t, f, cell.Config{Limit: cell.Limit{Max: 64}})
			x := f.Cells()[0]
			x.Overload(celltest.Overload{Capacity: 4, Base: 10 * time.Millisecond, Queue: 8})
			keys := f.KeysOf(x.ID(), 6)
			flooder, tenants := keys[0], keys[1:]
			isTenant := func(o outcome) bool { return o.key != flooder }

			// Baseline: the tenants alone, each at 40 % of its share.
			l := newLoad()
			for i, k := range tenants {
				l.offer(c, f.Call, k, cell.Write, 0.4*share, time.Duration(i)*7*time.Millisecond, 3*time.Second)
			}
			base = measure(l.wait(), isTenant)

			// The flood: the same, and one tenant at 10× its share.
			l = newLoad()
			for i, k := range tenants {
				l.offer(c, f.Call, k, cell.Write, 0.4*share, time.Duration(i)*7*time.Millisecond, 5*time.Second)
			}
			l.offer(c, f.Call, flooder, cell.Write, 10*share, 3*time.Millisecond, 5*time.Second)
			out := l.wait()
			others = measure(out, isTenant)
			flood = measure(out, func(o outcome) bool { return o.key == flooder })
			for _, o := range out {
				if o.err != nil && o.key == flooder && fair && !errors.Is(o.err, cell.ErrThrottled) {
					t.Errorf("the flooder's error %v; want ErrThrottled", o.err)
					break
				}
			}
			heavy = x.Heavy(2)
		})
		return
	}
	base, others, flood, heavy := run(t, true)
	t.Logf("with fairness:    tenants' baseline %v", base)
	t.Logf("with fairness:    tenants under the flood %v", others)
	t.Logf("with fairness:    flooder %v (served %.0f/s of %.0f/s offered)", flood, float64(flood.ok)/5, 10*share)
	t.Logf("with fairness:    Guard.Heavy(2) = %+v", heavy)
	if others.rate() < 0.99 || others.p99 > 2*base.p99 {
		t.Errorf("tenants under the flood: %v; want ≥ 99%% success and p99 ≤ 2 × %v", others, base.p99)
	}
	if r := float64(flood.ok) / 5; r > 1.2*share+10 || flood.rate() > 0.2 {
		t.Errorf("flooder served %.0f/s (%v); want about its share, %v/s", r, flood, share)
	}
	// Heavy's rate is an average over about 10 s, of a 5 s flood here.
	if len(heavy) == 0 || heavy[0].Throttled == 0 || heavy[0].Rate < 3*share {
		t.Errorf("Guard.Heavy(2) = %+v; want the flooder first, throttled, at ≥ 3× its share", heavy)
	}
	nbase, nothers, nflood, _ := run(t, false)
	t.Logf("without fairness: tenants' baseline %v", nbase)
	t.Logf("without fairness: tenants under the flood %v", nothers)
	t.Logf("without fairness: flooder %v", nflood)
	if nothers.rate() >= 0.99 && nothers.p99 <= 2*nbase.p99 {
		t.Errorf("without fairness the tenants kept %v; the scenario does not overload the cell", nothers)
	}
}

// Scenario (b): a cell's capacity halves (a bad deploy making it slow). The
// client's limit for it drops within seconds, its breaker does not open for
// slowness alone, Stateless traffic moves to its shard peers, and the limit
// recovers when capacity returns. Without the limit (the client before the
// overload work), the same slowness opens the cell's breaker: the whole
// cell is out, for everyone.
func TestScenarioSlowCell(t *testing.T) {
	type second struct {
		limit    int
		attempts uint64 // at the slowed cell, in that second
		rejected uint64 // by its limit, in that second
	}
	run := func(t *testing.T, lim cell.Limit) (out []outcome, secs []second, opened int) {
		synctest.Test(t, func(t *testing.T) {
			f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 3, Stateless: true, InMemory: true})
			var bw breakerWatch
			c := newClient(t, f, cell.Config{Limit: lim, Hops: 2, Observer: bw.observer(),
				Breakers: breaker.Config{SlowCall: 50 * time.Millisecond}})
			for _, x := range f.Cells() {
				x.Overload(celltest.Overload{Capacity: 6, Base: 10 * time.Millisecond, Queue: 64})
			}
			x := f.Cells()[0]
			l := newLoad()
			for i, k := range f.Keys(30) {
				l.offer(c, f.Call, k, cell.Stateless, 30, time.Duration(i)*time.Millisecond, 24*time.Second)
			}
			var prev cell.CellStats
			for s := range 24 {
				switch s {
				case 6:
					x.Overload(celltest.Overload{Capacity: 3, Base: 10 * time.Millisecond, Queue: 64})
				case 14:
					x.Overload(celltest.Overload{Capacity: 6, Base: 10 * time.Millisecond, Queue: 64})
				}
				time.Sleep(time.Second)
				st := cellStats(c, x.ID())
				secs = append(secs, second{limit: st.Limit, attempts: st.Attempts - prev.Attempts,
					rejected: st.Rejected[cell.RejectLimit] - prev.Rejected[cell.RejectLimit]})
				prev = st
			}
			out = l.wait()
			opened = bw.count(x.ID())
		})
		return
	}
	out, secs, opened := run(t, cell.Limit{Max: 100})
	for s, x := range secs {
		t.Logf("t=%2ds  limit %3d  attempts at the slowed cell %4d/s  refused by its limit %4d/s", s+1, x.limit, x.attempts, x.rejected)
	}
	before := measure(out, func(o outcome) bool { return o.at < 6*time.Second })
	slow := measure(out, func(o outcome) bool { return o.at >= 6*time.Second && o.at < 14*time.Second })
	after := measure(out, func(o outcome) bool { return o.at >= 14*time.Second })
	t.Logf("with the limit: before %v; capacity halved %v; after %v; breaker openings %d", before, slow, after, opened)
	l0, low, end := secs[5].limit, secs[8].limit, secs[23].limit
	minLow := l0
	for _, x := range secs[6:14] {
		minLow = min(minLow, x.limit)
	}
	switch {
	case low > l0/2:
		t.Errorf("limit %d three seconds after the capacity halved; want ≤ half its %d before", low, l0)
	case opened > 0:
		t.Errorf("the slowed cell's breaker opened %d times; want never (slowness alone)", opened)
	case slow.rate() < 0.99:
		t.Errorf("Stateless calls while the cell was slow: %v; want ≥ 99%% success (served by its peers)", slow)
	case secs[10].rejected == 0 || secs[10].attempts*10 > secs[4].attempts*9:
		t.Errorf("attempts at the slowed cell %d/s, %d/s before; want its traffic moved to its peers", secs[10].attempts, secs[4].attempts)
	case end <= minLow || secs[23].rejected != 0 || secs[23].attempts < secs[4].attempts:
		// The limit grows while the cell is busy at it: back to what the
		// cell's load needs (at most Max), not to where it started.
		t.Errorf("ten seconds after capacity returned: limit %d (low %d), %d/s refused by it, %d/s attempts (%d/s before); want it recovered, none refused, the traffic back",
			end, minLow, secs[23].rejected, secs[23].attempts, secs[4].attempts)
	}
	_, _, opened = run(t, cell.Limit{})
	t.Logf("without the limit: the slowed cell's breaker opened %d times", opened)
	if opened == 0 {
		t.Errorf("without the limit the breaker never opened: the scenario does not slow the cell enough")
	}
}

// Scenario (c): every cell overloaded at once. The total offered to the
// fleet does not grow with retries (the budget and the cells' pushback), no
// cell is ejected, and every error is typed and retryable.
func TestScenarioFleetOverload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 3, Stateless: true, InMemory: true})
		var bw breakerWatch
		c := newClient(t, f, cell.Config{Limit: cell.Limit{Max: 100}, Hops: 2, Observer: bw.observer()})
		for _, x := range f.Cells() {
			x.Overload(celltest.Overload{Capacity: 10, Base: 25 * time.Millisecond, Queue: 10, RetryAfter: time.Second})
		}
		const rate, dur = 2400, 6 // calls a second in all, seconds
		keys := f.Keys(30)
		l := newLoad()
		for i, k := range keys {
			l.offer(c, f.Call, k, cell.Stateless, rate/float64(len(keys)), time.Duration(i)*time.Millisecond, dur*time.Second)
		}
		reached := func() uint64 {
			var n uint64
			for _, x := range f.Cells() {
				n += x.Requests()
			}
			return n
		}
		var calls atomic.Int64
		var perSec []uint64
		prev := reached()
		for range dur {
			time.Sleep(time.Second)
			n := reached()
			perSec = append(perSec, n-prev)
			prev = n
		}
		out := l.wait()
		calls.Store(int64(len(out)))
		total := reached()
		var ok, typed int
		for _, o := range out {
			var ue *cell.UnavailableError
			switch {
			case o.err == nil:
				ok++
			case errors.Is(o.err, cell.ErrOverloaded):
				typed++
			case errors.As(o.err, &ue) && ue.Reason == cell.RejectLimit:
				typed++
			default:
				t.Errorf("error %v; want one matching ErrOverloaded, or a RejectLimit", o.err)
			}
		}
		t.Logf("offered %d calls (%d/s) for %ds: %d served (%.1f%%), %d typed retryable errors", len(out), rate, dur, ok, 100*float64(ok)/float64(len(out)), typed)
		t.Logf("attempts reaching the fleet: %d in all (%.2f per call); per second %v", total, float64(total)/float64(len(out)), perSec)
		if float64(total) > 1.2*float64(len(out)) {
			t.Errorf("%d attempts reached the fleet for %d calls; want at most 1.2 per call (the budget's ratio)", total, len(out))
		}
		for s := 1; s < len(perSec); s++ {
			if perSec[s] > rate*12/10 {
				t.Errorf("second %d: %d attempts reached the fleet; want ≤ 1.2 × the %d/s offered", s+1, perSec[s], rate)
			}
		}
		for _, x := range f.Cells() {
			if n := bw.count(x.ID()); n > 0 {
				t.Errorf("cell %s's breaker opened %d times; want no cell ejected", x.ID(), n)
			}
		}
	})
}
