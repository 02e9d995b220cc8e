package breaker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sony/gobreaker/v2"
)

// newSet returns a Set that knows cells, or only "c" if none are given.
func newSet(t *testing.T, cfg Config, cells ...string) *Set {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	if len(cells) == 0 {
		cells = []string{"c"}
	}
	s.Sync(cells)
	return s
}

func mustForce(t *testing.T, s *Set, cell string, f Forced) {
	t.Helper()
	if err := s.Force(cell, f); err != nil {
		t.Fatalf("Force(%q, %v) = %v", cell, f, err)
	}
}

// call makes an admitted call to cell that ends with o.
func call(t *testing.T, s *Set, cell string, o Outcome, latency time.Duration) {
	t.Helper()
	tk, err := s.Allow(cell)
	if err != nil {
		t.Fatalf("Allow(%q) = %v; want a ticket", cell, err)
	}
	tk.Done(o, latency)
}

func wantState(t *testing.T, s *Set, cell string, want State) {
	t.Helper()
	if got := s.State(cell); got != want {
		t.Fatalf("State(%q) = %v; want %v", cell, got, want)
	}
}

func wantAvailable(t *testing.T, s *Set, cell string, want bool) {
	t.Helper()
	if got := s.Available(cell); got != want {
		t.Fatalf("Available(%q) = %v; want %v", cell, got, want)
	}
}

func cellState(t *testing.T, s *Set, cell string) CellState {
	t.Helper()
	for _, cs := range s.Snapshot() {
		if cs.Cell == cell {
			return cs
		}
	}
	t.Fatalf("Snapshot() has no cell %q", cell)
	return CellState{}
}

// openUntilHalfOpen sleeps through the cell's open time.
func openUntilHalfOpen(t *testing.T, s *Set, cell string) {
	t.Helper()
	cs := cellState(t, s, cell)
	if cs.State != Open || cs.OpenUntil.IsZero() {
		t.Fatalf("cell %q is %v until %v; want open with an end", cell, cs.State, cs.OpenUntil)
	}
	time.Sleep(time.Until(cs.OpenUntil) + time.Millisecond)
	synctest.Wait()
	wantState(t, s, cell, HalfOpen)
}

type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) record(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// take returns and forgets the events delivered so far; call synctest.Wait
// first inside a bubble.
func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.events
	r.events = nil
	return evs
}

func TestTripOnFailureRatio(t *testing.T) {
	tests := []struct {
		name     string
		failures int // interleaved with the successes, failures first
		total    int
		want     State
	}{
		{"below minimum volume", 10, 19, Closed},
		{"half of minimum volume", 10, 20, Open},
		{"under the ratio", 9, 20, Closed},
		{"over the ratio", 15, 20, Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSet(t, Config{ConsecutiveFailures: 100, PanicMode: PanicOff})
			failures := 0
			for i := range tt.total {
				o := Success
				if failures < tt.failures && (i%2 == 0 || tt.total-i <= tt.failures-failures) {
					o = Failure
					failures++
				}
				wantState(t, s, "c", Closed)
				call(t, s, "c", o, time.Millisecond)
			}
			wantState(t, s, "c", tt.want)
		})
	}
}

func TestTripOnConsecutiveFailures(t *testing.T) {
	tests := []struct {
		name     string
		outcomes []Outcome
		want     State
	}{
		{"four", []Outcome{Failure, Failure, Failure, Failure}, Closed},
		{"five", []Outcome{Failure, Failure, Failure, Failure, Failure}, Open},
		{"broken by a success", []Outcome{Failure, Failure, Failure, Failure, Success, Failure}, Closed},
		{"not broken by ignored", []Outcome{Failure, Failure, Ignored, Failure, Failure, Failure}, Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSet(t, Config{PanicMode: PanicOff})
			for _, o := range tt.outcomes {
				call(t, s, "c", o, time.Millisecond)
			}
			wantState(t, s, "c", tt.want)
		})
	}
}

