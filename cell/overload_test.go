package cell_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
	"github.com/cellkit/cellkit/placement/source"
)

// The protocol's pushback and throttling replies, both ways.
func TestProtocolOverload(t *testing.T) {
	h := func(kv ...string) http.Header {
		x := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			x.Set(kv[i], kv[i+1])
		}
		return x
	}
	for _, c := range []struct {
		name   string
		status int
		h      http.Header
		want   error // the sentinel matched; nil: not a protocol reply
		wait   time.Duration
	}{
		{"429 with Retry-After", 429, h("Retry-After", "3"), cell.ErrOverloaded, 3 * time.Second},
		{"503 with Retry-After", 503, h("Retry-After", "2"), cell.ErrOverloaded, 2 * time.Second},
		{"503 with Retry-After 0", 503, h("Retry-After", "0"), cell.ErrOverloaded, 0},
		{"429 throttled", 429, h("Retry-After", "1", "Cell-Refused", "throttled"), cell.ErrThrottled, time.Second},
		{"503 behind", 503, h("Retry-After", "1", "Cell-Refused", "behind", "Cell-Map-Version", "3"), cell.ErrCellBehind, time.Second},
		{"503 with an unknown refusal", 503, h("Retry-After", "1", "Cell-Refused", "tired"), nil, 0},
		{"429 without Retry-After", 429, h(), nil, 0},
		{"503 without Retry-After", 503, h(), nil, 0},
		{"503 with a malformed Retry-After", 503, h("Retry-After", "soon"), nil, 0},
		{"500 with Retry-After", 500, h("Retry-After", "1"), nil, 0},
	} {
		err := cell.DecodeReply(c.status, c.h)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: DecodeReply = %v; want nil", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: DecodeReply = %v; want one matching %v", c.name, err, c.want)
			continue
		}
		var got time.Duration
		switch e := err.(type) {
		case *cell.OverloadedError:
			got = e.RetryAfter
		case *cell.ThrottledError:
			got = e.RetryAfter
		case *cell.RefusedError:
			got = e.RetryAfter
		}
		if got != c.wait {
			t.Errorf("%s: RetryAfter %v; want %v", c.name, got, c.wait)
		}
	}
	// The encoders write what the decoder reads.
	w := httptest.NewRecorder()
	cell.WriteThrottled(w, 1500*time.Millisecond)
	if err := cell.DecodeReply(w.Code, w.Header()); w.Code != 429 || !errors.Is(err, cell.ErrThrottled) || err.(*cell.ThrottledError).RetryAfter != 2*time.Second {
		t.Errorf("WriteThrottled: %d %v → %v; want 429, a throttle of 2s", w.Code, w.Header(), err)
	}
	w = httptest.NewRecorder()
	cell.WriteOverloaded(w, 0)
	if err := cell.DecodeReply(w.Code, w.Header()); w.Code != 503 || !errors.Is(err, cell.ErrOverloaded) || err.(*cell.OverloadedError).RetryAfter != time.Second {
		t.Errorf("WriteOverloaded: %d %v → %v; want 503, a pushback of 1s", w.Code, w.Header(), err)
	}
	// gRPC: RESOURCE_EXHAUSTED is the pushback, with its pushback header.
	err := cell.DecodeGRPC(8, h("Grpc-Retry-Pushback-Ms", "250"))
	if oe, ok := err.(*cell.OverloadedError); !ok || oe.RetryAfter != 250*time.Millisecond {
		t.Errorf("DecodeGRPC(8, 250 ms) = %v; want a pushback of 250ms", err)
	}
	if err := cell.DecodeGRPC(8, h("Grpc-Retry-Pushback-Ms", "-1")); !errors.Is(err, cell.ErrOverloaded) || err.(*cell.OverloadedError).RetryAfter != 0 {
		t.Errorf("DecodeGRPC(8, -1) = %v; want a pushback naming no wait", err)
	}
	for _, code := range []int{0, 2, 14} {
		if err := cell.DecodeGRPC(code, h()); err != nil {
			t.Errorf("DecodeGRPC(%d) = %v; want nil", code, err)
		}
	}
}

