package breaker

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// cellBreaker is one cell's breaker. Its state machine runs under mu; what
// the hot paths need is published in word (by the breaker) and gate (by
// Set.rebalance), which they read without locking.
type cellBreaker struct {
	set  *Set
	name string

	word    atomic.Uint64 // packWord(gen, forced, State as reported); written under mu
	gate    atomic.Uint32 // gate* flags; written under Set.mu
	tripSeq atomic.Uint64 // Set.trips when the breaker last opened; written under mu

	// Keep the counters and the lock, which every Done writes, off the
	// cache line that Available reads.
	_ [64]byte

	rejected atomic.Uint64

	mu        sync.Mutex
	state     State // the automatic state, whatever forced says
	forced    Forced
	gen       uint64 // bumped on every change; Tickets of older generations are not judged
	removed   bool   // dropped by Sync
	win       window
	totals    Totals // all but Rejected
	opens     int    // consecutive opens since the last close from half-open
	openUntil time.Time
	probes    []probe // len is Config.HalfOpenProbes
	probeSeq  uint64
	inFlight  int // probes issued and not reported
	probeOK   int // probes that succeeded in this half-open period
	rng       rand.PCG
	timer     *time.Timer // fires at deadline()
}

type probe struct {
	id     uint64 // 0: free slot
	issued time.Time
}

// The word packs what Allow and State need into one atomic load.
const (
	wordStateMask   = 0x3
	wordForcedShift = 2
	wordGenShift    = 8
)

func packWord(gen uint64, f Forced, s State) uint64 {
	return gen<<wordGenShift | uint64(f)<<wordForcedShift | uint64(s)
}

func stateOf(w uint64) State   { return State(w & wordStateMask) }
func forcedOf(w uint64) Forced { return Forced(w >> wordForcedShift & 0x3) }
func genOf(w uint64) uint64    { return w >> wordGenShift }

// Gate flags, set by Set.rebalance.
const (
	gateUnavailable uint32 = 1 << iota // Available reports false
	gateEjected                        // open and within the ejection cap
	gateFailOpen                       // the Set panics in FailOpen mode
	gateFailFast                       // the Set panics in FailFast mode
)

func (s *Set) newCell(name string, now time.Time) *cellBreaker {
	b := &cellBreaker{
		set:    s,
		name:   name,
		gen:    1, // 0 marks Tickets that are never judged
		win:    newWindow(s.cfg.Buckets, s.tick(now)),
		probes: make([]probe, s.cfg.HalfOpenProbes),
	}
	b.rng.Seed(s.cfg.Seed, fnv64a(name))
	b.publish()
	return b
}

func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// effective returns the state as overrides make it.
func (b *cellBreaker) effective() State {
	switch b.forced {
	case ForcedOpen:
		return Open
	case ForcedClosed:
		return Closed
	}
	return b.state
}

func (b *cellBreaker) publish() {
	b.word.Store(packWord(b.gen, b.forced, b.effective()))
}

func (b *cellBreaker) allow() (Ticket, error) {
	w := b.word.Load()
	g := b.gate.Load()
	switch state := stateOf(w); {
	case state == Closed && g&gateFailFast == 0:
		return Ticket{b: b, gen: genOf(w)}, nil
	case state == Closed:
		return b.reject(ErrPanic)
	case state == HalfOpen:
		return b.allowProbe()
	case forcedOf(w) == ForcedOpen:
		return b.reject(ErrForcedOpen)
	case g&gateFailOpen != 0:
		return Ticket{b: b}, nil
	case g&gateFailFast != 0:
		return b.reject(ErrPanic)
	case g&gateEjected != 0:
		return b.reject(ErrOpen)
	}
	// Open, but over the ejection cap: admitted, not judged.
	return Ticket{b: b}, nil
}

func (b *cellBreaker) reject(err error) (Ticket, error) {
	b.rejected.Add(1)
	return Ticket{}, err
}

