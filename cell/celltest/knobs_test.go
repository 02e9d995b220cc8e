package celltest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
	"github.com/cellkit/cellkit/placement"
)

// reply is what one request to a cell got.
type reply struct {
	code int
	h    http.Header
	body string
	err  error
}

// hit sends a GET for key straight to cell c over the fleet's raw transport,
// as a client whose map is the fleet's would.
func hit(ctx context.Context, f *celltest.Fleet, c *celltest.Cell, key string) reply {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL()+"/", nil)
	if err != nil {
		return reply{err: err}
	}
	req.Header.Set(celltest.KeyHeader, key)
	req.Header.Set(cell.HeaderMapVersion, strconv.FormatUint(f.Map().Version(), 10))
	resp, err := f.Base().RoundTrip(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{code: resp.StatusCode, h: resp.Header, body: string(b), err: err}
}

// call makes a fake Call for key at cell c.
func call(ctx context.Context, f *celltest.Fleet, c *celltest.Cell, key string) error {
	return f.Call(ctx, cell.Route{Key: key, Cell: c.ID(), Version: f.Map().Version(), Class: cell.Write})
}

// counts is a cell's four counters.
type counts struct{ requests, failures, accepted, refused uint64 }

func countsOf(c *celltest.Cell) counts {
	return counts{c.Requests(), c.Failures(), c.Accepted(), c.Refused()}
}

func (a counts) minus(b counts) counts {
	return counts{a.requests - b.requests, a.failures - b.failures, a.accepted - b.accepted, a.refused - b.refused}
}

// healthy checks that cell c serves key, over HTTP and through Call, and
// counts both as accepted.
func healthy(t *testing.T, f *celltest.Fleet, c *celltest.Cell, key, what string) {
	t.Helper()
	before := countsOf(c)
	ctx := context.Background()
	if r := hit(ctx, f, c, key); r.err != nil || r.code != http.StatusOK || r.body != c.ID() {
		t.Fatalf("%s: GET %s = %d %q, %v; want 200 %q", what, c.ID(), r.code, r.body, r.err, c.ID())
	}
	if err := call(ctx, f, c, key); err != nil {
		t.Fatalf("%s: Call at %s = %v; want nil", what, c.ID(), err)
	}
	if d := countsOf(c).minus(before); d != (counts{requests: 2, accepted: 2}) {
		t.Fatalf("%s: counters moved by %+v; want 2 requests, 2 accepted", what, d)
	}
}

func TestFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{InMemory: true})
		c := f.Cells()[1]
		key := f.KeysOf(c.ID(), 1)[0]
		healthy(t, f, c, key, "before Fail")
		c.Fail()
		before := countsOf(c)
		ctx := context.Background()
		r := hit(ctx, f, c, key)
		if r.err != nil || r.code != http.StatusInternalServerError || r.h.Get(cell.HeaderCell) != c.ID() {
			t.Fatalf("GET a failing cell = %d (Cell-Id %q), %v; want 500 from %s", r.code, r.h.Get(cell.HeaderCell), r.err, c.ID())
		}
		err := call(ctx, f, c, key)
		if !errors.Is(err, celltest.ErrFault) {
			t.Fatalf("Call at a failing cell = %v; want ErrFault", err)
		}
		if d := countsOf(c).minus(before); d != (counts{requests: 2, failures: 2}) {
			t.Fatalf("counters moved by %+v; want 2 requests, 2 failures", d)
		}
		// The other cells are untouched.
		for _, o := range f.Cells() {
			if o != c {
				healthy(t, f, o, f.KeysOf(o.ID(), 1)[0], "a neighbour of a failing cell")
			}
		}
		c.Recover()
		healthy(t, f, c, key, "after Recover")
	})
}

func TestSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{InMemory: true})
		c := f.Cells()[0]
		key := f.KeysOf(c.ID(), 1)[0]
		c.Slow(300 * time.Millisecond)
		start := time.Now()
		if err := call(context.Background(), f, c, key); err != nil {
			t.Fatalf("Call at a slow cell = %v", err)
		}
		if d := time.Since(start); d != 300*time.Millisecond {
			t.Fatalf("Call at a cell slowed by 300ms took %v", d)
		}
		start = time.Now()
		if r := hit(context.Background(), f, c, key); r.code != http.StatusOK || time.Since(start) < 300*time.Millisecond {
			t.Fatalf("GET at a slow cell = %d, %v after %v; want 200 after 300ms", r.code, r.err, time.Since(start))
		}

		// A caller that gives up first gets no answer, and its request is
		// neither a failure nor accepted.
		before := countsOf(c)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start = time.Now()
		err := call(ctx, f, c, key)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("Call with 100ms at a 300ms cell = %v after %v; want the deadline after 100ms", err, time.Since(start))
		}
		if d := countsOf(c).minus(before); d != (counts{requests: 1}) {
			t.Fatalf("counters moved by %+v; want 1 request only", d)
		}
		c.Slow(0)
		start = time.Now()
		healthy(t, f, c, key, "after Slow(0)")
		if d := time.Since(start); d != 0 {
			t.Fatalf("after Slow(0) the calls took %v", d)
		}
	})
}

func TestErrorRate(t *testing.T) {
	const n, p = 2000, 0.3
	draws := func(seed uint64) []bool {
		var out []bool
		synctest.Test(t, func(t *testing.T) {
			f := celltest.NewFleet(t, celltest.Config{InMemory: true, Seed: seed})
			c := f.Cells()[2]
			key := f.KeysOf(c.ID(), 1)[0]
			c.ErrorRate(p)
			for range n {
				err := call(context.Background(), f, c, key)
				if err != nil && !errors.Is(err, celltest.ErrFault) {
					t.Fatalf("Call at a cell with an error rate = %v; want nil or ErrFault", err)
				}
				out = append(out, err != nil)
			}
			failed := 0
			for _, b := range out {
				if b {
					failed++
				}
			}
			if got := c.Failures(); got != uint64(failed) || c.Accepted() != uint64(n-failed) {
				t.Fatalf("Failures() = %d, Accepted() = %d; want %d and %d", got, c.Accepted(), failed, n-failed)
			}
			c.ErrorRate(0)
			healthy(t, f, c, key, "after ErrorRate(0)")
		})
		return out
	}
	a, b, other := draws(1), draws(1), draws(2)
	failed := 0
	for _, x := range a {
		if x {
			failed++
		}
	}
	// 2000 draws at 0.3: mean 600, standard deviation 20.5; ±5σ.
	if failed < 500 || failed > 700 {
		t.Fatalf("%d of %d calls failed at ErrorRate(%v); want 600 ± 100", failed, n, p)
	}
	same := func(x, y []bool) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Fatal("two fleets with the same Seed failed different calls")
	}
	if same(a, other) {
		t.Fatal("fleets with seeds 1 and 2 failed the same calls")
	}
}

func TestBlackhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{InMemory: true})
		c := f.Cells()[0]
		key := f.KeysOf(c.ID(), 1)[0]
		c.Blackhole()
		before := countsOf(c)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		if err := call(ctx, f, c, key); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 2*time.Second {
			t.Fatalf("Call at a black hole = %v after %v; want the caller's deadline after 2s", err, time.Since(start))
		}
		start = time.Now()
		if r := hit(ctx, f, c, key); !errors.Is(r.err, context.DeadlineExceeded) || time.Since(start) != 0 {
			t.Fatalf("GET at a black hole with the deadline passed = %d, %v", r.code, r.err)
		}
		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		if r := hit(ctx2, f, c, key); !errors.Is(r.err, context.DeadlineExceeded) {
			t.Fatalf("GET at a black hole = %d, %v; want the caller's deadline", r.code, r.err)
		}
		synctest.Wait() // the server side of the abandoned GET has returned
		if d := countsOf(c).minus(before); d.failures != d.requests || d.requests < 2 || d.accepted+d.refused != 0 {
			t.Fatalf("counters moved by %+v; want every request a failure", d)
		}
		c.Recover()
		healthy(t, f, c, key, "after Recover")

		// Cleanup ends a request the black hole holds: the bubble would not
		// end otherwise.
		c.Blackhole()
		go hit(context.Background(), f, c, key)
		synctest.Wait()
	})
}