func TestLimitConfigErrors(t *testing.T) {
	src := source.NewStatic(nil)
	for _, c := range []struct {
		cfg   cell.Config
		field string
	}{
		{cell.Config{Source: src, MaxInFlight: 3, Limit: cell.Limit{Max: 5}}, "MaxInFlight"},
		{cell.Config{Source: src, Limit: cell.Limit{Max: 5, Min: 6}}, "Limit.Min"},
		{cell.Config{Source: src, Limit: cell.Limit{Max: -1}}, "Limit.Max"},
	} {
		_, err := cell.NewClient(c.cfg)
		var ce *cell.ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field || !errors.Is(err, cell.ErrConfig) {
			t.Errorf("NewClient(%+v) = %v; want a *ConfigError naming %s", c.cfg.Limit, err, c.field)
		}
	}
	_, err := cell.NewGuard(cell.GuardConfig{Cell: "c1", Map: source.Fixed(nil), Key: cell.KeyFromHeader("K"), Next: http.NotFoundHandler(),
		Fairness: cell.Fairness{Rate: -1}})
	var ce *cell.ConfigError
	if !errors.As(err, &ce) || ce.Field != "GuardConfig.Fairness.Rate" {
		t.Errorf("NewGuard with a negative Fairness.Rate = %v; want a *ConfigError naming it", err)
	}
}

// A cell over its limit is skipped at once with RejectLimit: a Write gets
// an *UnavailableError, a Stateless call the next cell of its shard.
func TestLimitRejects(t *testing.T) {
	f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 2, Stateless: true})
	c := newClient(t, f, cell.Config{Limit: cell.Limit{Min: 1, Max: 1}})
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
	if err := c.Do(ctx, key, cell.Write, nop); !errors.As(err, &ue) || ue.Reason != cell.RejectLimit || ue.Cell != r.Cell {
		t.Fatalf("Do(Write) over the home's limit = %v; want RejectLimit for %s", err, r.Cell)
	}
	rec := &recorder{fn: f.Call}
	if err := c.Do(ctx, key, cell.Stateless, rec.call); err != nil || len(rec.cells) != 1 || rec.cells[0] != r.Shard[1] {
		t.Fatalf("Do(Stateless) over the home's limit = %v at %v; want served by %s", err, rec.cells, r.Shard[1])
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, cs := range c.Stats().Cells {
		if cs.Limit != 1 || cs.InFlight != 0 {
			t.Errorf("Stats of %s: limit %d, %d in flight; want 1, 0", cs.Cell, cs.Limit, cs.InFlight)
		}
		if cs.Cell == r.Cell && cs.Rejected[cell.RejectLimit] != 2 {
			t.Errorf("Stats of %s: %d rejected by its limit; want 2", cs.Cell, cs.Rejected[cell.RejectLimit])
		}
	}
}

