package cell_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// homes returns the home cell of each key on the fleet's map.
func homes(t *testing.T, f *celltest.Fleet, keys []string) map[string]string {
	t.Helper()
	h := make(map[string]string, len(keys))
	for _, k := range keys {
		a, err := f.Map().Locate(k)
		if err != nil {
			t.Fatalf("Locate(%q): %v", k, err)
		}
		h[k] = a.Cell
	}
	return h
}

// get sends a GET for key through the fleet's transport and returns the
// status, or an error.
func get(ctx context.Context, hc *http.Client, key string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://fleet/orders", nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set(celltest.KeyHeader, key)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Scenario 1: 12 cells in 3 zones, shard size 1. One cell fails: only the
// keys homed there fail; once its breaker is open they fail in under 1 ms
// without reaching the cell; every other key sees no error.
func TestE2EOneCellFails(t *testing.T) {
	// The breaker stays open for the whole test, however slow the machine:
	// a half-open probe would reach the failed cell once more.
	f := celltest.NewFleet(t, celltest.Config{Cells: 12, Zones: 3, Seed: 7,
		Client: cell.Config{Breakers: breaker.Config{OpenBase: time.Hour, OpenMax: time.Hour}}})
	c := f.Client()
	hc := f.HTTPClient()
	keys := f.Keys(600)
	home := homes(t, f, keys)
	bad := f.Cells()[4]
	bad.Fail()

	ctx := context.Background()
	for round := range 3 {
		for _, k := range keys {
			code, body, err := get(ctx, hc, k)
			switch {
			case home[k] != bad.ID() && (err != nil || code != http.StatusOK):
				t.Fatalf("round %d: GET key %q (home %s) = %d %q, %v; want 200", round, k, home[k], code, body, err)
			case home[k] != bad.ID() && body != home[k]:
				t.Fatalf("round %d: key %q served by %q; want %q", round, k, body, home[k])
			case home[k] == bad.ID() && err == nil && code == http.StatusOK:
				t.Fatalf("round %d: key %q homed on the failed cell succeeded", round, k)
			}
		}
	}
	if s := c.Breakers().State(bad.ID()); s != breaker.Open {
		t.Fatalf("breaker of %s is %v; want open", bad.ID(), s)
	}
	reached := bad.Requests()
	if reached != 5 { // the default breaker trips on 5 consecutive failures
		t.Fatalf("the failed cell was reached %d times; want 5 before its breaker opened", reached)
	}

	// Open: its keys fail fast with a typed error, and nothing reaches it.
	var durs []time.Duration
	for _, k := range f.KeysOf(bad.ID(), 200) {
		start := time.Now()
		err := c.Do(ctx, k, cell.Write, f.Call)
		durs = append(durs, time.Since(start))
		var ue *cell.UnavailableError
		if !errors.As(err, &ue) || ue.Cell != bad.ID() || ue.Reason != cell.RejectBreaker || !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("Do(%q) = %v; want an UnavailableError for %s by its breaker", k, err, bad.ID())
		}
		if _, _, err := get(ctx, hc, k); !errors.Is(err, cell.ErrCellUnavailable) {
			t.Fatalf("GET %q = %v; want ErrCellUnavailable", k, err)
		}
	}
	if n := bad.Requests(); n != reached {
		t.Fatalf("the failed cell was reached %d more times with its breaker open", n-reached)
	}
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	if p99 := durs[len(durs)*99/100]; p99 >= time.Millisecond {
		t.Fatalf("fast failures: p99 %v, median %v; want under 1ms", p99, durs[len(durs)/2])
	}
	for _, cs := range c.Stats().Cells {
		if cs.Cell != bad.ID() && cs.Failures != 0 {
			t.Fatalf("cell %s counts %d failures; only %s failed", cs.Cell, cs.Failures, bad.ID())
		}
	}
}

// countingObserver counts the client's events; it is safe for concurrent use
// only where the test says so.
type events struct {
	mu        chan struct{}
	failovers []cell.FailoverInfo
	hedges    []cell.FailoverInfo
	redirects []cell.RedirectInfo
	breakers  []breaker.Event
	maps      []cell.MapUpdate
	attempts  []cell.AttemptInfo
}

