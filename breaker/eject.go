package breaker

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// rebalance recomputes which open breakers are ejected and whether the Set
// panics, the gate that decide reads with each breaker's word. Every change
// of a breaker's state calls it after releasing the breaker's lock. It reads
// the state all breakers have now rather than the change that triggered it,
// so concurrent calls may run in any order and the last leaves the right
// answer.
func (s *Set) rebalance() {
	s.mu.Lock()
	s.rebalanceLocked()
	s.mu.Unlock()
}

func (s *Set) rebalanceLocked() {
	cells := s.cells.Load().cells
	views := s.views[:0]
	forcedOpen, closed := 0, 0
	for _, b := range cells {
		v := cellView{b: b, word: b.word.Load()}
		switch {
		case forcedOf(v.word) == ForcedOpen:
			forcedOpen++
		case stateOf(v.word) == Closed:
			closed++
		case stateOf(v.word) == Open:
			v.open = true
			v.trip = b.tripSeq.Load()
		}
		views = append(views, v)
	}
	// Open breakers first, in the order they opened: first come, first
	// served, the ones that opened first are ejected.
	slices.SortFunc(views, func(x, y cellView) int {
		if x.open != y.open {
			if x.open {
				return -1
			}
			return 1
		}
		return cmp.Compare(x.trip, y.trip)
	})
	room := ejectionCap(s.cfg.MaxEjected, len(cells)) - forcedOpen

	counted := len(cells) - forcedOpen
	panicking := s.cfg.PanicMode != PanicOff && counted > 0 &&
		float64(closed) < s.cfg.PanicThreshold*float64(counted)
	var panicGate uint32
	if panicking {
		panicGate = gateFailOpen
		if s.cfg.PanicMode == FailFast {
			panicGate = gateFailFast
		}
	}
	for i, v := range views {
		g := panicGate
		ejected := v.open && i < room
		if ejected {
			g |= gateEjected
		}
		if v.b.gate.Load() != g {
			v.b.gate.Store(g)
		}
	}
	clear(views) // keep no dropped breaker alive
	s.views = views[:0]

	if s.panicking.Load() != panicking {
		s.panicking.Store(panicking)
		kind := PanicEnded
		if panicking {
			kind = PanicStarted
		}
		s.events.push(Event{Kind: kind, Time: time.Now(), ClosedCells: closed, Cells: counted})
	}
}

// cellView is what rebalance reads of a breaker, read once so that every
// decision about it agrees.
type cellView struct {
	b    *cellBreaker
	word uint64
	open bool   // open and not forced
	trip uint64 // tripSeq, if open
}

// ejectionCap returns how many of n cells may be unavailable at once:
// the fraction frac of them, rounded down, but at least one.
func ejectionCap(frac float64, n int) int {
	// The epsilon absorbs floating-point error: 0.29·100 is
	// 28.999999999999996 in float64 and must give 29.
	return int(math.Max(1, math.Floor(frac*float64(n)+1e-9)))
}