func TestMoveTo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{InMemory: true})
		c, to := f.Cells()[0], f.Cells()[2]
		key := f.KeysOf(c.ID(), 1)[0]
		c.MoveTo(to.ID())
		before := countsOf(c)
		ctx := context.Background()
		r := hit(ctx, f, c, key)
		v := strconv.FormatUint(f.Map().Version(), 10)
		if r.code != http.StatusMisdirectedRequest || r.h.Get(cell.HeaderOwner) != to.ID() || r.h.Get(cell.HeaderMapVersion) != v {
			t.Fatalf("GET at a cell moved to %s = %d, owner %q, version %q; want 421, %s, %s",
				to.ID(), r.code, r.h.Get(cell.HeaderOwner), r.h.Get(cell.HeaderMapVersion), to.ID(), v)
		}
		var me *cell.MovedError
		if err := call(ctx, f, c, key); !errors.As(err, &me) || me.Cell != to.ID() || me.Version != f.Map().Version() {
			t.Fatalf("Call at a cell moved to %s = %v; want a MovedError to it at v%d", to.ID(), err, f.Map().Version())
		}
		if d := countsOf(c).minus(before); d != (counts{requests: 2, refused: 2}) {
			t.Fatalf("counters moved by %+v; want 2 requests, 2 refused", d)
		}
		c.MoveTo("")
		healthy(t, f, c, key, "after MoveTo(\"\")")
	})
}

func TestFlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{InMemory: true})
		c := f.Cells()[1]
		key := f.KeysOf(c.ID(), 1)[0]
		ctx := context.Background()
		c.Flap(time.Second, 2*time.Second, 500*time.Millisecond, -time.Hour)
		// Failing [0, 1s), healthy [1s, 3s), failing [3s, 3.5s), the
		// negative step counts as none, then around again from 3.5s.
		steps := []struct {
			at   time.Duration
			fail bool
		}{
			{0, true}, {999 * time.Millisecond, true}, {time.Second, false}, {2999 * time.Millisecond, false},
			{3 * time.Second, true}, {3499 * time.Millisecond, true}, {3500 * time.Millisecond, true},
			{4500 * time.Millisecond, false}, {7 * time.Second, true}, {7500 * time.Millisecond, true}, {8 * time.Second, false},
		}
		start := time.Now()
		for _, s := range steps {
			time.Sleep(time.Until(start.Add(s.at)))
			err := call(ctx, f, c, key)
			if got := err != nil; got != s.fail || (err != nil && !errors.Is(err, celltest.ErrFault)) {
				t.Fatalf("Call at %v into the flap = %v; want failing %v", s.at, err, s.fail)
			}
		}
		c.Flap()
		for range 3 {
			healthy(t, f, c, key, "after Flap()")
			time.Sleep(time.Second)
		}
		c.Flap(0, -time.Second) // no time at all: not a flap
		healthy(t, f, c, key, "after an empty schedule")
	})
}

func TestRecoverClearsEveryKnob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{InMemory: true})
		c := f.Cells()[0]
		key := f.KeysOf(c.ID(), 1)[0]
		c.Fail()
		c.Slow(time.Hour)
		c.ErrorRate(1)
		c.Blackhole()
		c.MoveTo(f.Cells()[1].ID())
		c.Flap(time.Hour, time.Hour)
		c.Recover()
		start := time.Now()
		healthy(t, f, c, key, "after Recover")
		if time.Since(start) != 0 {
			t.Fatal("Recover did not end Slow")
		}
	})
}

