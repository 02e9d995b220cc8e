package celltest

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/ring"
)

// Faults is the fault model of one fake cell, whatever transport serves it:
// the knobs a test turns and Meet, which makes a request meet them and says
// what it should experience. The cells of a Fleet are built on it, and so
// are those of other transports' fleets (cellgrpc's cellgrpctest), so that
// a knob means the same on every transport. Knobs may be turned at any time,
// from any goroutine; each takes effect for the requests that arrive after
// it.
type Faults struct {
	requests, failures atomic.Uint64

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
}

// NewFaults returns the faults of cell id, with none turned on. ErrorRate
// draws from a generator seeded by seed and id, so that a sequence of
// requests fails the same way in every run.
func NewFaults(seed uint64, id string) *Faults {
	return &Faults{rng: rand.New(rand.NewPCG(seed, ring.Hash(0, id)))}
}

// Fail makes the cell fail every request until Recover.
func (f *Faults) Fail() { f.set(func() { f.failing = true }) }

// Recover clears every fault: Fail, Slow, ErrorRate, Blackhole, MoveTo and
// Flap.
func (f *Faults) Recover() {
	f.set(func() {
		f.failing, f.slow, f.errorRate, f.blackhole, f.moveTo, f.flap = false, 0, 0, false, "", nil
	})
}

// Slow delays every answer by d (0 ends it); a caller that gives up first
// gets none.
func (f *Faults) Slow(d time.Duration) { f.set(func() { f.slow = d }) }

// ErrorRate fails each request with probability p. 0 ends it.
func (f *Faults) ErrorRate(p float64) { f.set(func() { f.errorRate = p }) }

// Blackhole makes the cell accept requests and never answer them, until the
// caller gives up; Recover ends it.
func (f *Faults) Blackhole() { f.set(func() { f.blackhole = true }) }

// MoveTo makes the cell answer every request as moved to cell id. "" ends
// it.
func (f *Faults) MoveTo(id string) { f.set(func() { f.moveTo = id }) }

// Flap makes the cell alternate between failing and healthy, starting now:
// failing for schedule[0], healthy for schedule[1], failing for schedule[2],
// and so on, around the schedule again after its end. Flap() ends it, and
// so does a schedule with no positive duration.
func (f *Faults) Flap(schedule ...time.Duration) {
	f.set(func() {
		f.flap = nil
		var total time.Duration
		for _, d := range schedule {
			total += max(d, 0)
		}
		if total > 0 {
			f.flap, f.flapStart = append([]time.Duration(nil), schedule...), time.Now()
		}
	})
}

// Requests counts the requests that met the faults (Meet).
func (f *Faults) Requests() uint64 { return f.requests.Load() }

// Failures counts the requests the faults failed: Fail, Flap, ErrorRate
// and Blackhole.
func (f *Faults) Failures() uint64 { return f.failures.Load() }

// PinMap makes the cell's guard judge requests on m instead of the fleet's
// latest map: a cell whose map lags behind. PinMap(nil) ends it; Recover
// does not.
func (f *Faults) PinMap(m *placement.Map) { f.set(func() { f.pinned = m }) }

// MapOr returns the map the cell's guard judges on: the pinned one, else
// latest, the fleet's.
func (f *Faults) MapOr(latest *placement.Map) *placement.Map {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pinned != nil {
		return f.pinned
	}
	return latest
}

func (f *Faults) set(fn func()) {
	f.mu.Lock()
	fn()
	f.mu.Unlock()
}

// An Outcome is what a request experienced of a cell's faults (Meet).
type Outcome int

const (
	// Pass: no fault stopped the request; the cell's guard judges it.
	Pass Outcome = iota
	// Blackholed: the cell held the request until the caller gave up or
	// the fleet closed, and gives no answer.
	Blackholed
	// Failed: the cell fails the request (Fail, Flap or ErrorRate): a 500,
	// or UNAVAILABLE over gRPC.
	Failed
	// Abandoned: the caller gave up while Slow held the request back; the
	// cell gives no answer.
	Abandoned
	// Closed: the fleet closed while Slow held the request back.
	Closed
	// Moved: MoveTo; the cell answers as moved to the cell Meet returns.
	Moved
)

// Meet makes a request meet the faults in their order: Blackhole, then
// Fail, Flap and ErrorRate, then Slow, then MoveTo. It waits out Blackhole
// and Slow until ctx ends or closing is closed. moveTo is the cell of a
// Moved outcome. It counts the request, and its failure.
func (f *Faults) Meet(ctx context.Context, closing <-chan struct{}) (o Outcome, moveTo string) {
	f.requests.Add(1)
	blackhole, fail, slow, moveTo := f.draw()
	if blackhole || fail {
		f.failures.Add(1)
	}
	switch {
	case blackhole:
		select {
		case <-ctx.Done():
		case <-closing:
		}
		return Blackholed, ""
	case fail:
		return Failed, ""
	}
	if slow > 0 {
		t := time.NewTimer(slow)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return Abandoned, ""
		case <-closing:
			return Closed, ""
		}
	}
	if moveTo != "" {
		return Moved, moveTo
	}
	return Pass, ""
}

// draw reads the knobs for one request, and draws its ErrorRate failure.
func (f *Faults) draw() (blackhole, fail bool, slow time.Duration, moveTo string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	blackhole, fail, slow, moveTo = f.blackhole, f.failing, f.slow, f.moveTo
	if !fail && f.errorRate > 0 {
		fail = f.rng.Float64() < f.errorRate
	}
	if !fail && f.flap != nil {
		var total time.Duration
		for _, d := range f.flap {
			total += max(d, 0)
		}
		at := time.Since(f.flapStart) % total
		for i, d := range f.flap {
			if at < max(d, 0) {
				fail = i%2 == 0
				break
			}
			at -= max(d, 0)
		}
	}
	return
}