// A cell's pushback over HTTP (503 with Retry-After, without Cell-Refused)
// is not a failure of the cell: its breaker sees no failure, its limit
// halves, it gets no new attempt until the wait is over, a Stateless call
// is served by its shard peer, and a Write gets a typed retryable error with
// the time to wait. Before the overload work the reply was a 5xx failure:
// the cell's breaker counted it and opened after five.
func TestPushbackBacksOffOneCell(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pushing string
		handler := func(id string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if id == pushing {
					w.Header().Set("Retry-After", "2")
					http.Error(w, "busy", http.StatusServiceUnavailable)
					return
				}
				w.Write([]byte(id))
			})
		}
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 2, Stateless: true, InMemory: true, Handler: handler})
		c := newClient(t, f, cell.Config{Limit: cell.Limit{Max: 40, Initial: 40}})
		hc := &http.Client{Transport: c.Transport(f.Base(), cell.KeyFromHeader(celltest.KeyHeader))}
		ctx := cell.WithClass(context.Background(), cell.Stateless)
		key := f.Keys(1)[0]
		r, _ := c.Resolve(ctx, key)
		home, peer := r.Shard[0], r.Shard[1]
		pushing = home
		get := func(method string) (*http.Response, error) {
			req, _ := http.NewRequestWithContext(ctx, method, "http://svc/x", nil)
			req.Header.Set(celltest.KeyHeader, key)
			resp, err := hc.Do(req)
			if resp != nil {
				resp.Body.Close()
			}
			return resp, err
		}
		// A Stateless request: the peer serves.
		resp, err := get(http.MethodGet)
		if err != nil || resp.Header.Get(cell.HeaderCell) != peer {
			t.Fatalf("GET with the home pushing back = %v, %v; want served by %s", resp, err, peer)
		}
		st := cellStats(c, home)
		if st.Failures != 0 || st.Limit != 20 || st.Held < 2*time.Second || st.Held > 2500*time.Millisecond {
			t.Fatalf("home after its pushback: %d failures, limit %d, held %v; want 0, 20, 2s..2.5s", st.Failures, st.Limit, st.Held)
		}
		// While it holds, the home gets no attempt at all.
		for range 10 {
			if _, err := get(http.MethodGet); err != nil {
				t.Fatal(err)
			}
		}
		if st := cellStats(c, home); st.Attempts != 1 || st.Rejected[cell.RejectOverloaded] != 10 {
			t.Fatalf("home during its hold: %d attempts, %d rejected; want 1 and 10 RejectOverloaded", st.Attempts, st.Rejected[cell.RejectOverloaded])
		}
		// A Write has its home only: a typed retryable error with the wait.
		err = c.Do(ctx, key, cell.Write, func(context.Context, cell.Route) error { return nil })
		var ue *cell.UnavailableError
		var oe *cell.OverloadedError
		if !errors.As(err, &ue) || ue.Reason != cell.RejectOverloaded || !errors.As(err, &oe) || oe.RetryAfter <= time.Second || !errors.Is(err, cell.ErrOverloaded) {
			t.Fatalf("Write during the hold = %v; want an *UnavailableError (RejectOverloaded) with an *OverloadedError to wait > 1s", err)
		}
		// After the hold, the home is tried again; its answer is the
		// Write's, typed.
		time.Sleep(3 * time.Second)
		err = c.Do(ctx, key, cell.Write, func(ctx context.Context, r cell.Route) error {
			return &cell.OverloadedError{Key: r.Key, Cell: r.Cell, RetryAfter: 5 * time.Second}
		})
		var ce *cell.CallError
		if !errors.As(err, &ce) || !errors.As(err, &oe) || oe.RetryAfter != 5*time.Second {
			t.Fatalf("Write pushed back = %v; want a *CallError with the cell's *OverloadedError", err)
		}
		if br := cellStats(c, home); br.Failures != 0 || br.Breaker != breaker.Closed {
			t.Errorf("home after pushbacks: %d failures, breaker %v; want none, closed", br.Failures, br.Breaker)
		}
	})
}

func cellStats(c *cell.Client, id string) cell.CellStats {
	for _, cs := range c.Stats().Cells {
		if cs.Cell == id {
			return cs
		}
	}
	return cell.CellStats{}
}

// A key over its share is refused for that key only: a *ThrottledError,
// no failover, nothing against the cell, no hold; other keys are served.
func TestThrottledKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 2, Stateless: true, InMemory: true,
			Fairness: cell.Fairness{Rate: 1, Burst: 2}})
		c := newClient(t, f, cell.Config{Limit: cell.Limit{Max: 40}})
		ctx := context.Background()
		keys := f.Keys(2)
		rec := &recorder{fn: f.Call}
		for i := range 2 {
			if err := c.Do(ctx, keys[0], cell.Stateless, rec.call); err != nil {
				t.Fatalf("request %d within the burst: %v", i, err)
			}
		}
		rec.take()
		err := c.Do(ctx, keys[0], cell.Stateless, rec.call)
		var te *cell.ThrottledError
		if !errors.As(err, &te) || !errors.Is(err, cell.ErrThrottled) || te.RetryAfter != time.Second {
			t.Fatalf("request over the share = %v; want a *ThrottledError to wait 1s", err)
		}
		if got := rec.take(); len(got) != 1 {
			t.Fatalf("a throttled call tried %v; want one cell (no failover)", got)
		}
		if err := c.Do(ctx, keys[1], cell.Stateless, f.Call); err != nil {
			t.Fatalf("another key at the same cell: %v", err)
		}
		st := cellStats(c, te.Cell)
		if st.Failures != 0 || st.Held != 0 || st.Breaker != breaker.Closed {
			t.Fatalf("the throttling cell: %d failures, held %v, breaker %v; want none, none, closed", st.Failures, st.Held, st.Breaker)
		}
		heavy := f.Cell(te.Cell).Heavy(1)
		if len(heavy) == 0 || heavy[0].Key != keys[0] || heavy[0].Throttled != 1 || heavy[0].Share != 1 {
			t.Fatalf("Heavy(1) = %+v; want %s with 1 throttled, share 1", heavy, keys[0])
		}
		time.Sleep(time.Second)
		if err := c.Do(ctx, keys[0], cell.Stateless, f.Call); err != nil {
			t.Fatalf("after its wait the key is served: %v", err)
		}
	})
}