func TestWindowDropsOldBuckets(t *testing.T) {
	tests := []struct {
		after time.Duration
		want  State
	}{
		{9 * time.Second, Open},    // the failures are in the window
		{10 * time.Second, Closed}, // their bucket has rolled out
	}
	for _, tt := range tests {
		t.Run(tt.after.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newSet(t, Config{ConsecutiveFailures: 100, PanicMode: PanicOff})
				for range 10 {
					call(t, s, "c", Failure, time.Millisecond)
				}
				time.Sleep(tt.after)
				for range 10 {
					call(t, s, "c", Success, time.Millisecond)
				}
				wantState(t, s, "c", tt.want)
			})
		})
	}

	t.Run("consecutive failures partly rolled out", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newSet(t, Config{PanicMode: PanicOff})
			call(t, s, "c", Failure, time.Millisecond)
			call(t, s, "c", Failure, time.Millisecond)
			time.Sleep(5 * time.Second)
			call(t, s, "c", Failure, time.Millisecond)
			call(t, s, "c", Failure, time.Millisecond)
			time.Sleep(5 * time.Second) // the first two roll out
			call(t, s, "c", Failure, time.Millisecond)
			wantState(t, s, "c", Closed)
			if got := cellState(t, s, "c").Counts.ConsecutiveFailures; got != 3 {
				t.Fatalf("Counts.ConsecutiveFailures = %d; want 3", got)
			}
		})
	})

	t.Run("consecutive failures", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newSet(t, Config{PanicMode: PanicOff})
			for range 4 {
				call(t, s, "c", Failure, time.Millisecond)
			}
			time.Sleep(10 * time.Second)
			call(t, s, "c", Failure, time.Millisecond)
			wantState(t, s, "c", Closed)
			want := Counts{Requests: 1, Failures: 1, ConsecutiveFailures: 1}
			if got := cellState(t, s, "c").Counts; got != want {
				t.Fatalf("Counts = %+v; want %+v", got, want)
			}
		})
	})
}

func TestSlowCalls(t *testing.T) {
	const threshold = 100 * time.Millisecond
	tests := []struct {
		name     string
		slowCall time.Duration
		slow     int // calls of latency, the rest take 1ms
		latency  time.Duration
		outcome  Outcome
		want     State
		wantSlow int
	}{
		{"half slow", threshold, 10, 150 * time.Millisecond, Success, Open, 10},
		{"under the ratio", threshold, 9, 150 * time.Millisecond, Success, Closed, 9},
		{"at the threshold is not slow", threshold, 20, threshold, Success, Closed, 0},
		{"ignored is never slow", threshold, 20, time.Second, Ignored, Closed, 0},
		{"off", 0, 20, time.Hour, Success, Closed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSet(t, Config{SlowCall: tt.slowCall, PanicMode: PanicOff})
			for range tt.slow {
				call(t, s, "c", tt.outcome, tt.latency)
			}
			var slow int
			if tt.want == Closed {
				slow = cellState(t, s, "c").Counts.Slow
			}
			for range 20 - tt.slow {
				call(t, s, "c", Success, time.Millisecond)
			}
			wantState(t, s, "c", tt.want)
			if tt.want == Closed && slow != tt.wantSlow {
				t.Fatalf("Counts.Slow = %d; want %d", slow, tt.wantSlow)
			}
		})
	}

	t.Run("slow failures count", func(t *testing.T) {
		r := new(recorder)
		synctest.Test(t, func(t *testing.T) {
			s := newSet(t, Config{SlowCall: threshold, SlowRatio: 0.25, ConsecutiveFailures: 100,
				FailureRatio: 0.9, PanicMode: PanicOff, OnEvent: r.record})
			for i := range 20 {
				o, latency := Success, time.Millisecond
				if i%4 == 0 {
					o, latency = Failure, time.Second
				}
				call(t, s, "c", o, latency)
			}
			wantState(t, s, "c", Open)
			synctest.Wait()
			evs := r.take()
			want := Counts{Requests: 20, Successes: 15, Failures: 5, Slow: 5, ConsecutiveSuccesses: 3}
			if len(evs) != 1 || evs[0].Counts != want {
				t.Fatalf("events = %+v; want one with counts %+v", evs, want)
			}
		})
	})
}

func TestOpenTimeBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const jitter = 0.01
		s := newSet(t, Config{Jitter: jitter, HalfOpenProbes: 1, PanicMode: PanicOff})
		tripCell(t, s, "c")
		for i, nominal := range []time.Duration{5, 10, 20, 40, 60, 60} {
			nominal *= time.Second
			cs := cellState(t, s, "c")
			got := time.Until(cs.OpenUntil)
			lo, hi := time.Duration(float64(nominal)*(1-jitter)), min(time.Duration(float64(nominal)*(1+jitter)), 60*time.Second)
			if got < lo || got > hi || cs.ConsecutiveOpens != i+1 {
				t.Fatalf("open #%d: open for %v, ConsecutiveOpens %d; want [%v, %v], %d", i+1, got, cs.ConsecutiveOpens, lo, hi, i+1)
			}
			openUntilHalfOpen(t, s, "c")
			call(t, s, "c", Failure, time.Millisecond)
			wantState(t, s, "c", Open)
		}

		openUntilHalfOpen(t, s, "c")
		call(t, s, "c", Success, time.Millisecond)
		wantState(t, s, "c", Closed)
		tripCell(t, s, "c")
		cs := cellState(t, s, "c")
		if got := time.Until(cs.OpenUntil); got < 4950*time.Millisecond || got > 5050*time.Millisecond || cs.ConsecutiveOpens != 1 {
			t.Fatalf("after a close: open for %v, ConsecutiveOpens %d; want 5s ±1%%, 1", got, cs.ConsecutiveOpens)
		}
	})
}

