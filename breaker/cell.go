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
	set    *Set
	name   string
	handle *Breaker

	word    atomic.Uint64 // packWord and word flags; written under mu
	gate    atomic.Uint32 // gate* flags; written under Set.mu
	tripSeq atomic.Uint64 // Set.trips when the breaker last opened; written under mu

	// Keep the counters and the lock, which every Allow and Done write, off
	// the cache line that Available reads.
	_ [64]byte

	issued atomic.Uint64 // Ticket sequence numbers handed out; the first is 1
	// inFlight is uint32(gen)<<32 | the number of judged closed-state calls
	// of that generation admitted and not yet reported. Allow adds to it
	// without the lock, and only when the generation it holds is the one the
	// Ticket is issued in; mu resets it with every new generation.
	inFlight atomic.Uint64
	rejected atomic.Uint64

	mu        sync.Mutex
	state     State // the automatic state, whatever forced says
	forced    Forced
	gen       uint64 // bumped on every change; Tickets of older generations are not judged
	removed   bool   // dropped by Sync
	win       window
	anchor    time.Time // where the window's buckets are aligned: the last state change
	reports   reports   // which Tickets have been reported
	totals    Totals    // all but Rejected
	opens     int       // consecutive opens since the last close from half-open
	openUntil time.Time
	probes    []probe // len is Config.HalfOpenProbes
	probesOut int     // probes issued and not reported
	probeOK   int     // probes that succeeded in this half-open period
	rng       rand.PCG
	timer     *time.Timer // fires at deadline()
}

type probe struct {
	seq    uint64 // the probe's Ticket; 0: free slot
	issued time.Time
}

// The word packs what Allow, Available and State need into one atomic load.
const (
	wordStateMask   = 0x3
	wordForcedShift = 2
	wordProbesFull  = 1 << 4 // half-open, and every probe slot taken
	wordRemoved     = 1 << 5 // dropped by Sync
	wordFlagsMask   = 0xff   // all but the generation
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
	gateEjected  uint32 = 1 << iota // open and within the ejection cap
	gateFailOpen                    // the Set panics in FailOpen mode
	gateFailFast                    // the Set panics in FailFast mode
)

// verdict is what Allow answers for a breaker's word and gate.
type verdict uint8

const (
	admit          verdict = iota // a judged call of the word's generation
	admitProbe                    // a half-open probe: a slot is free
	admitUntracked                // admitted, not judged
	rejectOpen
	rejectForcedOpen
	rejectTooManyProbes
	rejectPanic
)

// decide is the one rule for admitting calls: Allow acts on it and
// Available reports it, so that Available is true exactly when Allow would
// admit a call at the same instant.
func decide(w uint64, g uint32) verdict {
	if w&wordFlagsMask == 0 && g&gateFailFast == 0 { // closed, automatic: the common case
		return admit
	}
	if w&wordRemoved != 0 {
		// Dropped by Sync. Only a Breaker handle taken before reaches it:
		// a call routed on the cells as they were, which must finish. It
		// is admitted untracked, unless the breaker was open.
		switch {
		case forcedOf(w) == ForcedOpen:
			return rejectForcedOpen
		case forcedOf(w) == Auto && stateOf(w) == Open && g&gateEjected != 0:
			return rejectOpen
		}
		return admitUntracked
	}
	switch forcedOf(w) { // an operator's override beats panic mode both ways
	case ForcedOpen:
		return rejectForcedOpen
	case ForcedClosed:
		return admit
	}
	switch stateOf(w) {
	case Closed:
		return rejectPanic // only FailFast panic gets here
	case HalfOpen:
		switch {
		case w&wordProbesFull == 0:
			return admitProbe // even in FailFast panic, so that breakers can heal
		case g&gateFailOpen != 0:
			return admitUntracked
		}
		return rejectTooManyProbes
	}
	switch { // open
	case g&gateFailOpen != 0:
		return admitUntracked
	case g&gateFailFast != 0:
		return rejectPanic
	case g&gateEjected != 0:
		return rejectOpen
	}
	return admitUntracked // over the ejection cap: tracked, not ejected
}

// admits reports whether decide admits a call; it inlines into Available.
func admits(w uint64, g uint32) bool {
	return w&wordFlagsMask == 0 && g&gateFailFast == 0 || decide(w, g) <= admitUntracked
}

