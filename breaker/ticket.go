package breaker

import "time"

// Ticket is an admitted call. Report its result with Done. The zero Ticket is
// valid and Done on it does nothing. A Ticket is a small value: copies are the
// same Ticket, and share its single report.
type Ticket struct {
	b     *cellBreaker
	seq   uint64 // its number among the breaker's Tickets, from 1
	gen   uint64 // the breaker generation it was admitted in; 0: not judged
	probe bool   // a half-open probe
}

// Done reports the outcome of the call and its latency, measured by the
// caller, which decides slow calls. Done never blocks on event handlers.
//
// A Ticket is single-use: the first Done, on the Ticket or on any copy of
// it, is the report, and later ones are ignored entirely (neither judged
// nor counted in Totals). Reports that arrive after the breaker changed
// state are counted in Totals only. A breaker remembers reports over a span
// of 65,536 of its Tickets: a Ticket reported only after one issued 65,536
// or more Tickets later was reported is ignored like a repeated one.
func (t Ticket) Done(o Outcome, latency time.Duration) {
	if t.b != nil {
		t.b.done(t, o.valid(), latency, time.Now())
	}
}

// DoneAt is Done for a caller that has just read the clock to measure the
// call's latency: now is that reading, and the breaker uses it instead of
// reading the clock again (a clock reading is most of a closed breaker's
// cost). now must carry a monotonic reading, as time.Now's and times derived
// from one by Add do; the zero Time means now.
func (t Ticket) DoneAt(o Outcome, latency time.Duration, now time.Time) {
	if t.b != nil {
		if now.IsZero() {
			now = time.Now()
		}
		t.b.done(t, o.valid(), latency, now)
	}
}

// maxReports bounds how many Tickets a breaker remembers, in bits: 8 KiB.
const maxReports = 1 << 16

// reports records which Tickets were reported, so that Done is single-use.
// Tickets below base are reported or forgotten; bits holds one bit per
// Ticket from base on, in a ring indexed by seq modulo its length. base
// moves past every Ticket reported in order, so the ring spans only the
// Tickets issued since the oldest one still out; it grows to maxReports
// bits when one stays out that long, and then forgets the oldest.
type reports struct {
	base uint64
	bits []uint64
}

func (r *reports) init() {
	r.base = 1
	r.bits = make([]uint64, 1)
}

// first marks seq reported and reports whether this is its first report.
func (r *reports) first(seq uint64) bool {
	if seq < r.base {
		return false
	}
	for seq-r.base >= r.span() {
		if r.span() < maxReports {
			r.grow()
			continue
		}
		// Forget the oldest Tickets, reported or not.
		if seq-r.base >= 2*maxReports {
			clear(r.bits)
			r.base = seq - maxReports + 1
			break
		}
		r.clearBit(r.base)
		r.base++
	}
	if r.bit(seq) {
		return false
	}
	r.setBit(seq)
	for r.bit(r.base) {
		r.clearBit(r.base)
		r.base++
	}
	return true
}

func (r *reports) span() uint64 { return uint64(len(r.bits)) * 64 }

func (r *reports) grow() {
	old := *r
	r.bits = make([]uint64, 2*len(old.bits))
	for s := old.base; s < old.base+old.span(); s++ {
		if old.bit(s) {
			r.setBit(s)
		}
	}
}

func (r *reports) index(seq uint64) (word int, mask uint64) {
	i := seq % r.span()
	return int(i / 64), 1 << (i % 64)
}

func (r *reports) bit(seq uint64) bool {
	w, m := r.index(seq)
	return r.bits[w]&m != 0
}

func (r *reports) setBit(seq uint64) {
	w, m := r.index(seq)
	r.bits[w] |= m
}

func (r *reports) clearBit(seq uint64) {
	w, m := r.index(seq)
	r.bits[w] &^= m
}
