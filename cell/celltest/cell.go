package celltest

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
)

// ErrFault is wrapped by the errors of faults injected into Fleet.Call.
var ErrFault = errors.New("celltest: injected fault")

// A Cell is one fake cell of a fleet. It serves HTTP (through a cell.Guard
// on the fleet's map, or on the map pinned with PinMap) and the fleet's fake
// Call, and injects the faults its knobs set. Knobs may be turned at any
// time, from any goroutine; each takes effect for the requests that arrive
// after it.
//
// A request meets the faults in this order: Blackhole, then Fail, Flap and
// ErrorRate (a 500, or an error wrapping ErrFault from Call), then Slow,
// then MoveTo, then the guard, then the overload model (Overload) for the
// requests the guard accepts. Recover leaves the overload model as it is.
type Cell struct {
	f    *Fleet
	id   string
	zone string
	url  string

	requests, failures, accepted, refused atomic.Uint64

	mu        sync.Mutex
	failing   bool
	slow      time.Duration
	errorRate float64
	rng       *rand.Rand
	blackhole bool
	moveTo    string
	flap      []time.Duration
	flapStart time.Time
	pinned    *placement.Map
	httpGuard http.Handler
	callGuard http.Handler
	httpG     *cell.Guard
	callG     *cell.Guard
	overload  Overload
	inCell    int // requests in the overload model
	keys      map[string]*KeyCount
}

// ID returns the cell's ID.
func (c *Cell) ID() string { return c.id }

// Zone returns the cell's zone.
func (c *Cell) Zone() string { return c.zone }

// URL returns the cell's endpoint.
func (c *Cell) URL() string { return c.url }

// Requests counts the requests (HTTP or Call) that reached the cell.
func (c *Cell) Requests() uint64 { return c.requests.Load() }

// Failures counts the requests the cell's faults failed: Fail, Flap,
// ErrorRate, and Blackhole.
func (c *Cell) Failures() uint64 { return c.failures.Load() }

// Accepted counts the requests the cell's guard accepted and served.
func (c *Cell) Accepted() uint64 { return c.accepted.Load() }

// Refused counts the requests the cell's guard answered instead: 400, 421,
// 503, and the 421s of MoveTo.
func (c *Cell) Refused() uint64 { return c.refused.Load() }

// Fail makes the cell fail every request with a 500 until Recover.
func (c *Cell) Fail() { c.set(func() { c.failing = true }) }

// Recover clears every fault of the cell: Fail, Slow, ErrorRate, Blackhole,
// MoveTo and Flap.
func (c *Cell) Recover() {
	c.set(func() {
		c.failing, c.slow, c.errorRate, c.blackhole, c.moveTo, c.flap = false, 0, 0, false, "", nil
	})
}

// Slow delays every answer by d (0 ends it); a caller that gives up first
// gets none.
func (c *Cell) Slow(d time.Duration) { c.set(func() { c.slow = d }) }

// ErrorRate fails each request with probability p, drawn from a generator
// seeded by the fleet's Seed and the cell's ID, so that a sequence of
// requests fails the same way in every run. 0 ends it.
func (c *Cell) ErrorRate(p float64) { c.set(func() { c.errorRate = p }) }

// Blackhole makes the cell accept requests and never answer them, until the
// caller gives up; Recover ends it.
func (c *Cell) Blackhole() { c.set(func() { c.blackhole = true }) }

// MoveTo makes the cell answer every request like a cell.Guard whose map
// gives the key to cell id: 421 with Cell-Owner id and Cell-Map-Version the
// version of the fleet's map (a *cell.MovedError from Call). "" ends it.
func (c *Cell) MoveTo(id string) { c.set(func() { c.moveTo = id }) }

// Flap makes the cell alternate between failing and healthy, starting now:
// failing for schedule[0], healthy for schedule[1], failing for schedule[2],
// and so on, around the schedule again after its end. Flap() ends it.
func (c *Cell) Flap(schedule ...time.Duration) {
	c.set(func() {
		c.flap = nil
		var total time.Duration
		for _, d := range schedule {
			if d > 0 {
				total += d
			}
		}
		if total > 0 {
			c.flap, c.flapStart = append([]time.Duration(nil), schedule...), time.Now()
		}
	})
}

// PinMap makes the cell's guard judge requests on m instead of the fleet's
// latest map: a cell whose map lags behind. PinMap(nil) ends it.
func (c *Cell) PinMap(m *placement.Map) { c.set(func() { c.pinned = m }) }

// Map returns the map the cell's guard judges on.
func (c *Cell) Map() *placement.Map {
	c.mu.Lock()
	m := c.pinned
	c.mu.Unlock()
	if m != nil {
		return m
	}
	return c.f.Map()
}

func (c *Cell) set(fn func()) {
	c.mu.Lock()
	fn()
	c.mu.Unlock()
}

// fault is what a request meets.
type fault struct {
	blackhole, fail bool
	slow            time.Duration
	moveTo          string
}

