package breaker

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestDoneAtJudgesAtItsReading: DoneAt judges the outcome at the reading it
// is given, not at a reading of its own, so that a caller that read the
// clock for the call's latency shares that reading with the breaker. Two
// failures reported 20 s after two others, in a 10 s window, leave two in
// it: the breaker stays closed where the same four reported by Done (all at
// the real now) trip it.
func TestDoneAtJudgesAtItsReading(t *testing.T) {
	cfg := Config{Window: 10 * time.Second, Buckets: 10, MinRequests: 4, FailureRatio: 0.5,
		ConsecutiveFailures: 100, PanicMode: PanicOff}
	report := func(t *testing.T, s *Set, at func(i int) time.Time) {
		for i := range 4 {
			tk, err := s.Allow("c")
			if err != nil {
				t.Fatalf("Allow #%d = %v", i, err)
			}
			if at == nil {
				tk.Done(Failure, time.Millisecond)
			} else {
				tk.DoneAt(Failure, time.Millisecond, at(i))
			}
		}
	}
	synctest.Test(t, func(t *testing.T) {
		s := newSet(t, cfg)
		t0 := time.Now()
		report(t, s, func(i int) time.Time { return t0.Add(time.Duration(i/2) * 20 * time.Second) })
		if got := s.State("c"); got != Closed {
			t.Fatalf("after 2+2 failures 20 s apart by DoneAt: %v; want closed", got)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		s := newSet(t, cfg)
		report(t, s, nil)
		if got := s.State("c"); got != Open {
			t.Fatalf("after 4 failures by Done: %v; want open", got)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		s := newSet(t, cfg)
		report(t, s, func(int) time.Time { return time.Time{} }) // the zero Time: now
		if got := s.State("c"); got != Open {
			t.Fatalf("after 4 failures by DoneAt at the zero Time: %v; want open", got)
		}
	})
}
