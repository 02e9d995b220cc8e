package cell

import (
	"math"
	"sync/atomic"
	"time"
)

// Limit configures the client's per-cell concurrency limit: how many calls
// may be in flight to one cell at once. A call over its cell's limit is
// refused at once with RejectLimit (and fails over where its class allows),
// never queued.
//
// The limit adapts to the cell's latency, in the manner of TCP Vegas and
// Netflix's gradient limiters. Each attempt that the cell answered (a
// success or an answer of the application; not a cancellation, not a
// rejection) is a sample of its latency. The client keeps the cell's no-load
// latency, the lowest sample of the current and the previous Window, and
// moves the limit L towards
//
//	L × g + √L,   g = clamp(Tolerance × noLoad / sample, 0.5, 1)
//
// by the fraction Smoothing per L samples (about one round trip's worth of
// calls), between Min and Max. While the cell answers
// within Tolerance times its no-load latency, g is 1 and the limit grows by
// about Smoothing × √L per round of L samples, but only when the cell is
// busy (more than half of the limit in flight as the call ends): an idle
// client does not raise the limit it has not tested. When the cell slows under load, g falls below 1
// and the limit shrinks towards the concurrency the cell serves at its
// no-load latency, so that the cell keeps answering fast for the calls it
// still gets, instead of every call waiting longer until the breaker's
// slow-call rule takes the whole cell out. √L is the queue the rule
// tolerates: it keeps the limit from collapsing on noise.
//
// The cell's pushback (a 429 or 503 with Retry-After, gRPC
// RESOURCE_EXHAUSTED) halves its limit at once and holds its new attempts
// for the time the cell asked for (1 s when it named none, at most 30 s,
// lengthened by up to a quarter at random); see Config.Limit.
//
// Setting Min equal to Max gives a fixed bulkhead. The zero Limit is no limit
// at all.
type Limit struct {
	// Max is the ceiling of a cell's limit. Default 0: no limit (every other
	// field is then ignored).
	Max int
	// Min is the floor of a cell's limit. Default 1 (at most Max).
	Min int
	// Initial is a cell's limit when it enters the map. Default Max/4,
	// within Min and Max.
	Initial int
	// Tolerance is how many times its no-load latency a cell may take before
	// its limit shrinks. Default 2; at least 1.
	Tolerance float64
	// Smoothing is the fraction of the way to its target that a limit moves
	// per L samples, L the limit. Default 0.2; at most 1.
	Smoothing float64
	// Window is how long a lowest latency counts: the no-load latency is
	// the lowest sample of the current and the previous window, so that a
	// cell that got slower for good (more data, a new version) is judged
	// against its new floor after one to two windows. A cell slowed by its
	// load stays judged against its old floor that long, and can regain at
	// most a factor Tolerance of limit per window while it stays slow.
	// Default 30 s.
	Window time.Duration
}

// limitSettings is a Limit with its defaults applied.
type limitSettings struct {
	min, max, initial float64
	tolerance, smooth float64
	window            int64 // ns
}

func (l Limit) normalize() (limitSettings, error) {
	bad := func(field string, v any, why string) (limitSettings, error) {
		return limitSettings{}, &ConfigError{Field: "Limit." + field, Value: v, Reason: why}
	}
	if l.Max < 0 {
		return bad("Max", l.Max, "must not be negative (0 is no limit)")
	}
	if l.Max == 0 {
		return limitSettings{}, nil
	}
	s := limitSettings{max: float64(l.Max), min: 1, tolerance: 2, smooth: 0.2, window: int64(30 * time.Second)}
	switch {
	case l.Min < 0:
		return bad("Min", l.Min, "must not be negative")
	case l.Min > l.Max:
		return bad("Min", l.Min, "must not exceed Max")
	case l.Min > 0:
		s.min = float64(l.Min)
	}
	s.initial = math.Max(s.min, math.Floor(s.max/4))
	switch {
	case l.Initial < 0:
		return bad("Initial", l.Initial, "must not be negative")
	case l.Initial > 0 && (float64(l.Initial) < s.min || float64(l.Initial) > s.max):
		return bad("Initial", l.Initial, "must be within Min and Max")
	case l.Initial > 0:
		s.initial = float64(l.Initial)
	}
	switch t := l.Tolerance; {
	case math.IsNaN(t) || math.IsInf(t, 0):
		return bad("Tolerance", t, "must be finite")
	case t != 0 && t < 1:
		return bad("Tolerance", t, "must be at least 1")
	case t != 0:
		s.tolerance = t
	}
	switch sm := l.Smoothing; {
	case math.IsNaN(sm) || sm < 0 || sm > 1:
		return bad("Smoothing", sm, "must be within 0 and 1 (0 is the default)")
	case sm != 0:
		s.smooth = sm
	}
	switch {
	case l.Window < 0:
		return bad("Window", l.Window, "must not be negative")
	case l.Window > 0:
		s.window = int64(l.Window)
	}
	return s, nil
}

// maxHold bounds how long a cell's pushback holds its new attempts, whatever
// its Retry-After says: a cell cannot take itself out of the fleet for long
// with one reply.
const maxHold = 30 * time.Second