func (c *Cell) fault() fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	ft := fault{blackhole: c.blackhole, fail: c.failing, slow: c.slow, moveTo: c.moveTo}
	if !ft.fail && c.errorRate > 0 {
		ft.fail = c.rng.Float64() < c.errorRate
	}
	if !ft.fail && c.flap != nil {
		var total time.Duration
		for _, d := range c.flap {
			total += max(d, 0)
		}
		at := time.Since(c.flapStart) % total
		for i, d := range c.flap {
			if at < max(d, 0) {
				ft.fail = i%2 == 0
				break
			}
			at -= max(d, 0)
		}
	}
	return ft
}

// ServeHTTP serves a request to the cell: the faults, then the guard.
func (c *Cell) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.serve(w, r, c.httpGuard)
}

func (c *Cell) serve(w http.ResponseWriter, r *http.Request, guard http.Handler) {
	c.requests.Add(1)
	ft := c.fault()
	ctx := r.Context()
	switch {
	case ft.blackhole:
		c.failures.Add(1)
		select {
		case <-ctx.Done():
		case <-c.f.closing:
		}
		return
	case ft.fail:
		c.failures.Add(1)
		w.Header().Set(cell.HeaderCell, c.id)
		http.Error(w, "celltest: cell "+c.id+" is failing", http.StatusInternalServerError)
		return
	}
	if ft.slow > 0 {
		t := time.NewTimer(ft.slow)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.f.closing:
			t.Stop()
			return
		}
	}
	if ft.moveTo != "" {
		c.refused.Add(1)
		w.Header().Set(cell.HeaderCell, c.id)
		cell.WriteMoved(w, ft.moveTo, c.f.Map().Version())
		return
	}
	guard.ServeHTTP(w, r)
}

type acceptedKey struct{}

// accept wraps the fleet's handler for the requests the guard lets through:
// the overload model, then next.
func (c *Cell) accept(next http.Handler, key cell.KeyFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := r.Context().Value(acceptedKey{}).(*bool); ok {
			*p = true
		}
		k, _ := key(r)
		ok, done := c.admitLoad(w, r, k)
		if !ok {
			return
		}
		defer done()
		c.accepted.Add(1)
		next.ServeHTTP(w, r)
	})
}

// guarded runs the guard g and counts the requests it answered itself, and
// each key's requests and throttled requests.
func (c *Cell) guarded(g http.Handler, key cell.KeyFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, _ := key(r)
		c.mu.Lock()
		c.countLocked(k, func(n *KeyCount) { n.Requests++ })
		c.mu.Unlock()
		accepted := false
		sw := &statusWriter{ResponseWriter: w}
		g.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), acceptedKey{}, &accepted)))
		if !accepted {
			c.refused.Add(1)
			if sw.code == http.StatusTooManyRequests {
				c.mu.Lock()
				c.countLocked(k, func(n *KeyCount) { n.Throttled++ })
				c.mu.Unlock()
			}
		}
	})
}

// call serves the fleet's fake Call.
func (c *Cell) call(ctx context.Context, r cell.Route) error {
	method := http.MethodPost
	if r.Class != cell.Write {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.id+"/", nil)
	if err != nil {
		return err
	}
	req.Header.Set(KeyHeader, r.Key)
	req.Header.Set(cell.HeaderCell, r.Cell)
	req.Header.Set(cell.HeaderMapVersion, strconv.FormatUint(r.Version, 10))
	w := newRecorder()
	c.serve(w, req, c.callGuard)
	if !w.wrote {
		if err := ctx.Err(); err != nil {
			return err
		}
		return errors.New("celltest: cell " + c.id + " gave no answer")
	}
	// The reply is decoded as the Transport decodes it: by the protocol's
	// one decoder.
	switch err := cell.DecodeReply(w.code, w.h).(type) {
	case *cell.RefusedError:
		err.Key, err.Cell = r.Key, c.id
		return err
	case *cell.OverloadedError:
		err.Key, err.Cell = r.Key, c.id
		return err
	case *cell.ThrottledError:
		err.Key, err.Cell = r.Key, c.id
		return err
	case nil:
	default:
		return err
	}
	switch code := w.code; {
	case code >= 500:
		return &faultError{cell: c.id, code: code}
	case code == http.StatusBadRequest:
		return errors.New("celltest: cell " + c.id + " refused the request: 400")
	}
	return nil
}

// A faultError is an injected failure seen through Call.
type faultError struct {
	cell string
	code int
}

func (e *faultError) Error() string {
	return "celltest: cell " + e.cell + " failed the call (" + strconv.Itoa(e.code) + ")"
}

func (e *faultError) Unwrap() error { return ErrFault }

// recorder is a minimal http.ResponseWriter for Call.
type recorder struct {
	h     http.Header
	code  int
	wrote bool
}

func newRecorder() *recorder { return &recorder{h: make(http.Header)} }

func (r *recorder) Header() http.Header { return r.h }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return len(b), nil
}