func TestOpenTimeJitter(t *testing.T) {
	openTimes := func(t *testing.T, seed uint64) []time.Duration {
		var times []time.Duration
		synctest.Test(t, func(t *testing.T) {
			s := newSet(t, Config{Seed: seed, HalfOpenProbes: 1, PanicMode: PanicOff})
			for range 50 {
				tripCell(t, s, "c")
				times = append(times, time.Until(cellState(t, s, "c").OpenUntil))
				openUntilHalfOpen(t, s, "c")
				call(t, s, "c", Success, time.Millisecond)
			}
		})
		return times
	}
	times := openTimes(t, 1)
	lo, hi := times[0], times[0]
	for _, d := range times {
		if d < 2500*time.Millisecond || d > 7500*time.Millisecond {
			t.Fatalf("open time %v; want 5s ±50%%", d)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > 4*time.Second || hi < 6*time.Second {
		t.Errorf("open times span [%v, %v]; want them spread over 5s ±50%%", lo, hi)
	}
	if again := openTimes(t, 1); fmt.Sprint(again) != fmt.Sprint(times) {
		t.Errorf("open times with the same seed differ:\n%v\n%v", again, times)
	}
	if other := openTimes(t, 2); fmt.Sprint(other) == fmt.Sprint(times) {
		t.Errorf("open times with seeds 1 and 2 are the same: %v", other)
	}
}

func TestHalfOpen(t *testing.T) {
	// halfOpen returns a Set whose cell "c" is half-open.
	halfOpen := func(t *testing.T, cfg Config) *Set {
		cfg.PanicMode = PanicOff
		s := newSet(t, cfg)
		tripCell(t, s, "c")
		openUntilHalfOpen(t, s, "c")
		return s
	}
	probes := func(t *testing.T, s *Set, n int) []Ticket {
		t.Helper()
		tickets := make([]Ticket, n)
		for i := range tickets {
			tk, err := s.Allow("c")
			if err != nil {
				t.Fatalf("probe %d: Allow = %v; want a ticket", i+1, err)
			}
			tickets[i] = tk
		}
		return tickets
	}
	wantTooMany := func(t *testing.T, s *Set) {
		t.Helper()
		_, err := s.Allow("c")
		if !errors.Is(err, ErrTooManyProbes) || !errors.Is(err, gobreaker.ErrTooManyRequests) {
			t.Fatalf("Allow = %v; want ErrTooManyProbes matching gobreaker.ErrTooManyRequests", err)
		}
	}

	t.Run("probes succeed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := halfOpen(t, Config{})
			wantAvailable(t, s, "c", true)
			tickets := probes(t, s, 3)
			wantTooMany(t, s)
			for i, tk := range tickets {
				wantState(t, s, "c", HalfOpen)
				tk.Done(Success, time.Millisecond)
				if i < 2 {
					wantTooMany(t, s) // a success frees no slot: 3 successes close
				}
			}
			wantState(t, s, "c", Closed)
			if got := cellState(t, s, "c").ConsecutiveOpens; got != 0 {
				t.Fatalf("ConsecutiveOpens = %d; want 0 after closing", got)
			}
		})
	})

	t.Run("a probe fails", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := halfOpen(t, Config{})
			tickets := probes(t, s, 3)
			tickets[0].Done(Success, time.Millisecond)
			tickets[1].Done(Failure, time.Millisecond)
			wantState(t, s, "c", Open)
			tickets[2].Done(Success, time.Millisecond) // of the old generation: not judged
			wantState(t, s, "c", Open)
			if got := cellState(t, s, "c").ConsecutiveOpens; got != 2 {
				t.Fatalf("ConsecutiveOpens = %d; want 2", got)
			}
		})
	})

	t.Run("a probe is slow", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := halfOpen(t, Config{SlowCall: time.Second})
			probes(t, s, 1)[0].Done(Success, 2*time.Second)
			wantState(t, s, "c", Open)
		})
	})

	t.Run("probes are lost", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := halfOpen(t, Config{HalfOpenMaxWait: 3 * time.Second})
			time.Sleep(time.Hour) // no probe in flight: no deadline
			wantState(t, s, "c", HalfOpen)
			first := probes(t, s, 1)[0]
			time.Sleep(2 * time.Second)
			tickets := probes(t, s, 2)
			wantTooMany(t, s)
			time.Sleep(time.Second - time.Millisecond)
			synctest.Wait()
			wantState(t, s, "c", HalfOpen)
			time.Sleep(time.Millisecond) // the first probe is 3s old
			synctest.Wait()
			wantState(t, s, "c", Open)
			first.Done(Success, time.Millisecond)
			tickets[0].Done(Success, time.Millisecond)
			tickets[1].Done(Success, time.Millisecond)
			if cs := cellState(t, s, "c"); cs.State != Open || cs.ConsecutiveOpens != 2 {
				t.Fatalf("after late reports: %v with ConsecutiveOpens %d; want open, 2", cs.State, cs.ConsecutiveOpens)
			}
		})
	})

	t.Run("a lost probe's deadline moves to the next", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := halfOpen(t, Config{HalfOpenMaxWait: 3 * time.Second})
			first := probes(t, s, 1)[0]
			time.Sleep(2 * time.Second)
			second := probes(t, s, 1)[0]
			first.Done(Success, time.Millisecond)
			time.Sleep(2 * time.Second) // 4s after the first probe, 2s after the second
			synctest.Wait()
			wantState(t, s, "c", HalfOpen)
			time.Sleep(time.Second)
			synctest.Wait()
			wantState(t, s, "c", Open)
			second.Done(Success, time.Millisecond)
		})
	})

	t.Run("Done twice on a probe", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := halfOpen(t, Config{})
			tickets := probes(t, s, 3)
			tickets[0].Done(Success, time.Millisecond)
			tickets[0].Done(Success, time.Millisecond)
			tickets[0].Done(Success, time.Millisecond)
			wantState(t, s, "c", HalfOpen)
			if cs := cellState(t, s, "c"); cs.Counts.Successes != 1 || cs.Probes != 2 {
				t.Fatalf("Counts.Successes = %d, Probes = %d; want 1, 2", cs.Counts.Successes, cs.Probes)
			}
			tickets[1].Done(Success, time.Millisecond)
			tickets[2].Done(Success, time.Millisecond)
			wantState(t, s, "c", Closed)
		})
	})
}