func newEvents() *events {
	e := &events{mu: make(chan struct{}, 1)}
	return e
}

func (e *events) lock()   { e.mu <- struct{}{} }
func (e *events) unlock() { <-e.mu }

func (e *events) observer() cell.Observer {
	return cell.Observer{
		Attempt:   func(i cell.AttemptInfo) { e.lock(); e.attempts = append(e.attempts, i); e.unlock() },
		Failover:  func(i cell.FailoverInfo) { e.lock(); e.failovers = append(e.failovers, i); e.unlock() },
		Hedge:     func(i cell.FailoverInfo) { e.lock(); e.hedges = append(e.hedges, i); e.unlock() },
		Redirect:  func(i cell.RedirectInfo) { e.lock(); e.redirects = append(e.redirects, i); e.unlock() },
		Breaker:   func(ev breaker.Event) { e.lock(); e.breakers = append(e.breakers, ev); e.unlock() },
		MapUpdate: func(u cell.MapUpdate) { e.lock(); e.maps = append(e.maps, u); e.unlock() },
	}
}

// Scenario 2: shard size 3, Stateless. One failed cell costs no call, and
// the extra attempts stay inside the retry budget. The same with a cell that
// accepts connections and never answers: its tenants are served by failover
// inside their deadline, and its breaker opens.
func TestE2EStatelessFailover(t *testing.T) {
	for _, fault := range []string{"fail", "blackhole"} {
		t.Run(fault, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ev := newEvents()
				f := celltest.NewFleet(t, celltest.Config{
					Cells: 12, Zones: 3, ShardSize: 3, Seed: 11, InMemory: true, Stateless: true,
					Client: cell.Config{Observer: ev.observer()},
				})
				c := f.Client()
				hc := f.HTTPClient()
				bad := f.Cells()[2]
				switch fault {
				case "fail":
					bad.Fail()
				case "blackhole":
					bad.Blackhole()
				}
				const deadline = time.Second
				keys := f.Keys(1000)
				var calls int
				for _, k := range keys {
					ctx, cancel := context.WithTimeout(cell.WithClass(context.Background(), cell.Stateless), deadline)
					start := time.Now()
					code, _, err := get(ctx, hc, k)
					took := time.Since(start)
					cancel()
					calls++
					if err != nil || code != http.StatusOK {
						t.Fatalf("GET %q = %d, %v; want 200 by failover", k, code, err)
					}
					if took >= deadline {
						t.Fatalf("GET %q took %v; want under its deadline %v", k, took, deadline)
					}
				}
				if s := c.Breakers().State(bad.ID()); s != breaker.Open {
					t.Fatalf("breaker of %s is %v; want open", bad.ID(), s)
				}
				st := c.Stats()
				if st.BudgetRefused != 0 {
					t.Fatalf("budget refused %d extra attempts", st.BudgetRefused)
				}
				// Finagle's rule: 20% of the calls plus 10 a second over the
				// 10 s the calls took at most.
				if allowed := uint64(0.2*float64(calls)) + 100; st.Retries > allowed || st.Retries == 0 {
					t.Fatalf("%d extra attempts for %d calls; want 1 to %d", st.Retries, calls, allowed)
				}
				if len(ev.failovers) != int(st.Retries) {
					t.Fatalf("%d failovers observed; want %d", len(ev.failovers), st.Retries)
				}
				for _, fo := range ev.failovers {
					if fo.From != bad.ID() {
						t.Fatalf("failover %+v; want every failover from %s", fo, bad.ID())
					}
				}
				t.Logf("%s: %d calls, %d failovers, cell reached %d times", fault, calls, st.Retries, bad.Requests())
			})
		})
	}
}