// gRPC RESOURCE_EXHAUSTED through the Transport is the cell's pushback,
// with its wait from grpc-retry-pushback-ms, in both shapes of reply: a
// Stateless call moves to the shard peer, the cell is held and not blamed.
func TestGRPCPushback(t *testing.T) {
	for _, trailersOnly := range []bool{true, false} {
		var bad atomic.Value
		bad.Store("")
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 2, Stateless: true, Handler: func(id string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if id == bad.Load().(string) {
					if trailersOnly {
						w.Header().Set(cell.HeaderGRPCPushback, "3000")
					} else {
						defer w.Header().Set(http.TrailerPrefix+cell.HeaderGRPCPushback, "3000")
					}
					grpcReply(w, "8", trailersOnly)
					return
				}
				grpcReply(w, "0", trailersOnly)
			})
		}})
		hc := f.HTTPClient()
		c := f.Client()
		const key = "tenant-7"
		r, _ := c.Resolve(context.Background(), key)
		bad.Store(r.Cell)
		st, _, err := grpcCall(t, hc, key, cell.Stateless)
		if err != nil || st != "0" {
			t.Fatalf("trailers-only %v: Stateless call with its home RESOURCE_EXHAUSTED = %q, %v; want 0 from its peer", trailersOnly, st, err)
		}
		cs := cellStats(c, r.Cell)
		if cs.Failures != 0 || cs.Held < 2*time.Second || cs.Held > 4*time.Second {
			t.Fatalf("trailers-only %v: home after RESOURCE_EXHAUSTED: %d failures, held %v; want 0, about 3s", trailersOnly, cs.Failures, cs.Held)
		}
		_, _, err = grpcCall(t, hc, key, cell.Write)
		var oe *cell.OverloadedError
		if !errors.As(err, &oe) || oe.RetryAfter < 2*time.Second {
			t.Fatalf("trailers-only %v: Write to the held home = %v; want an *OverloadedError with the wait", trailersOnly, err)
		}
	}
}

// Fairness.Limit gives a key its own share, and is called outside the
// Guard's locks: a Limit that reads the Guard (here Heavy, which locks
// every shard in turn) does not deadlock. Before, it was called under its
// shard's lock.
func TestFairnessLimitOutsideLock(t *testing.T) {
	var g *cell.Guard
	var calls atomic.Int32
	m := mapOf(t, 1, "", "c1/z1/active/http://c1.test")
	self := "c1"
	g, err := cell.NewGuard(cell.GuardConfig{Cell: self, Map: source.Fixed(m), Key: cell.KeyFromHeader("K"), Stateless: true,
		Next: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
		Fairness: cell.Fairness{Rate: 1, Limit: func(key string) (float64, float64, bool) {
			calls.Add(1)
			g.Heavy(1)
			return 3, 3, key == "premium"
		}}})
	if err != nil {
		t.Fatal(err)
	}
	serve := func(key string) int {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("K", key)
		g.ServeHTTP(w, r)
		return w.Code
	}
	done := make(chan [2][]int, 1)
	go func() {
		var codes [2][]int
		for range 4 {
			codes[0] = append(codes[0], serve("premium"))
			codes[1] = append(codes[1], serve("basic"))
		}
		done <- codes
	}()
	select {
	case codes := <-done:
		if !slices.Equal(codes[0], []int{200, 200, 200, 429}) || !slices.Equal(codes[1], []int{200, 429, 429, 429}) {
			t.Errorf("codes premium %v, basic %v; want a burst of 3 for premium (its own share), 1 for basic", codes[0], codes[1])
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("Limit called %d times; want 2 (once per key entering the table)", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a request whose Fairness.Limit reads the Guard did not return: Limit runs under a lock")
	}
}