func (b *cellBreaker) allowProbe() (Ticket, error) {
	now := time.Now()
	b.mu.Lock()
	switch {
	case b.removed:
		b.mu.Unlock()
		return Ticket{b: b}, nil // no longer known: as available as an unknown cell
	case b.state != HalfOpen || b.forced != Auto:
		b.mu.Unlock()
		return b.allow() // the state moved on since allow looked
	case b.inFlight+b.probeOK < len(b.probes):
		i := 0
		for b.probes[i].id != 0 {
			i++
		}
		b.probeSeq++
		b.probes[i] = probe{id: b.probeSeq, issued: now}
		b.inFlight++
		if b.inFlight == 1 {
			b.rearm(now)
		}
		t := Ticket{b: b, gen: b.gen, probe: b.probeSeq}
		b.mu.Unlock()
		return t, nil
	}
	b.mu.Unlock()
	if b.gate.Load()&gateFailOpen != 0 {
		return Ticket{b: b}, nil
	}
	return b.reject(ErrTooManyProbes)
}

func (b *cellBreaker) done(t Ticket, o Outcome, latency time.Duration) {
	now := time.Now()
	cfg := &b.set.cfg
	slow := cfg.SlowCall > 0 && latency > cfg.SlowCall && o != Ignored
	changed := false
	b.mu.Lock()
	b.totals.count(o)
	if t.gen == b.gen && !b.removed {
		b.win.roll(b.set.tick(now))
		if t.probe != 0 {
			changed = b.probeDone(t.probe, o, slow, now)
		} else {
			b.win.add(o, slow)
			if b.forced == Auto && b.state == Closed && b.win.tripped(cfg) {
				b.transition(Open, now)
				changed = true
			}
		}
	}
	b.mu.Unlock()
	if changed {
		b.set.rebalance()
	}
}

// probeDone judges a half-open probe and reports whether the state changed.
// A report for a probe already reported is ignored.
func (b *cellBreaker) probeDone(id uint64, o Outcome, slow bool, now time.Time) bool {
	i := 0
	for i < len(b.probes) && b.probes[i].id != id {
		i++
	}
	if i == len(b.probes) || b.state != HalfOpen || b.forced != Auto {
		return false
	}
	b.probes[i] = probe{}
	b.inFlight--
	b.win.add(o, slow)
	switch {
	case o == Failure || slow: // a slow probe says the cell is not well yet
		b.transition(Open, now)
		return true
	case o == Success:
		b.probeOK++
		if b.probeOK >= len(b.probes) {
			b.transition(Closed, now)
			return true
		}
	}
	b.rearm(now) // the oldest probe in flight may have changed
	return false
}

// transition moves the automatic state machine to state to, resets the
// counts and reports the change. The caller holds mu and must call
// Set.rebalance after releasing it.
func (b *cellBreaker) transition(to State, now time.Time) {
	ev := Event{
		Kind:   StateChanged,
		Time:   now,
		Cell:   b.name,
		From:   b.effective(),
		To:     to,
		Forced: b.forced,
		Counts: b.win.counts(),
	}
	b.openUntil = time.Time{}
	switch to {
	case Open:
		b.opens++
		b.openUntil = now.Add(b.openTime())
		b.tripSeq.Store(b.set.trips.Add(1))
	case Closed:
		b.opens = 0
	}
	b.state = to
	b.gen++
	b.win.reset(b.set.tick(now))
	b.clearProbes()
	b.publish()
	b.rearm(now)
	ev.ConsecutiveOpens = b.opens
	ev.OpenUntil = b.openUntil
	b.emit(ev)
}

// openTime returns how long to stay open after the b.opens-th consecutive
// open: OpenBase·OpenMultiplier^(opens-1), capped, with jitter, capped again.
func (b *cellBreaker) openTime() time.Duration {
	cfg := &b.set.cfg
	d := min(float64(cfg.OpenBase)*math.Pow(cfg.OpenMultiplier, float64(b.opens-1)), float64(cfg.OpenMax))
	u := float64(b.rng.Uint64()>>11) * 0x1p-53 // uniform in [0, 1)
	d *= 1 + cfg.Jitter*(2*u-1)
	return time.Duration(min(d, float64(cfg.OpenMax)))
}