// Scenario 3: 7 of 12 cells fail. With the default breakers (eject at most
// half the cells, panic below half closed, failing open), panic engages, is
// reported, and ends when the cells recover.
func TestE2EPanicMode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ev := newEvents()
		f := celltest.NewFleet(t, celltest.Config{
			Cells: 12, Zones: 3, Seed: 3, InMemory: true,
			Client: cell.Config{Observer: ev.observer(), Breakers: breaker.Config{Seed: 1}},
		})
		c := f.Client()
		cells := f.Cells()
		var keys [][]string
		for _, cl := range cells {
			keys = append(keys, f.KeysOf(cl.ID(), 4))
		}
		for _, cl := range cells[:7] {
			cl.Fail()
		}
		ctx := context.Background()
		traffic := func() (failed int) {
			for i := range cells {
				for _, k := range keys[i] {
					if c.Do(ctx, k, cell.Write, f.Call) != nil {
						failed++
					}
				}
			}
			return failed
		}
		phase := func(what string, until func() bool) {
			t.Helper()
			for range 120 {
				traffic()
				synctest.Wait()
				if until() {
					return
				}
				time.Sleep(time.Second)
			}
			t.Fatalf("%s: not after 120 s; stats %+v", what, c.Stats())
		}
		phase("panic", c.Breakers().Panicking)
		if !c.Stats().Panicking {
			t.Fatal("Stats().Panicking = false while the breakers panic")
		}
		// Failing open: every cell is available, and each call reports its
		// own error rather than the breaker's.
		for i := range cells {
			err := c.Do(ctx, keys[i][0], cell.Write, f.Call)
			if i < 7 && !errors.Is(err, celltest.ErrFault) {
				t.Fatalf("Do at failed %s while panicking = %v; want the cell's own error", cells[i].ID(), err)
			}
			if i >= 7 && err != nil {
				t.Fatalf("Do at healthy %s = %v", cells[i].ID(), err)
			}
		}
		for _, cl := range cells[:7] {
			cl.Recover()
		}
		phase("recovery", func() bool {
			for _, cl := range cells {
				if c.Breakers().State(cl.ID()) != breaker.Closed {
					return false
				}
			}
			return !c.Breakers().Panicking()
		})
		synctest.Wait()
		var started, ended int
		for _, e := range ev.breakers {
			switch e.Kind {
			case breaker.PanicStarted:
				started++
			case breaker.PanicEnded:
				ended++
			}
		}
		if started == 0 || ended != started {
			t.Fatalf("panic reported %d times started, %d ended; want it started and ended", started, ended)
		}
		if n := traffic(); n != 0 {
			t.Fatalf("%d calls failed after recovery", n)
		}
	})
}

// Scenario 7: a caller that cancels mid-call, or whose own deadline passes,
// leaves the cell's breaker unchanged.
func TestE2ECallerCancels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, InMemory: true})
		c := f.Client()
		slow := f.Cells()[0]
		slow.Slow(time.Minute)
		keys := f.KeysOf(slow.ID(), 20)
		hc := f.HTTPClient()
		for i, k := range keys {
			ctx, cancel := context.WithCancel(context.Background())
			if i%2 == 1 {
				ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
			}
			time.AfterFunc(50*time.Millisecond, cancel)
			var err error
			if i%4 < 2 {
				err = c.Do(ctx, k, cell.Write, f.Call)
			} else {
				_, _, err = get(ctx, hc, k)
			}
			if err == nil {
				t.Fatalf("call %d for %q succeeded against a cell that never answers in time", i, k)
			}
			cancel()
		}
		synctest.Wait()
		for _, s := range c.Breakers().Snapshot() {
			if s.Cell != slow.ID() {
				continue
			}
			if s.State != breaker.Closed || s.Counts.Failures != 0 || s.Totals.Failures != 0 || s.Totals.Ignored != uint64(len(keys)) {
				t.Fatalf("breaker of %s after %d cancelled calls: %+v; want closed with every call ignored", slow.ID(), len(keys), s)
			}
			return
		}
		t.Fatalf("no breaker for %s", slow.ID())
	})
}

// bodyCounter is an http.RoundTripper that counts the response bodies it
// hands out and those closed.
type bodyCounter struct {
	base           http.RoundTripper
	opened, closed atomic.Int64
}