// TestEjectionCap trips 7 of 10 cells with MaxEjected 0.5.
func TestEjectionCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cells := cellNames(10)
		s := newSet(t, Config{PanicMode: PanicOff, Jitter: -1}, cells...)
		check := func(wantEjected ...string) {
			t.Helper()
			synctest.Wait()
			unavailable := 0
			for _, cell := range cells {
				if !s.Available(cell) {
					unavailable++
				}
			}
			if unavailable > 5 {
				t.Fatalf("%d cells unavailable; want at most 5", unavailable)
			}
			var ejected []string
			for _, cs := range s.Snapshot() {
				if cs.Ejected {
					ejected = append(ejected, cs.Cell)
				}
				if cs.Ejected != !cs.Available {
					t.Fatalf("%s: Ejected %v, Available %v; want opposites", cs.Cell, cs.Ejected, cs.Available)
				}
			}
			if fmt.Sprint(ejected) != fmt.Sprint(wantEjected) {
				t.Fatalf("ejected %v; want %v", ejected, wantEjected)
			}
		}

		for _, cell := range cells[:5] {
			tripCell(t, s, cell)
		}
		time.Sleep(time.Second)
		for _, cell := range cells[5:7] {
			tripCell(t, s, cell)
		}
		check(cells[:5]...)
		if cs := cellState(t, s, cells[5]); cs.State != Open || cs.Ejected || !cs.Available {
			t.Fatalf("tracked cell %s: %v, Ejected %v, Available %v; want open, false, true", cs.Cell, cs.State, cs.Ejected, cs.Available)
		}
		for _, cell := range cells[5:7] {
			wantState(t, s, cell, Open)
			wantAvailable(t, s, cell, true)
			call(t, s, cell, Failure, time.Millisecond) // tracked: admitted, not judged
		}
		if cs := cellState(t, s, cells[5]); cs.Counts != (Counts{}) || cs.Totals.Failures != 5+1 {
			t.Fatalf("tracked cell: Counts %+v, Totals %+v; want none judged, 6 failures", cs.Counts, cs.Totals)
		}
		_, err := s.Allow(cells[0])
		if !errors.Is(err, ErrOpen) || !errors.Is(err, gobreaker.ErrOpenState) {
			t.Fatalf("Allow(%q) = %v; want ErrOpen matching gobreaker.ErrOpenState", cells[0], err)
		}

		mustForce(t, s, cells[0], ForcedClosed) // room for one
		check(append(cells[1:5:5], cells[5])...)
		mustForce(t, s, cells[0], Auto) // resumes open, first in line again
		check(cells[:5]...)

		// c00-c04 opened at 0s for 5s: when they turn half-open,
		// c05 and c06, opened at 1s, are ejected until they do too.
		time.Sleep(5100*time.Millisecond - time.Second)
		check(cells[5:7]...)
		for _, cell := range cells[:5] {
			wantState(t, s, cell, HalfOpen)
		}
		time.Sleep(time.Second)
		check()
	})
}

