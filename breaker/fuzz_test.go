package breaker

import (
	"errors"
	"math/rand/v2"
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
		// At most maxFuzzOps operations per input: the checks after every
		// step make an execution's cost grow with its length, and the
		// fuzzer should spend its budget on many sequences, not on a few
		// long ones (TestAvailableMatchesAllow runs sequences of up to 220).
		const maxFuzzOps = 24
		ops := data[2:]
		ops = ops[:min(len(ops), 2*maxFuzzOps)]
		cfg := fuzzConfig(data)
		synctest.Test(t, func(t *testing.T) {
			s := newSet(t, cfg)
			runOps(t, s, ops)
		})
	})
}

// TestAvailableMatchesAllow is the property test of the admission rule: over
// random sequences of calls, held probes, overrides, syncs and sleeps, in
// every panic mode, Available(cell) must be exactly whether Allow(cell)
// admits a call at that instant, for known and unknown cells alike (runOps
// checks it after every step).
func TestAvailableMatchesAllow(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for seed := range 300 {
		data := make([]byte, 2+2*(20+r.IntN(200)))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		// Favour calls, held tickets and reports over the other operations.
		for i := 2; i < len(data); i += 2 {
			if data[i]%10 < 6 {
				data[i] = data[i] % 3
			}
		}
		cfg := fuzzConfig(data)
		synctest.Test(t, func(t *testing.T) {
			s := newSet(t, cfg, fuzzCells...)
			runOps(t, s, data[2:])
		})
		if t.Failed() {
			t.Fatalf("sequence %d: %v", seed, data)
		}
	}
}

func fuzzConfig(data []byte) Config {
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
	return cfg
}

var fuzzCells = []string{"c0", "c1", "c2", "c3", "c4", "c5"}

// unknownCells are never synced.
var unknownCells = []string{"", "c", "c6", "a-cell-name-longer-than-16-bytes"}

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
			_ = s.Force(cell, Forced(arg%4))
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
		checkAvailableIsAllow(t, s)
	}
}

// checkAvailableIsAllow asks Available and then Allow for every cell, at
// the same instant, and checks that they agree; an admitted call is reported
// Ignored, which changes no state and frees a probe's slot.
func checkAvailableIsAllow(t *testing.T, s *Set) {
	t.Helper()
	for _, cell := range append(fuzzCells, unknownCells...) {
		avail := s.Available(cell)
		tk, err := s.Allow(cell)
		if avail != (err == nil) {
			t.Fatalf("Available(%q) = %v, but Allow = %v (%v, %v, panicking %v)",
				cell, avail, err, s.State(cell), s.cells.Load().get(cell) != nil, s.Panicking())
		}
		if err != nil && errors.Is(err, ErrUnknownCell) == (s.cells.Load().get(cell) != nil) {
			t.Fatalf("Allow(%q) = %v; want ErrUnknownCell exactly for unknown cells", cell, err)
		}
		tk.Done(Ignored, 0)
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
	failOpen := panicking && s.cfg.PanicMode == FailOpen
	failFast := panicking && s.cfg.PanicMode == FailFast
	for _, cs := range snap {
		var want bool
		switch {
		case cs.Forced == ForcedOpen:
			want = false
		case cs.Forced == ForcedClosed:
			want = true
		case cs.State == Closed:
			want = !failFast
		case cs.State == HalfOpen: // Counts.Successes are the probes that succeeded
			want = cs.Probes+cs.Counts.Successes < s.cfg.HalfOpenProbes || failOpen
		default: // open
			want = failOpen || !failFast && !cs.Ejected
		}
		if cs.Available != want {
			t.Fatalf("%s: Available %v while %v, %v, ejected %v, panicking %v; want %v",
				cs.Cell, cs.Available, cs.State, cs.Forced, cs.Ejected, panicking, want)
		}
	}
}