func (b *bodyCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.base.RoundTrip(r)
	if err == nil {
		b.opened.Add(1)
		resp.Body = &countedBody{ReadCloser: resp.Body, n: &b.closed}
	}
	return resp, err
}

type countedBody struct {
	io.ReadCloser
	n    *atomic.Int64
	once sync.Once
}

func (b *countedBody) Close() error {
	b.once.Do(func() { b.n.Add(1) })
	return b.ReadCloser.Close()
}

// Scenario 8: hedging. The slow attempt is cancelled when the hedge
// succeeds, its outcome is not counted against its cell, and nothing is left
// behind: no goroutine (synctest checks it when the bubble ends, and the
// test in between) and no open body.
func TestE2EHedging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ev := newEvents()
		f := celltest.NewFleet(t, celltest.Config{
			Cells: 6, Zones: 3, ShardSize: 3, InMemory: true, Stateless: true,
			Client: cell.Config{Observer: ev.observer(), Hedge: cell.Hedge{Delay: 20 * time.Millisecond}},
		})
		c := f.Client()
		key := "tenant-hedged"
		r, err := c.Resolve(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		slow, second := f.Cell(r.Shard[0]), f.Cell(r.Shard[1])
		slow.Slow(time.Hour)
		synctest.Wait()
		before := bubbleGoroutines()

		start := time.Now()
		var served string
		err = c.Do(context.Background(), key, cell.Stateless, func(ctx context.Context, r cell.Route) error {
			err := f.Call(ctx, r)
			if err == nil {
				served = r.Cell
			}
			return err
		})
		if err != nil || served != second.ID() {
			t.Fatalf("hedged Do = %v, served by %q; want success by the hedge at %s", err, served, second.ID())
		}
		if took := time.Since(start); took != 20*time.Millisecond {
			t.Fatalf("hedged Do took %v; want the hedge delay, 20ms", took)
		}
		synctest.Wait()
		if n := bubbleGoroutines(); n != before {
			t.Fatalf("%d goroutines in the bubble after the hedged call; want %d as before", n, before)
		}
		if len(ev.hedges) != 1 || ev.hedges[0].From != slow.ID() || ev.hedges[0].To != second.ID() {
			t.Fatalf("hedges observed: %+v; want one from %s to %s", ev.hedges, slow.ID(), second.ID())
		}
		for _, s := range c.Breakers().Snapshot() {
			if s.Cell == slow.ID() && (s.Totals.Failures != 0 || s.Totals.Ignored != 1) {
				t.Fatalf("breaker of the slow cell: %+v; want its cancelled attempt ignored", s.Totals)
			}
		}
		for _, cs := range c.Stats().Cells {
			if cs.InFlight != 0 {
				t.Fatalf("cell %s has %d calls in flight after Do returned", cs.Cell, cs.InFlight)
			}
		}

		// Through the Transport: a failed attempt's reply, and a hedge's
		// cancelled request, leave no body open.
		bc := &bodyCounter{base: f.Base()}
		hc := &http.Client{Transport: c.Transport(bc, cell.KeyFromHeader(celltest.KeyHeader))}
		ctx := cell.WithClass(context.Background(), cell.Stateless)
		if code, body, err := get(ctx, hc, key); err != nil || code != http.StatusOK || body != second.ID() {
			t.Fatalf("hedged GET = %d %q, %v; want 200 from %s", code, body, err, second.ID())
		}
		slow.Recover()
		slow.Fail()
		if code, body, err := get(ctx, hc, key); err != nil || code != http.StatusOK || body != second.ID() {
			t.Fatalf("GET after a failure = %d %q, %v; want 200 from %s", code, body, err, second.ID())
		}
		if o, cl := bc.opened.Load(), bc.closed.Load(); o != 3 || cl != 3 {
			t.Fatalf("%d bodies opened, %d closed; want 3 (two winners and a failed reply), all closed", o, cl)
		}
		synctest.Wait()
		if n := bubbleGoroutines(); n > before+2*6 {
			t.Fatalf("%d goroutines after the HTTP calls; want at most %d (idle connections)", n, before+12)
		}
	})
}