// TestForcedOpenUsesTheCap checks that cells forced open count against
// MaxEjected before open breakers do.
func TestForcedOpenUsesTheCap(t *testing.T) {
	cells := cellNames(6) // the cap is 3
	s := newSet(t, Config{PanicMode: PanicOff}, cells...)
	mustForce(t, s, cells[0], ForcedOpen)
	mustForce(t, s, cells[1], ForcedOpen)
	tripCell(t, s, cells[2])
	tripCell(t, s, cells[3])
	wantAvailable(t, s, cells[2], false)
	wantAvailable(t, s, cells[3], true)
	mustForce(t, s, cells[4], ForcedOpen) // forced open even with no room left
	wantAvailable(t, s, cells[4], false)
	wantAvailable(t, s, cells[2], true)
	mustForce(t, s, cells[0], Auto)
	mustForce(t, s, cells[1], Auto)
	wantAvailable(t, s, cells[2], false)
	wantAvailable(t, s, cells[3], false)
}

func TestPanic(t *testing.T) {
	tests := []struct {
		mode          PanicMode
		wantAvailable bool
		wantErr       error // from Allow on an open cell
	}{
		{FailOpen, true, nil},
		{FailFast, false, ErrPanic},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			r := new(recorder)
			synctest.Test(t, func(t *testing.T) {
				cells := cellNames(10)
				s := newSet(t, Config{MaxEjected: 1, PanicMode: tt.mode, OnEvent: r.record}, cells...)
				for _, cell := range cells[:5] {
					tripCell(t, s, cell)
				}
				if s.Panicking() {
					t.Fatal("Panicking() = true with 5 of 10 closed; want false")
				}
				tripCell(t, s, cells[5])
				if !s.Panicking() {
					t.Fatal("Panicking() = false with 4 of 10 closed; want true")
				}
				for _, cs := range s.Snapshot() {
					if cs.Available != tt.wantAvailable || !cs.Panicking || s.Available(cs.Cell) != tt.wantAvailable {
						t.Fatalf("%s while panicking: Available %v (snapshot %v), Panicking %v; want %v, true",
							cs.Cell, s.Available(cs.Cell), cs.Available, cs.Panicking, tt.wantAvailable)
					}
				}
				for _, cell := range []string{cells[0], cells[9]} {
					tk, err := s.Allow(cell)
					if err != tt.wantErr {
						t.Fatalf("Allow(%q) = %v; want %v", cell, err, tt.wantErr)
					}
					tk.Done(Success, time.Millisecond)
				}
				if tt.wantErr != nil && !errors.Is(tt.wantErr, ErrOpen) {
					t.Fatalf("%v does not match ErrOpen", tt.wantErr)
				}

				mustForce(t, s, cells[5], ForcedClosed) // 5 of 10 closed again
				if s.Panicking() {
					t.Fatal("Panicking() = true with 5 of 10 closed; want false")
				}
				wantAvailable(t, s, cells[0], false)
				wantAvailable(t, s, cells[9], true)

				synctest.Wait()
				var panics []string
				for _, e := range r.take() {
					if e.Kind != StateChanged {
						panics = append(panics, fmt.Sprintf("%v %d/%d", e.Kind, e.ClosedCells, e.Cells))
					}
				}
				if got, want := fmt.Sprint(panics), "[panic-started 4/10 panic-ended 5/10]"; got != want {
					t.Fatalf("panic events %s; want %s", got, want)
				}
			})
		})
	}

	t.Run("fail-fast admits probes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newSet(t, Config{PanicMode: FailFast, HalfOpenProbes: 1})
			tripCell(t, s, "c") // the only cell: the Set panics
			if !s.Panicking() {
				t.Fatal("Panicking() = false; want true")
			}
			openUntilHalfOpen(t, s, "c")
			wantAvailable(t, s, "c", true) // Allow would admit the probe
			call(t, s, "c", Success, time.Millisecond)
			wantState(t, s, "c", Closed)
			if s.Panicking() {
				t.Fatal("Panicking() = true after the cell closed; want false")
			}
		})
	})
}

