package celltest

import (
	"context"
	"errors"
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

	accepted, refused atomic.Uint64 // Requests and Failures are the faults'

	faults    *Faults // the knobs, shared with other transports' fake cells
	httpGuard http.Handler
	callGuard http.Handler
	httpG     *cell.Guard
	callG     *cell.Guard
	mu        sync.Mutex // guards the overload model and the counts by key
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
func (c *Cell) Requests() uint64 { return c.faults.Requests() }

// Failures counts the requests the cell's faults failed: Fail, Flap,
// ErrorRate, and Blackhole.
func (c *Cell) Failures() uint64 { return c.faults.Failures() }

// Accepted counts the requests the cell's guard accepted and served.
func (c *Cell) Accepted() uint64 { return c.accepted.Load() }

// Refused counts the requests the cell's guard answered instead: 400, 421,
// 503, and the 421s of MoveTo.
func (c *Cell) Refused() uint64 { return c.refused.Load() }

// Fail makes the cell fail every request with a 500 until Recover.
func (c *Cell) Fail() { c.faults.Fail() }

// Recover clears every fault of the cell: Fail, Slow, ErrorRate, Blackhole,
// MoveTo and Flap.
func (c *Cell) Recover() { c.faults.Recover() }

// Slow delays every answer by d (0 ends it); a caller that gives up first
// gets none.
func (c *Cell) Slow(d time.Duration) { c.faults.Slow(d) }

// ErrorRate fails each request with probability p, drawn from a generator
// seeded by the fleet's Seed and the cell's ID, so that a sequence of
// requests fails the same way in every run. 0 ends it.
func (c *Cell) ErrorRate(p float64) { c.faults.ErrorRate(p) }

// Blackhole makes the cell accept requests and never answer them, until the
// caller gives up; Recover ends it.
func (c *Cell) Blackhole() { c.faults.Blackhole() }

// MoveTo makes the cell answer every request like a cell.Guard whose map
// gives the key to cell id: 421 with Cell-Owner id and Cell-Map-Version the
// version of the fleet's map (a *cell.MovedError from Call). "" ends it.
func (c *Cell) MoveTo(id string) { c.faults.MoveTo(id) }

// Flap makes the cell alternate between failing and healthy, starting now:
// failing for schedule[0], healthy for schedule[1], failing for schedule[2],
// and so on, around the schedule again after its end. Flap() ends it.
func (c *Cell) Flap(schedule ...time.Duration) { c.faults.Flap(schedule...) }

// PinMap makes the cell's guard judge requests on m instead of the fleet's
// latest map: a cell whose map lags behind. PinMap(nil) ends it.
func (c *Cell) PinMap(m *placement.Map) { c.faults.PinMap(m) }

// Map returns the map the cell's guard judges on.
func (c *Cell) Map() *placement.Map { return c.faults.MapOr(c.f.Map()) }

// ServeHTTP serves a request to the cell: the faults, then the guard.
func (c *Cell) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.serve(w, r, c.httpGuard)
}

func (c *Cell) serve(w http.ResponseWriter, r *http.Request, guard http.Handler) {
	switch o, moveTo := c.faults.Meet(r.Context(), c.f.closing); o {
	case Blackholed:
		return
	case Failed:
		w.Header().Set(cell.HeaderCell, c.id)
		http.Error(w, "celltest: cell "+c.id+" is failing", http.StatusInternalServerError)
		return
	case Abandoned, Closed:
		return
	case Moved:
		c.refused.Add(1)
		w.Header().Set(cell.HeaderCell, c.id)
		cell.WriteMoved(w, moveTo, c.f.Map().Version())
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