// send sends method for key through hc, with a replayable body for writes.
func send(ctx context.Context, hc *http.Client, method, key string) (*http.Response, string, error) {
	var body io.Reader
	if method != http.MethodGet {
		body = strings.NewReader("payload")
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://fleet/orders", body)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set(celltest.KeyHeader, key)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// Scenario 4: a key migrates through copying, frozen, flipped and done, with
// a client that stays on an older map. Writes are refused only while frozen
// (ErrFrozen from the client that knows, 503 from the guard to the one that
// does not); after the flip the stale client gets a 421, refreshes once and
// succeeds, with a single redirect; no cell accepts a request for a key it
// does not own.
func TestE2EMigration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const key = "tenant-7"
		var violations []string
		var fleet *celltest.Fleet
		var mu sync.Mutex
		handler := func(id string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				k := r.Header.Get(celltest.KeyHeader)
				m := fleet.Cell(id).Map()
				owns := m.Owns(id, k)
				if r.Method != http.MethodGet {
					owns = m.OwnsWrite(id, k)
				}
				if !owns {
					mu.Lock()
					violations = append(violations, fmt.Sprintf("%s %s accepted by %s on v%d", r.Method, k, id, m.Version()))
					mu.Unlock()
				}
				io.WriteString(w, id)
			})
		}
		fleet = celltest.NewFleet(t, celltest.Config{Cells: 4, Explicit: true, InMemory: true, Handler: handler})
		f := fleet
		main := f.Client()
		mainHTTP := f.HTTPClient()

		src := f.Source()
		src.Hold(true)
		ev := newEvents()
		stale, err := f.NewClient(cell.Config{Source: src, Observer: ev.observer()})
		if err != nil {
			t.Fatal(err)
		}
		<-stale.Ready()
		staleHTTP := &http.Client{Transport: stale.Transport(f.Base(), cell.KeyFromHeader(celltest.KeyHeader))}
		// refused is stale too, and meets the Guard's frozen refusal, which
		// makes it refresh its map (stale keeps v1 for the redirect below).
		src2 := f.Source()
		src2.Hold(true)
		refused, err := f.NewClient(cell.Config{Source: src2})
		if err != nil {
			t.Fatal(err)
		}
		<-refused.Ready()
		refusedHTTP := &http.Client{Transport: refused.Transport(f.Base(), cell.KeyFromHeader(celltest.KeyHeader))}

		a0, _ := f.Map().Locate(key)
		from := f.Cell(a0.Cell)
		var to *celltest.Cell
		for _, c := range f.Cells() {
			if c != from {
				to = c
				break
			}
		}
		g := placement.Migration{Key: key}
		publish := func(edit func(*placement.Builder) error) {
			t.Helper()
			if _, err := f.Publish(edit); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		ctx := context.Background()
		expect := func(phase string, hc *http.Client, method string, code int, cellID string) {
			t.Helper()
			resp, body, err := send(ctx, hc, method, key)
			if err != nil {
				t.Fatalf("%s: %s %q: %v", phase, method, key, err)
			}
			if resp.StatusCode != code || (code == http.StatusOK && body != cellID) {
				t.Fatalf("%s: %s %q = %d %q; want %d from %s", phase, method, key, resp.StatusCode, body, code, cellID)
			}
		}

		publish(func(b *placement.Builder) error { return b.MigrateKey(key, to.ID()) })
		expect("copying", mainHTTP, http.MethodPost, http.StatusOK, from.ID())
		expect("copying, stale", staleHTTP, http.MethodPost, http.StatusOK, from.ID())

		publish(func(b *placement.Builder) error { return b.Advance(g) })
		called := false
		err = main.Do(ctx, key, cell.Write, func(context.Context, cell.Route) error { called = true; return nil })
		if !errors.Is(err, cell.ErrFrozen) || called {
			t.Fatalf("frozen: Do(Write) = %v, fn called %v; want ErrFrozen without calling fn", err, called)
		}
		if _, _, err := send(ctx, mainHTTP, http.MethodPost, key); !errors.Is(err, cell.ErrFrozen) {
			t.Fatalf("frozen: POST through the current client = %v; want ErrFrozen", err)
		}
		// The Guard's refusal has the shape of the client's own: an error.
		if _, _, err := send(ctx, refusedHTTP, http.MethodPost, key); !errors.Is(err, cell.ErrFrozen) {
			t.Fatalf("frozen, stale: POST = %v; want the guard's ErrFrozen", err)
		}
		if err := refused.Do(ctx, key, cell.Write, f.Call); !errors.Is(err, cell.ErrFrozen) {
			t.Fatalf("frozen: stale Do(Write) = %v; want the guard's ErrFrozen", err)
		}
		synctest.Wait()
		if v := refused.Map().Version(); v != f.Map().Version() {
			t.Fatalf("the client refused by the Guard is on v%d; want the frozen map v%d, refreshed", v, f.Map().Version())
		}
		expect("frozen, read", mainHTTP, http.MethodGet, http.StatusOK, from.ID())
		expect("frozen, stale read", staleHTTP, http.MethodGet, http.StatusOK, from.ID())
		if stale.Map().Version() != 1 {
			t.Fatalf("the stale client moved to v%d", stale.Map().Version())
		}

		publish(func(b *placement.Builder) error { return b.Advance(g) })
		flipped := f.Map().Version()
		expect("flipped", mainHTTP, http.MethodPost, http.StatusOK, to.ID())
		acceptedByFrom := from.Accepted()
		expect("flipped, stale", staleHTTP, http.MethodPost, http.StatusOK, to.ID())
		if len(ev.redirects) != 1 || ev.redirects[0].From != from.ID() || ev.redirects[0].To != to.ID() {
			t.Fatalf("redirects of the stale client: %+v; want one, from %s to %s", ev.redirects, from.ID(), to.ID())
		}
		if v := stale.Map().Version(); v != flipped {
			t.Fatalf("the stale client is on v%d after the redirect; want v%d", v, flipped)
		}
		if from.Accepted() != acceptedByFrom {
			t.Fatalf("%s accepted the stale client's write after the flip", from.ID())
		}
		expect("flipped, stale again", staleHTTP, http.MethodPost, http.StatusOK, to.ID())
		expect("flipped, read", mainHTTP, http.MethodGet, http.StatusOK, to.ID())
		if len(ev.redirects) != 1 {
			t.Fatalf("%d redirects; want the one", len(ev.redirects))
		}

		publish(func(b *placement.Builder) error { return b.Advance(g) })
		if len(f.Map().Migrations()) != 0 {
			t.Fatalf("migrations left after done: %v", f.Map().Migrations())
		}
		expect("done", mainHTTP, http.MethodPost, http.StatusOK, to.ID())
		expect("done, read", mainHTTP, http.MethodGet, http.StatusOK, to.ID())
		if len(violations) != 0 {
			t.Fatalf("requests accepted by a cell that does not own the key: %v", violations)
		}
	})
}