// defaultHold is the hold of a pushback that names no time to wait (gRPC
// RESOURCE_EXHAUSTED without a pushback header, a Retry-After of 0).
const defaultHold = time.Second

// holdJitter is the most a hold is lengthened at random, as a fraction of
// it, so that the clients a cell pushed back at once do not all return at
// the same instant.
const holdJitter = 0.25

// A limiter is one cell's adaptive concurrency limit, and the hold of its
// pushback. Every method is lock-free; the limit is a float64 updated by
// compare-and-swap, so concurrent samples are each applied once, in some
// order. With no limit (s.max 0) only the hold is kept: a call costs one
// atomic load.
type limiter struct {
	s        limitSettings
	holdTill atomic.Int64 // no new attempts before this instant (ns since the client's epoch); 0: none
	inflight atomic.Int64
	limit    atomic.Uint64 // math.Float64bits of the limit
	winStart atomic.Int64  // the current window's start (ns since the client's epoch)
	curMin   atomic.Int64  // lowest sample of this window, in ns
	prevMin  atomic.Int64  // lowest sample of the previous window
}

func newLimiter(s limitSettings) *limiter {
	l := &limiter{s: s}
	l.limit.Store(math.Float64bits(s.initial))
	l.curMin.Store(math.MaxInt64)
	l.prevMin.Store(math.MaxInt64)
	return l
}

// current returns the limit; 0 when there is none.
func (l *limiter) current() float64 { return math.Float64frombits(l.limit.Load()) }

// acquire takes a place for a call at now (the client's clock, in ns), or
// says why not: RejectOverloaded while a pushback holds the cell,
// RejectLimit when its limit is reached.
func (l *limiter) acquire(now int64) (Rejection, bool) {
	if h := l.holdTill.Load(); h != 0 && now < h {
		return RejectOverloaded, false
	}
	if l.s.max == 0 {
		return 0, true
	}
	n := l.inflight.Add(1)
	if float64(n) > math.Floor(l.current()) {
		l.inflight.Add(-1)
		return RejectLimit, false
	}
	return 0, true
}

// held returns how long the pushback still holds the cell at now; 0 when
// it does not.
func (l *limiter) held(now int64) time.Duration {
	return time.Duration(max(l.holdTill.Load()-now, 0))
}

// release gives back a place without a sample: the attempt was cancelled,
// refused, pushed back or failed without an answer.
func (l *limiter) release() {
	if l.s.max != 0 {
		l.inflight.Add(-1)
	}
}

// sample gives back a place and feeds the latency rtt of an attempt that
// the cell answered at now (the client's clock, in ns).
func (l *limiter) sample(rtt time.Duration, now int64) {
	if l.s.max == 0 {
		return
	}
	// The calls in flight as this one ends, itself included: the load
	// its latency was measured under.
	busy := l.inflight.Add(-1) + 1
	if l.s.min == l.s.max {
		return // a fixed bulkhead
	}
	ns := max(int64(rtt), 1)
	if w := l.winStart.Load(); now-w >= l.s.window && l.winStart.CompareAndSwap(w, now) {
		l.prevMin.Store(l.curMin.Swap(math.MaxInt64))
	}
	for {
		m := l.curMin.Load()
		if ns >= m || l.curMin.CompareAndSwap(m, ns) {
			break
		}
	}
	noLoad := min(l.curMin.Load(), l.prevMin.Load())
	g := 1.0
	if noLoad != math.MaxInt64 {
		g = min(1, max(0.5, l.s.tolerance*float64(noLoad)/float64(ns)))
	}
	for {
		old := l.limit.Load()
		lim := math.Float64frombits(old)
		if g == 1 && float64(busy) <= lim/2 {
			return // not busy: a fast answer says nothing about a higher limit
		}
		target := lim*g + math.Sqrt(lim)
		// Each sample moves the limit 1/L of the way a whole round
		// of L calls would: the limit changes per round trip, not per
		// call, so a fast cell's limit does not swing with its rate.
		next := min(l.s.max, max(l.s.min, lim+(target-lim)*l.s.smooth/lim))
		if next == lim || l.limit.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

// pushback gives back the place of a pushed-back attempt, halves the limit
// and holds new attempts until now + wait (defaultHold when wait is 0),
// lengthened by up to holdJitter at random (r in [0, 1)), at most maxHold.
// The limit halves once per hold: the other attempts that were in flight
// when the cell began to shed come back pushed back too, and they are the
// same news.
func (l *limiter) pushback(now int64, wait time.Duration, r float64) {
	if l.s.max != 0 {
		l.inflight.Add(-1)
	}
	for l.s.max != 0 && now >= l.holdTill.Load() {
		old := l.limit.Load()
		next := max(l.s.min, math.Float64frombits(old)/2)
		if l.limit.CompareAndSwap(old, math.Float64bits(next)) {
			break
		}
	}
	if wait <= 0 {
		wait = defaultHold
	}
	wait = min(wait+time.Duration(float64(wait)*holdJitter*r), maxHold)
	till := now + int64(wait)
	for {
		h := l.holdTill.Load()
		if h >= till || l.holdTill.CompareAndSwap(h, till) {
			return
		}
	}
}