func TestForce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSet(t, Config{PanicMode: PanicOff}, "a", "b", "c", "d")

		mustForce(t, s, "a", ForcedOpen)
		time.Sleep(time.Hour) // windows roll, open times would end
		wantState(t, s, "a", Open)
		wantAvailable(t, s, "a", false)
		_, err := s.Allow("a")
		if !errors.Is(err, ErrForcedOpen) || !errors.Is(err, ErrOpen) || !errors.Is(err, gobreaker.ErrOpenState) {
			t.Fatalf("Allow(a) = %v; want ErrForcedOpen matching ErrOpen and gobreaker.ErrOpenState", err)
		}
		if cs := cellState(t, s, "a"); cs.Forced != ForcedOpen || cs.Ejected || !cs.OpenUntil.IsZero() {
			t.Fatalf("Snapshot: %+v; want forced open, not ejected, no end", cs)
		}
		mustForce(t, s, "a", Auto)
		wantState(t, s, "a", Closed)
		wantAvailable(t, s, "a", true)

		mustForce(t, s, "b", ForcedClosed)
		for range 100 {
			call(t, s, "b", Failure, time.Millisecond)
		}
		time.Sleep(time.Hour)
		wantState(t, s, "b", Closed)
		for range 100 {
			call(t, s, "b", Failure, time.Millisecond)
		}
		mustForce(t, s, "b", Auto) // judges the window it kept
		wantState(t, s, "b", Open)

		// Forcing pauses an open breaker; Auto resumes it.
		tripCell(t, s, "c")
		mustForce(t, s, "c", ForcedClosed)
		time.Sleep(time.Minute)
		wantState(t, s, "c", Closed)
		mustForce(t, s, "c", Auto)
		wantState(t, s, "c", HalfOpen)

		err = s.Force("d", Forced(7))
		var ce *CellError
		if !errors.Is(err, ErrInvalidForced) || !errors.As(err, &ce) || ce.Cell != "d" {
			t.Fatalf("Force(d, Forced(7)) = %v; want a *CellError for d matching ErrInvalidForced", err)
		}
		wantState(t, s, "d", Closed)
		for _, f := range []Forced{Auto, ForcedOpen, ForcedClosed} {
			err := s.Force("unknown", f)
			if !errors.Is(err, ErrUnknownCell) || errors.Is(err, ErrOpen) || !errors.As(err, &ce) || ce.Cell != "unknown" {
				t.Fatalf("Force(unknown, %v) = %v; want a *CellError for unknown matching ErrUnknownCell, not ErrOpen", f, err)
			}
		}
		if n := len(s.Snapshot()); n != 4 {
			t.Fatalf("len(Snapshot()) = %d; want 4: Force creates no breaker", n)
		}
	})
}

func TestCancelledCallsNeverMoveABreaker(t *testing.T) {
	cancelled := fmt.Errorf("calling cell: %w", context.Canceled)
	synctest.Test(t, func(t *testing.T) {
		s := newSet(t, Config{PanicMode: PanicOff})
		for range 100 {
			call(t, s, "c", s.Classify(cancelled), time.Hour)
		}
		wantState(t, s, "c", Closed)
		if got, want := cellState(t, s, "c").Counts, (Counts{Requests: 100, Ignored: 100}); got != want {
			t.Fatalf("Counts = %+v; want %+v", got, want)
		}

		tripCell(t, s, "c")
		openUntilHalfOpen(t, s, "c")
		for range 10 { // each cancelled probe frees its slot
			for range 3 {
				call(t, s, "c", s.Classify(cancelled), time.Hour)
			}
		}
		wantState(t, s, "c", HalfOpen)
		for range 4 {
			call(t, s, "c", Failure, time.Millisecond)
			openUntilHalfOpen(t, s, "c")
			call(t, s, "c", s.Classify(cancelled), time.Millisecond)
			wantState(t, s, "c", HalfOpen)
		}
	})
}