// Scenario 5: the control plane goes down. The client keeps serving the last
// map, whose age Stats shows growing; a new client started with only the
// last-known-good file serves at once; when the control plane comes back the
// next version is picked up.
func TestE2EControlPlaneDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		lkg := filepath.Join(dir, "map.json")
		f := celltest.NewFleet(t, celltest.Config{Cells: 6, Zones: 3, InMemory: true, Client: cell.Config{LastGood: lkg}})
		c := f.Client()
		ctx := context.Background()
		keys := f.Keys(50)
		serve := func(c *cell.Client, what string) {
			t.Helper()
			for _, k := range keys {
				if err := c.Do(ctx, k, cell.Write, f.Call); err != nil {
					t.Fatalf("%s: Do(%q) = %v", what, k, err)
				}
			}
		}
		synctest.Wait()
		if _, err := os.Stat(lkg); err != nil {
			t.Fatalf("no last-known-good file after the first map: %v", err)
		}

		f.ControlPlaneDown()
		synctest.Wait()
		age0 := c.Stats().MapAge
		time.Sleep(time.Minute)
		synctest.Wait()
		serve(c, "control plane down")
		st := c.Stats()
		if st.MapAge < age0+time.Minute || st.Version != 1 {
			t.Fatalf("Stats with the control plane down: age %v (was %v), v%d; want v1 a minute older", st.MapAge, age0, st.Version)
		}
		if !errors.Is(st.LastError, source.ErrFetch) || st.SourceErrors == 0 {
			t.Fatalf("Stats().LastError = %v after %d errors; want the source's ErrFetch", st.LastError, st.SourceErrors)
		}

		// A new process: only the last-known-good file, no control plane.
		lkg2 := filepath.Join(dir, "copy.json")
		saved, err := source.LoadFile(lkg, placement.Options{})
		if err != nil {
			t.Fatalf("LoadFile(%s) of the client's last-known-good file: %v", lkg, err)
		}
		if err := source.SaveFile(lkg2, saved); err != nil {
			t.Fatal(err)
		}
		fresh, err := f.NewClient(cell.Config{LastGood: lkg2})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case <-fresh.Ready():
		default:
			t.Fatal("a client with a last-known-good file is not ready with the control plane down")
		}
		if s := fresh.Stats(); s.MapOrigin != "last-good" || s.Version != 1 {
			t.Fatalf("fresh client: origin %q, v%d; want the last-known-good v1", s.MapOrigin, s.Version)
		}
		serve(fresh, "fresh client on the last-known-good map")

		m2, err := f.Publish(func(b *placement.Builder) error {
			return b.SetLabels(f.Cells()[0].ID(), map[string]string{"rev": "2"})
		})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if c.Map().Version() != 1 || fresh.Map().Version() != 1 {
			t.Fatal("a map was delivered with the control plane down")
		}
		f.ControlPlaneUp()
		synctest.Wait()
		for _, cl := range []*cell.Client{c, fresh} {
			if v := cl.Map().Version(); v != m2.Version() {
				t.Fatalf("after the control plane came back: v%d; want v%d", v, m2.Version())
			}
		}
		serve(c, "control plane back")
		if m, err := source.LoadFile(lkg, placement.Options{}); err != nil || m.Version() != m2.Version() {
			t.Fatalf("last-known-good file holds %v, %v; want v%d", m, err, m2.Version())
		}
	})
}