func (s *Set) newCell(name string, now time.Time) *cellBreaker {
	b := &cellBreaker{
		set:    s,
		name:   name,
		gen:    1, // 0 marks Tickets that are never judged
		win:    newWindow(s.cfg.Buckets, 0),
		anchor: now,
		probes: make([]probe, s.cfg.HalfOpenProbes),
	}
	b.handle = &Breaker{b: b}
	b.reports.init()
	b.inFlight.Store(uint64(uint32(b.gen)) << 32)
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

// publish stores the word for the breaker's fields; the caller holds mu.
func (b *cellBreaker) publish() {
	w := packWord(b.gen, b.forced, b.effective())
	if b.state == HalfOpen && b.forced == Auto && b.probesOut+b.probeOK >= len(b.probes) {
		w |= wordProbesFull
	}
	if b.removed {
		w |= wordRemoved
	}
	b.word.Store(w)
}

// newGen starts a generation: Tickets issued before are not judged, and the
// count of calls in flight starts again. The caller holds mu and publishes.
func (b *cellBreaker) newGen() {
	b.gen++
	b.inFlight.Store(uint64(uint32(b.gen)) << 32)
}

// tick returns the window bucket that now falls in.
func (b *cellBreaker) tick(now time.Time) int64 {
	return max(int64(now.Sub(b.anchor))/b.set.width, 0)
}

// rolls reports whether the window ages: not while half-open, whose counts
// are those of its probes, as in gobreaker.
func (b *cellBreaker) rolls() bool {
	return b.state != HalfOpen || b.forced != Auto
}

// counts returns the breaker's Counts; the caller holds mu.
func (b *cellBreaker) counts() Counts {
	c := b.win.counts()
	c.Requests = c.Successes + c.Failures + c.Ignored + int(uint32(b.inFlight.Load())) + b.probesOut
	return c
}

func (b *cellBreaker) allow() (Ticket, error) {
	w := b.word.Load()
	return b.decided(decide(w, b.gate.Load()), w)
}

// decided carries out verdict v, taken on word w.
func (b *cellBreaker) decided(v verdict, w uint64) (Ticket, error) {
	switch v {
	case admit:
		gen := genOf(w)
		if n := b.inFlight.Add(1); n>>32 != uint64(uint32(gen)) {
			return b.allowLocked(n) // the generation changed since w was read
		}
		return Ticket{b: b, seq: b.issued.Add(1), gen: gen}, nil
	case admitProbe:
		return b.allowProbe()
	case admitUntracked:
		return Ticket{b: b, seq: b.issued.Add(1)}, nil
	}
	b.rejected.Add(1)
	switch v {
	case rejectOpen:
		return Ticket{}, ErrOpen
	case rejectForcedOpen:
		return Ticket{}, ErrForcedOpen
	case rejectTooManyProbes:
		return Ticket{}, ErrTooManyProbes
	}
	return Ticket{}, ErrPanic
}

// allowLocked decides under mu, where the word and inFlight agree, after
// Allow added stray to the count of a generation its Ticket is not of.
func (b *cellBreaker) allowLocked(stray uint64) (Ticket, error) {
	b.mu.Lock()
	if b.inFlight.Load()>>32 == stray>>32 {
		b.inFlight.Add(^uint64(0)) // take the stray call back out
	}
	w := b.word.Load()
	v := decide(w, b.gate.Load())
	if v == admit {
		b.inFlight.Add(1)
		t := Ticket{b: b, seq: b.issued.Add(1), gen: b.gen}
		b.mu.Unlock()
		return t, nil
	}
	b.mu.Unlock()
	return b.decided(v, w)
}

func (b *cellBreaker) allowProbe() (Ticket, error) {
	now := time.Now()
	b.mu.Lock()
	w := b.word.Load()
	v := decide(w, b.gate.Load())
	if v != admitProbe { // the state moved on since allow looked
		b.mu.Unlock()
		return b.decided(v, w)
	}
	i := 0
	for b.probes[i].seq != 0 {
		i++
	}
	t := Ticket{b: b, seq: b.issued.Add(1), gen: b.gen, probe: true}
	b.probes[i] = probe{seq: t.seq, issued: now}
	b.probesOut++
	b.publish()
	if b.probesOut == 1 {
		b.rearm(now)
	}
	b.mu.Unlock()
	return t, nil
}

func (b *cellBreaker) done(t Ticket, o Outcome, latency time.Duration, now time.Time) {
	cfg := &b.set.cfg
	slow := cfg.SlowCall > 0 && latency > cfg.SlowCall && o != Ignored
	changed := false
	b.mu.Lock()
	if !b.reports.first(t.seq) {
		b.mu.Unlock()
		return
	}
	b.totals.count(o)
	switch {
	case t.gen != b.gen || b.removed:
	case t.probe:
		changed = b.probeDone(t.seq, o, slow, now)
	default:
		b.inFlight.Add(^uint64(0))
		if b.rolls() {
			b.win.roll(b.tick(now))
		}
		b.win.add(o, slow)
		if b.forced != Auto || b.state != Closed {
			break
		}
		if b.win.tripped(cfg) {
			b.transition(Open, now)
			changed = true
			break
		}
		if cfg.ReadyToTrip == nil || o != Failure {
			break
		}
		// Ask ReadyToTrip outside the lock, and trip if nothing changed
		// meanwhile. If it panics, the panic reaches the caller of Done
		// with no lock held.
		counts, gen := ToGobreakerCounts(b.counts()), b.gen
		b.mu.Unlock()
		if !cfg.ReadyToTrip(counts) {
			return
		}
		b.mu.Lock()
		if b.gen == gen && !b.removed {
			b.transition(Open, now)
			changed = true
		}
	}
	b.mu.Unlock()
	if changed {
		b.set.rebalance()
	}
}

// probeDone judges a half-open probe and reports whether the state changed.
func (b *cellBreaker) probeDone(seq uint64, o Outcome, slow bool, now time.Time) bool {
	i := 0
	for i < len(b.probes) && b.probes[i].seq != seq {
		i++
	}
	if i == len(b.probes) || b.state != HalfOpen || b.forced != Auto {
		return false
	}
	b.probes[i] = probe{}
	b.probesOut--
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
	b.publish()  // a slot may have freed
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
		Counts: b.counts(),
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
	b.newGen()
	b.anchor = now
	b.win.reset(0)
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
	if d *= 1 + cfg.Jitter*(2*u-1); d >= float64(cfg.OpenMax) {
		return cfg.OpenMax // also where float64(OpenMax) rounds above MaxInt64
	}
	return time.Duration(d)
}

func (b *cellBreaker) clearProbes() {
	clear(b.probes)
	b.probesOut = 0
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
		if b.set.cfg.HalfOpenMaxWait == noWait {
			return time.Time{}
		}
		var oldest time.Time
		for _, p := range b.probes {
			if p.seq != 0 && (oldest.IsZero() || p.issued.Before(oldest)) {
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

// force sets the override. It reports whether the override changed, and
// false for ok if the breaker was dropped by Sync meanwhile.
func (b *cellBreaker) force(f Forced, now time.Time) (changed, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.removed {
		return false, false
	}
	if b.forced == f {
		return false, true
	}
	ev := Event{Kind: StateChanged, Time: now, Cell: b.name, From: b.effective(), Forced: f}
	b.forced = f
	b.newGen() // calls admitted under the old override are not judged
	b.clearProbes()
	if b.rolls() {
		b.win.roll(b.tick(now))
	}
	b.publish()
	ev.To = b.effective()
	ev.Counts = b.counts()
	ev.ConsecutiveOpens = b.opens
	if ev.To == Open && f == Auto {
		ev.OpenUntil = b.openUntil
	}
	b.emit(ev)
	if f == Auto {
		switch {
		case b.state == Closed && b.win.tripped(&b.set.cfg):
			b.transition(Open, now)
			return true, true
		case b.advance(now):
			return true, true
		}
	}
	b.rearm(now)
	return true, true
}

// retire drops the breaker from the Set: its pending calls and timer are
// abandoned, Set.Allow no longer finds it, and it emits no more events.
// A Breaker handle taken before still admits calls, untracked (see decide).
func (b *cellBreaker) retire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removed = true
	b.newGen()
	b.publish()
	if b.timer != nil {
		b.timer.Stop()
	}
}

func (b *cellBreaker) snapshot(now time.Time) CellState {
	g := b.gate.Load()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rolls() {
		b.win.roll(b.tick(now))
	}
	cs := CellState{
		Cell:             b.name,
		State:            b.effective(),
		Forced:           b.forced,
		Ejected:          g&gateEjected != 0,
		Available:        admits(b.word.Load(), g),
		Counts:           b.counts(),
		Totals:           b.totals,
		Probes:           b.probesOut,
		ConsecutiveOpens: b.opens,
	}
	cs.Totals.Rejected = b.rejected.Load()
	if cs.State == Open && b.forced == Auto {
		cs.OpenUntil = b.openUntil
	}
	return cs
}