// TestGuardCounters checks the guard's refusals, each counted once as
// refused: a key the cell does not own (421), a request without a key (400),
// a request on a newer map than the one PinMap holds the cell to (503
// behind), and a write of a frozen key (503 frozen).
func TestGuardCounters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, InMemory: true, Explicit: true})
		c, other := f.Cells()[0], f.Cells()[1]
		ctx := context.Background()
		theirs := f.KeysOf(other.ID(), 1)[0]
		before := countsOf(c)
		if r := hit(ctx, f, c, theirs); r.code != http.StatusMisdirectedRequest || r.h.Get(cell.HeaderOwner) != other.ID() {
			t.Fatalf("GET of %s's key at %s = %d, owner %q; want 421 naming %s", other.ID(), c.ID(), r.code, r.h.Get(cell.HeaderOwner), other.ID())
		}
		if r := hit(ctx, f, c, ""); r.code != http.StatusBadRequest {
			t.Fatalf("GET without a key = %d; want 400", r.code)
		}
		var me *cell.MovedError
		if err := call(ctx, f, c, theirs); !errors.As(err, &me) || me.Cell != other.ID() {
			t.Fatalf("Call of %s's key at %s = %v; want a MovedError", other.ID(), c.ID(), err)
		}
		if d := countsOf(c).minus(before); d != (counts{requests: 3, refused: 3}) {
			t.Fatalf("counters moved by %+v; want 3 requests, 3 refused", d)
		}

		// PinMap: the cell keeps judging on v1 after the key moved to it.
		v1 := f.Map()
		c.PinMap(v1)
		if _, err := f.Publish(func(b *placement.Builder) error { return b.Pin(theirs, c.ID()) }); err != nil {
			t.Fatal(err)
		}
		if c.Map() != v1 || other.Map() == v1 {
			t.Fatal("Map() does not report the pinned map of a pinned cell and the latest of the others")
		}
		r := hit(ctx, f, c, theirs)
		if r.code != http.StatusServiceUnavailable || r.h.Get(cell.HeaderRefused) == "" {
			t.Fatalf("GET on a newer map at a cell pinned to v1 = %d %q; want 503 behind", r.code, r.h.Get(cell.HeaderRefused))
		}
		var re *cell.RefusedError
		if err := call(ctx, f, c, theirs); !errors.As(err, &re) || !errors.Is(err, cell.ErrCellBehind) || re.RetryAfter != time.Second {
			t.Fatalf("Call on a newer map at a cell pinned to v1 = %v; want a RefusedError, behind, retry after 1s", err)
		}
		c.PinMap(nil)
		healthy(t, f, c, theirs, "after PinMap(nil)")

		// A write of a key whose migration is frozen.
		frozen := f.KeysOf(c.ID(), 2)[1]
		g := placement.Migration{Key: frozen}
		if _, err := f.Publish(func(b *placement.Builder) error { return b.MigrateKey(frozen, other.ID()) }); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Publish(func(b *placement.Builder) error { return b.Advance(g) }); err != nil {
			t.Fatal(err)
		}
		if a, _ := f.Map().Locate(frozen); a.Writable || a.Cell != c.ID() {
			t.Fatalf("the migrating key is at %s, writable %v; want frozen at %s", a.Cell, a.Writable, c.ID())
		}
		before = countsOf(c)
		if err := call(ctx, f, c, frozen); !errors.As(err, &re) || !errors.Is(err, cell.ErrFrozen) || re.RetryAfter != time.Second {
			t.Fatalf("Call writing a frozen key = %v; want a RefusedError, frozen, retry after 1s", err)
		}
		if d := countsOf(c).minus(before); d != (counts{requests: 1, refused: 1}) {
			t.Fatalf("counters moved by %+v; want 1 request, 1 refused", d)
		}
	})
}