func (b *cellBreaker) clearProbes() {
	clear(b.probes)
	b.inFlight = 0
	b.probeOK = 0
}

func (b *cellBreaker) emit(ev Event) {
	if !b.removed {
		b.set.events.push(ev)
	}
}

// deadline returns when the state machine must next look at the clock: the
// end of the open time, or when the oldest probe in flight is given up. It is
// zero while forced, since that pauses the machine.
func (b *cellBreaker) deadline() time.Time {
	if b.forced != Auto || b.removed {
		return time.Time{}
	}
	switch b.state {
	case Open:
		return b.openUntil
	case HalfOpen:
		var oldest time.Time
		for _, p := range b.probes {
			if p.id != 0 && (oldest.IsZero() || p.issued.Before(oldest)) {
				oldest = p.issued
			}
		}
		if !oldest.IsZero() {
			return oldest.Add(b.set.cfg.HalfOpenMaxWait)
		}
	}
	return time.Time{}
}

// rearm sets the timer to the deadline. A timer, not the next call, ends the
// open time, because Available, which must not read the clock, has to see
// the change, and because an ejected cell that turns half-open frees room for
// a tracked one at once.
func (b *cellBreaker) rearm(now time.Time) {
	next := b.deadline()
	switch {
	case next.IsZero():
		if b.timer != nil {
			b.timer.Stop()
		}
	case b.timer == nil:
		b.timer = time.AfterFunc(next.Sub(now), b.onTimer)
	default:
		b.timer.Reset(next.Sub(now))
	}
}

func (b *cellBreaker) onTimer() {
	now := time.Now()
	b.mu.Lock()
	changed := b.advance(now)
	if !changed {
		b.rearm(now) // fired early for a deadline that has since moved
	}
	b.mu.Unlock()
	if changed {
		b.set.rebalance()
	}
}

// advance makes the time-driven transitions that are due and reports whether
// it made one.
func (b *cellBreaker) advance(now time.Time) bool {
	if b.forced != Auto || b.removed {
		return false
	}
	switch d := b.deadline(); {
	case d.IsZero() || now.Before(d):
		return false
	case b.state == Open:
		b.transition(HalfOpen, now)
	default: // a probe was lost
		b.transition(Open, now)
	}
	return true
}

// force sets the override and reports whether it changed.
func (b *cellBreaker) force(f Forced, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.removed || b.forced == f {
		return false
	}
	ev := Event{Kind: StateChanged, Time: now, Cell: b.name, From: b.effective(), Forced: f}
	b.forced = f
	b.gen++ // calls admitted under the old override are not judged
	b.clearProbes()
	b.win.roll(b.set.tick(now))
	b.publish()
	ev.To = b.effective()
	ev.Counts = b.win.counts()
	ev.ConsecutiveOpens = b.opens
	if ev.To == Open && f == Auto {
		ev.OpenUntil = b.openUntil
	}
	b.emit(ev)
	if f == Auto {
		switch {
		case b.state == Closed && b.win.tripped(&b.set.cfg):
			b.transition(Open, now)
			return true
		case b.advance(now):
			return true
		}
	}
	b.rearm(now)
	return true
}

// retire drops the breaker from the Set: its pending calls and timer are
// abandoned and it emits no more events.
func (b *cellBreaker) retire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removed = true
	b.gen++
	b.publish()
	if b.timer != nil {
		b.timer.Stop()
	}
}

func (b *cellBreaker) snapshot(now time.Time) CellState {
	g := b.gate.Load()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.win.roll(b.set.tick(now))
	cs := CellState{
		Cell:             b.name,
		State:            b.effective(),
		Forced:           b.forced,
		Ejected:          g&gateEjected != 0,
		Available:        g&gateUnavailable == 0,
		Counts:           b.win.counts(),
		Totals:           b.totals,
		Probes:           b.inFlight,
		ConsecutiveOpens: b.opens,
	}
	cs.Totals.Rejected = b.rejected.Load()
	if cs.State == Open && b.forced == Auto {
		cs.OpenUntil = b.openUntil
	}
	return cs
}