func TestDefaultClassify(t *testing.T) {
	tests := []struct {
		err  error
		want Outcome
	}{
		{nil, Success},
		{context.Canceled, Ignored},
		{fmt.Errorf("get: %w", context.Canceled), Ignored},
		{context.DeadlineExceeded, Failure},
		{errors.New("connection refused"), Failure},
	}
	for _, tt := range tests {
		if got := DefaultClassify(tt.err); got != tt.want {
			t.Errorf("DefaultClassify(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
	s := newSet(t, Config{Classify: func(error) Outcome { return Ignored }})
	if got := s.Classify(nil); got != Ignored {
		t.Errorf("Classify(nil) with Config.Classify = %v; want %v", got, Ignored)
	}
}

func TestEvents(t *testing.T) {
	r := new(recorder)
	synctest.Test(t, func(t *testing.T) {
		s := newSet(t, Config{PanicMode: PanicOff, HalfOpenProbes: 1, OnEvent: r.record})
		call(t, s, "c", Success, time.Millisecond)
		tripCell(t, s, "c")
		openUntilHalfOpen(t, s, "c")
		call(t, s, "c", Success, time.Millisecond)
		mustForce(t, s, "c", ForcedOpen)
		synctest.Wait()

		evs := r.take()
		type step struct {
			from, to State
			forced   Forced
			counts   Counts
			opens    int
		}
		want := []step{
			{Closed, Open, Auto, Counts{Requests: 6, Successes: 1, Failures: 5, ConsecutiveFailures: 5}, 1},
			{Open, HalfOpen, Auto, Counts{}, 1},
			{HalfOpen, Closed, Auto, Counts{Requests: 1, Successes: 1, ConsecutiveSuccesses: 1}, 0},
			{Closed, Open, ForcedOpen, Counts{}, 0},
		}
		if len(evs) != len(want) {
			t.Fatalf("got %d events %+v; want %d", len(evs), evs, len(want))
		}
		for i, e := range evs {
			got := step{e.From, e.To, e.Forced, e.Counts, e.ConsecutiveOpens}
			if e.Kind != StateChanged || e.Cell != "c" || got != want[i] {
				t.Errorf("event %d: %v %q %+v; want state-changed \"c\" %+v", i, e.Kind, e.Cell, got, want[i])
			}
		}
		if !evs[0].OpenUntil.After(evs[0].Time) || !evs[1].Time.Equal(evs[0].OpenUntil) {
			t.Errorf("open event until %v at %v, half-open at %v; want half-open at the end of the open time",
				evs[0].OpenUntil, evs[0].Time, evs[1].Time)
		}
	})
}

// TestHandlerCallsBack checks that a handler may call the Set: Snapshot,
// Allow and Force from inside an event, and that the event Force causes is
// delivered after it. It runs outside a bubble so that a deadlock fails the
// test after a timeout instead of hanging it.
func TestHandlerCallsBack(t *testing.T) {
	var s *Set
	done := make(chan []string, 1)
	var seen []string
	handler := func(e Event) {
		seen = append(seen, e.Cell+":"+e.To.String())
		if e.Cell == "a" && e.To == Open {
			_ = s.Snapshot()
			if tk, err := s.Allow("a"); err == nil {
				tk.Done(Success, time.Millisecond)
			}
			if tk, err := s.Allow("b"); err == nil {
				tk.Done(Failure, time.Millisecond)
			}
			_ = s.Force("b", ForcedOpen)
		}
		if e.Cell == "b" {
			done <- slices.Clone(seen)
		}
	}
	s, err := New(Config{PanicMode: PanicOff, OnEvent: handler})
	if err != nil {
		t.Fatal(err)
	}
	s.Sync([]string{"a", "b"})
	go func() {
		for range 5 {
			if tk, err := s.Allow("a"); err == nil {
				tk.Done(Failure, time.Millisecond)
			}
		}
	}()
	select {
	case got := <-done:
		if want := "[a:open b:open]"; fmt.Sprint(got) != want {
			t.Fatalf("events %v; want %v", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event for b after 10s: the handler deadlocked")
	}
	_ = s.Force("a", ForcedClosed) // stops a's timer
}

func TestSync(t *testing.T) {
	r := new(recorder)
	synctest.Test(t, func(t *testing.T) {
		s := newSet(t, Config{PanicMode: PanicOff, OnEvent: r.record}, "b", "a", "c", "a")
		if got := fmt.Sprint(cellNamesOf(s.Snapshot())); got != "[a b c]" {
			t.Fatalf("Snapshot cells %s after Sync(b a c a); want [a b c]", got)
		}
		tripCell(t, s, "a")
		tk, err := s.Allow("b")
		if err != nil {
			t.Fatal(err)
		}
		s.Sync([]string{"b", "d"})
		if got := fmt.Sprint(cellNamesOf(s.Snapshot())); got != "[b d]" {
			t.Fatalf("Snapshot cells %s after Sync(b d); want [b d]", got)
		}
		tk.Done(Failure, time.Millisecond) // kept: b is still known
		if got := cellState(t, s, "b").Counts.Failures; got != 1 {
			t.Fatalf("b: Counts.Failures = %d; want 1", got)
		}
		wantState(t, s, "a", Closed) // dropped: unknown
		wantAvailable(t, s, "a", false)
		if _, err := s.Allow("a"); !errors.Is(err, ErrUnknownCell) {
			t.Fatalf("Allow(a) after Sync(b d) = %v; want ErrUnknownCell", err)
		}
		time.Sleep(time.Minute) // a's dropped timer must not fire
		synctest.Wait()
		if evs := r.take(); len(evs) != 1 || evs[0].Cell != "a" || evs[0].To != Open {
			t.Fatalf("events %+v; want only a's trip", evs)
		}

		if _, err := s.Allow("e"); !errors.Is(err, ErrUnknownCell) { // use adds no cell
			t.Fatalf("Allow(e) = %v; want ErrUnknownCell", err)
		}
		if got := fmt.Sprint(cellNamesOf(s.Snapshot())); got != "[b d]" {
			t.Fatalf("Snapshot cells %s after Allow(e); want [b d]", got)
		}
		s.Sync(nil)
		if n := len(s.Snapshot()); n != 0 {
			t.Fatalf("len(Snapshot()) = %d after Sync(nil); want 0", n)
		}
	})
}

func cellNamesOf(states []CellState) []string {
	names := make([]string, len(states))
	for i, cs := range states {
		names[i] = cs.Cell
	}
	return names
}

func TestOddInputs(t *testing.T) {
	var zero Ticket
	zero.Done(Success, time.Second) // no-op

	odd := []string{"", "a", "a-much-longer-cell-name-than-sixteen-bytes"}
	s := newSet(t, Config{PanicMode: PanicOff, MaxEjected: 1}, append(odd, "x")...)
	for _, cell := range odd {
		wantAvailable(t, s, cell, true)
		wantState(t, s, cell, Closed)
		tripCell(t, s, cell)
		wantAvailable(t, s, cell, false)
	}
	reportTwice := func(o Outcome) {
		tk, err := s.Allow("x")
		if err != nil {
			t.Fatal(err)
		}
		tk.Done(o, -time.Second)
		tk.Done(Failure, -time.Second) // ignored: single-use
	}
	reportTwice(Outcome(0))
	reportTwice(Outcome(200))
	if got, want := cellState(t, s, "x").Counts, (Counts{Requests: 2, Ignored: 2}); got != want {
		t.Fatalf("Counts after invalid outcomes = %+v; want %+v", got, want)
	}
	for _, v := range []fmt.Stringer{State(9), Forced(9), Outcome(0), PanicMode(9), EventKind(9)} {
		if v.String() == "" {
			t.Errorf("%T(9).String() is empty", v)
		}
	}
}

func TestAllocs(t *testing.T) {
	s := newSet(t, Config{PanicMode: PanicOff}, cellNames(16)...)
	tripCell(t, s, "cell-03")
	gbCfg, err := FromGobreaker(gobreaker.Settings{Interval: 10 * time.Second, BucketPeriod: time.Second,
		ReadyToTrip: func(gobreaker.Counts) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	gb := newSet(t, gbCfg, cellNames(16)...)
	probing := newSet(t, Config{PanicMode: PanicOff, HalfOpenProbes: 1, OpenBase: time.Nanosecond, OpenMax: time.Nanosecond, Jitter: -1})
	for range probing.cfg.ConsecutiveFailures { // not tripCell: it may be half-open already
		call(t, probing, "c", Failure, 0)
	}
	for probing.State("c") != HalfOpen {
		time.Sleep(time.Millisecond)
	}
	tests := []struct {
		name string
		f    func()
	}{
		{"Available", func() { s.Available("cell-07") }},
		{"Available unknown", func() { s.Available("cell-99") }},
		{"Allow+Done", func() {
			tk, _ := s.Allow("cell-07")
			tk.Done(Success, time.Millisecond)
		}},
		{"Allow+Done twice", func() {
			tk, _ := s.Allow("cell-07")
			tk.Done(Success, time.Millisecond)
			tk.Done(Success, time.Millisecond)
		}},
		{"Allow+Done from gobreaker settings", func() {
			tk, _ := gb.Allow("cell-07")
			tk.Done(Failure, time.Millisecond) // asks ReadyToTrip
		}},
		{"probe", func() {
			tk, _ := probing.Allow("c")
			tk.Done(Ignored, time.Millisecond) // frees the probe's slot
		}},
		{"Allow rejected", func() { _, _ = s.Allow("cell-03") }},
		{"State", func() { s.State("cell-07") }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
			t.Errorf("%s: %v allocs per run; want 0", tt.name, n)
		}
	}
	if got := gb.State("cell-07"); got != Closed {
		t.Fatalf("gobreaker-configured cell is %v; want closed", got)
	}
	if got := cellState(t, probing, "c"); got.State != HalfOpen || got.Probes != 0 {
		t.Fatalf("probing cell: %v with %d probes; want half-open, 0", got.State, got.Probes)
	}
}
