package breaker

import (
	"testing"
	"testing/synctest"
	"time"
)

// FuzzSet runs random sequences of calls, reports, overrides, syncs and
// sleeps against a Set and checks its invariants after every step.
func FuzzSet(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 4, 60, 0, 1})
	f.Add([]byte{5, 3, 1, 0, 1, 1, 1, 2, 4, 200, 2, 0, 2, 1, 3, 6, 5, 7})
	f.Add([]byte{7, 1, 3, 1, 3, 10, 0, 3, 0, 3, 0, 3, 0, 3, 4, 255, 3, 4, 5, 63})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		cfg := Config{
			MaxEjected:          []float64{0.2, 0.5, 1}[data[0]%3],
			PanicMode:           PanicMode(data[0] / 3 % 3),
			HalfOpenProbes:      1 + int(data[1]%3),
			ConsecutiveFailures: 2 + int(data[1]/3%3),
			MinRequests:         4,
			HalfOpenMaxWait:     2 * time.Second,
			OnEvent:             func(Event) {},
			Seed:                1,
		}
		if data[1]&0x80 != 0 {
			cfg.SlowCall = 50 * time.Millisecond
		}
		synctest.Test(t, func(t *testing.T) {
			s := newSet(t, cfg)
			runOps(t, s, data[2:])
		})
	})
}

var fuzzCells = []string{"c0", "c1", "c2", "c3", "c4", "c5"}

func runOps(t *testing.T, s *Set, ops []byte) {
	var pending []Ticket
	for len(ops) >= 2 {
		op, arg := ops[0], ops[1]
		ops = ops[2:]
		cell := fuzzCells[int(arg)%len(fuzzCells)]
		outcome := Outcome(arg % 4) // includes the invalid zero
		latency := time.Duration(arg) * time.Millisecond
		switch op % 6 {
		case 0:
			if tk, err := s.Allow(cell); err == nil {
				tk.Done(outcome, latency)
			}
		case 1:
			if tk, err := s.Allow(cell); err == nil && len(pending) < 16 {
				pending = append(pending, tk)
			}
		case 2:
			if len(pending) > 0 {
				i := int(arg) % len(pending)
				pending[i].Done(outcome, latency)
				if arg&0x80 == 0 { // else leave it, to be reported twice
					pending = append(pending[:i], pending[i+1:]...)
				}
			}
		case 3:
			s.Force(cell, Forced(arg%4))
		case 4:
			time.Sleep(time.Duration(arg) * 100 * time.Millisecond)
		case 5:
			var cells []string
			for i, c := range fuzzCells {
				if arg&(1<<i) != 0 {
					cells = append(cells, c)
				}
			}
			s.Sync(cells)
		}
		synctest.Wait() // timers and events settle
		checkInvariants(t, s)
	}
}

func checkInvariants(t *testing.T, s *Set) {
	t.Helper()
	snap := s.Snapshot()
	now := time.Now()
	panicking := s.Panicking()
	forcedOpen, closed, open, ejected := 0, 0, 0, 0
	for _, cs := range snap {
		switch {
		case cs.Panicking != panicking:
			t.Fatalf("%s: Panicking %v in snapshot, %v from Panicking()", cs.Cell, cs.Panicking, panicking)
		case s.State(cs.Cell) != cs.State:
			t.Fatalf("State(%q) = %v; snapshot says %v", cs.Cell, s.State(cs.Cell), cs.State)
		case s.Available(cs.Cell) != cs.Available:
			t.Fatalf("Available(%q) = %v; snapshot says %v", cs.Cell, s.Available(cs.Cell), cs.Available)
		case cs.Ejected && (cs.State != Open || cs.Forced != Auto):
			t.Fatalf("%s: ejected while %v, %v", cs.Cell, cs.State, cs.Forced)
		case (cs.State == Open && cs.Forced == Auto) == cs.OpenUntil.IsZero():
			t.Fatalf("%s: %v, %v, open until %v", cs.Cell, cs.State, cs.Forced, cs.OpenUntil)
		case !cs.OpenUntil.IsZero() && !cs.OpenUntil.After(now):
			t.Fatalf("%s: still open at %v, until %v", cs.Cell, now, cs.OpenUntil)
		case cs.Probes < 0 || cs.Probes > s.cfg.HalfOpenProbes || cs.Probes > 0 && (cs.State != HalfOpen || cs.Forced != Auto):
			t.Fatalf("%s: %d probes while %v, %v", cs.Cell, cs.Probes, cs.State, cs.Forced)
		case cs.Counts.Successes < 0 || cs.Counts.Ignored < 0 ||
			cs.Counts.ConsecutiveFailures < 0 || cs.Counts.ConsecutiveFailures > cs.Counts.Failures ||
			cs.Counts.Slow < 0 || cs.Counts.Slow > cs.Counts.Successes+cs.Counts.Failures:
			t.Fatalf("%s: Counts %+v", cs.Cell, cs.Counts)
		}
		switch {
		case cs.Forced == ForcedOpen:
			forcedOpen++
		case cs.State == Closed:
			closed++
		case cs.State == Open:
			open++
		}
		if cs.Ejected {
			ejected++
		}
	}

	room := max(ejectionCap(s.cfg.MaxEjected, len(snap))-forcedOpen, 0)
	if ejected != min(room, open) {
		t.Fatalf("%d ejected of %d open, %d forced open, %d cells; want %d", ejected, open, forcedOpen, len(snap), min(room, open))
	}
	counted := len(snap) - forcedOpen
	wantPanic := s.cfg.PanicMode != PanicOff && counted > 0 && float64(closed) < s.cfg.PanicThreshold*float64(counted)
	if panicking != wantPanic {
		t.Fatalf("Panicking() = %v with %d of %d closed; want %v", panicking, closed, counted, wantPanic)
	}
	for _, cs := range snap {
		want := cs.Forced != ForcedOpen && !cs.Ejected
		switch {
		case panicking && s.cfg.PanicMode == FailFast:
			want = false
		case panicking:
			want = cs.Forced != ForcedOpen
		}
		if cs.Available != want {
			t.Fatalf("%s: Available %v while %v, %v, ejected %v, panicking %v; want %v",
				cs.Cell, cs.Available, cs.State, cs.Forced, cs.Ejected, panicking, want)
		}
	}
}