// Scenario 6: a bad document and a lower version are pushed; both are
// refused and reported, and the map in force stays.
func TestE2EBadMaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ev := newEvents()
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, InMemory: true, Client: cell.Config{Observer: ev.observer()}})
		c := f.Client()
		v1 := f.Map()
		// Each publication is awaited until the client reports it: the
		// fleet's feed keeps only the newest one, and synctest.Wait does not
		// wait for a goroutine blocked on a mutex, so a Wait alone could let
		// two publications merge into one.
		heard := func(n int) {
			t.Helper()
			for range 1000 {
				synctest.Wait()
				ev.lock()
				got := len(ev.maps)
				ev.unlock()
				if got >= n {
					return
				}
				time.Sleep(time.Millisecond)
			}
			t.Fatalf("the client reported fewer than %d map updates", n)
		}
		heard(1)
		v2, err := f.Publish(nil)
		if err != nil {
			t.Fatal(err)
		}
		heard(2)

		f.PublishDocument([]byte(`{"version": 3, "cells": [`))
		heard(3)
		f.PublishMap(v1)
		heard(4)
		other, err := placement.Parse([]byte(`{"version": 2, "cells": [{"id": "x1"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		f.PublishMap(other)
		heard(5)

		if c.Map() != v2 {
			t.Fatalf("map in force is v%d; want v2 kept", c.Map().Version())
		}
		st := c.Stats()
		if st.SourceErrors != 1 || st.Rejected != 2 || st.Updates != 2 {
			t.Fatalf("Stats: %d source errors, %d rejected, %d updates; want 1, 2, 2", st.SourceErrors, st.Rejected, st.Updates)
		}
		if !errors.Is(st.LastError, source.ErrStaleVersion) {
			t.Fatalf("Stats().LastError = %v; want ErrStaleVersion", st.LastError)
		}
		var refused []cell.MapUpdate
		for _, u := range ev.maps {
			if !u.Accepted {
				refused = append(refused, u)
			}
		}
		if len(refused) != 3 ||
			!errors.Is(refused[0].Err, placement.ErrSyntax) || refused[0].Previous != 2 ||
			!errors.Is(refused[1].Err, source.ErrStaleVersion) || refused[1].Version != 1 ||
			!errors.Is(refused[2].Err, source.ErrStaleVersion) || refused[2].Version != 2 {
			t.Fatalf("refusals observed: %+v; want the bad document, v1, and another v2", refused)
		}
		if err := c.Do(context.Background(), "k", cell.Write, f.Call); err != nil {
			t.Fatalf("Do on the map kept: %v", err)
		}
	})
}

// Scenario 9: 64 goroutines resolve and call while the map is swapped 1,000
// times (run it with -race): no error, and each goroutine sees versions only
// grow.
func TestE2EConcurrentSwaps(t *testing.T) {
	swaps := 1000
	if testing.Short() {
		swaps = 100
	}
	swapped := make(chan uint64, 1)
	f := celltest.NewFleet(t, celltest.Config{Cells: 12, Zones: 3, ShardSize: 3, Buckets: 1024, Stateless: true,
		Client: cell.Config{Observer: cell.Observer{MapUpdate: func(u cell.MapUpdate) {
			if u.Accepted {
				select {
				case swapped <- u.Version:
				default:
				}
			}
		}}}})
	c := f.Client()
	<-swapped
	keys := f.Keys(512)
	done := make(chan struct{})
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	var calls atomic.Int64
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			var last uint64
			for i := g; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				k := keys[i%len(keys)]
				r, err := c.Resolve(ctx, k)
				if err == nil && r.Version < last {
					err = fmt.Errorf("Resolve(%q) on v%d after v%d", k, r.Version, last)
				}
				if err == nil {
					last = r.Version
					err = c.Do(ctx, k, cell.Class(i%3), f.Call)
				}
				if err != nil {
					errs <- err
					return
				}
				calls.Add(1)
				if i%16 == 0 {
					runtime.Gosched() // let the client's Run goroutine swap maps in
				}
			}
		}()
	}
	var final uint64
	for i := range swaps {
		m, err := f.Publish(func(b *placement.Builder) error {
			return b.SetLabels(f.Cells()[i%12].ID(), map[string]string{"rev": fmt.Sprint(i)})
		})
		if err != nil {
			t.Fatal(err)
		}
		final = m.Version()
		// Wait for the swap, so that the client swaps every version.
		select {
		case <-swapped:
		case <-time.After(10 * time.Second):
			t.Fatalf("v%d not swapped in after 10s", final)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if v := c.Map().Version(); v != final {
		t.Fatalf("client on v%d; want v%d", v, final)
	}
	if st := c.Stats(); st.Updates != uint64(swaps)+1 {
		t.Fatalf("the client accepted %d maps; want %d", st.Updates, swaps+1)
	}
	t.Logf("%d calls during %d swaps", calls.Load(), swaps)
}

// bubbleGoroutines counts the goroutines of the caller's synctest bubble.
// runtime.NumGoroutine counts the whole process, where goroutines of other
// tests (a closing connection, a timer) come and go at any moment.
func bubbleGoroutines() int {
	buf := make([]byte, 1<<20)
	self := string(buf[:runtime.Stack(buf, false)])
	i := strings.Index(self, "synctest bubble ")
	if i < 0 {
		return runtime.NumGoroutine() // not in a bubble
	}
	j := strings.IndexByte(self[i:], ']')
	tag := self[i : i+j+1] // "synctest bubble N]"
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			count := 0
			for _, line := range strings.Split(string(buf[:n]), "\n") {
				if strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, tag+":") {
					count++
				}
			}
			return count
		}
		buf = make([]byte, 2*len(buf))
	}
}
