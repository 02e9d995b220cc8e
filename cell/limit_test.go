package cell

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

func mustLimiter(t *testing.T, l Limit) *limiter {
	t.Helper()
	s, err := l.normalize()
	if err != nil {
		t.Fatalf("Limit%+v.normalize() = %v", l, err)
	}
	return newLimiter(s)
}

func TestLimitConfig(t *testing.T) {
	for _, c := range []struct {
		l     Limit
		field string
	}{
		{Limit{Max: -1}, "Limit.Max"},
		{Limit{Max: 10, Min: -1}, "Limit.Min"},
		{Limit{Max: 10, Min: 11}, "Limit.Min"},
		{Limit{Max: 10, Min: 2, Initial: 1}, "Limit.Initial"},
		{Limit{Max: 10, Initial: 11}, "Limit.Initial"},
		{Limit{Max: 10, Tolerance: 0.5}, "Limit.Tolerance"},
		{Limit{Max: 10, Tolerance: math.Inf(1)}, "Limit.Tolerance"},
		{Limit{Max: 10, Smoothing: 1.5}, "Limit.Smoothing"},
		{Limit{Max: 10, Smoothing: math.NaN()}, "Limit.Smoothing"},
		{Limit{Max: 10, Window: -1}, "Limit.Window"},
	} {
		_, err := c.l.normalize()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("Limit%+v.normalize() = %v; want a *ConfigError naming %s", c.l, err, c.field)
		}
	}
	s, err := Limit{Max: 100}.normalize()
	if err != nil || s.min != 1 || s.initial != 25 || s.tolerance != 2 || s.smooth != 0.2 || s.window != int64(30*time.Second) {
		t.Errorf("Limit{Max: 100} defaults = %+v, %v", s, err)
	}
	if s, err := (Limit{}).normalize(); err != nil || s.max != 0 {
		t.Errorf("Limit{} = %+v, %v; want no limit", s, err)
	}
}

// A fixed bulkhead: Min == Max never moves, whatever the samples say.
func TestLimitFixed(t *testing.T) {
	l := mustLimiter(t, Limit{Min: 3, Max: 3})
	for range 3 {
		if _, ok := l.acquire(0); !ok {
			t.Fatalf("acquire refused under the limit")
		}
	}
	if why, ok := l.acquire(0); ok || why != RejectLimit {
		t.Fatalf("acquire of a 4th call over a limit of 3 = %v, %v; want RejectLimit", why, ok)
	}
	for range 3 {
		l.sample(time.Second, 0)
	}
	for i := range 100 {
		l.acquire(0)
		l.sample(time.Duration(1+i)*time.Hour, 0)
	}
	if got := l.current(); got != 3 {
		t.Errorf("fixed limit moved to %v", got)
	}
}

// drive runs n rounds of a closed loop against a cell that serves capacity
// calls at base latency and queues the rest: latency grows with the excess.
// It returns the limit after the rounds.
func drive(l *limiter, n, offered, capacity int, base time.Duration) float64 {
	for range n {
		in := 0
		for range offered {
			if _, ok := l.acquire(0); !ok {
				break
			}
			in++
		}
		rtt := base
		if in > capacity {
			rtt = base * time.Duration(in) / time.Duration(capacity)
		}
		for range in {
			l.sample(rtt, 0)
		}
	}
	return l.current()
}

func TestLimitFollowsCapacity(t *testing.T) {
	l := mustLimiter(t, Limit{Max: 200, Initial: 20})
	// A busy cell with room: the limit grows towards where latency starts
	// to rise (capacity × Tolerance).
	got := drive(l, 300, 1000, 40, 10*time.Millisecond)
	if got < 40 || got > 100 {
		t.Fatalf("limit after load on capacity 40 = %.1f; want within [40, 100]", got)
	}
	// Capacity halves (a bad deploy): the limit follows it down.
	got = drive(l, 300, 1000, 20, 10*time.Millisecond)
	if got < 20 || got > 50 {
		t.Fatalf("limit after capacity halves = %.1f; want within [20, 50]", got)
	}
	// And back up when capacity returns.
	got = drive(l, 300, 1000, 40, 10*time.Millisecond)
	if got < 40 {
		t.Fatalf("limit after capacity returns = %.1f; want ≥ 40", got)
	}
}

// An idle client does not raise a limit it has not tested.
func TestLimitIdleDoesNotGrow(t *testing.T) {
	l := mustLimiter(t, Limit{Max: 1000, Initial: 10})
	for range 10000 {
		l.acquire(0)
		l.sample(time.Millisecond, 0)
	}
	if got := l.current(); got != 10 {
		t.Errorf("limit after 10,000 serial calls = %v; want 10 (never busy)", got)
	}
}

func TestLimitPushback(t *testing.T) {
	l := mustLimiter(t, Limit{Max: 100, Initial: 40, Min: 4})
	l.acquire(1000)
	l.pushback(1000, 2*time.Second, 0)
	if got := l.current(); got != 20 {
		t.Errorf("limit after pushback = %v; want 20 (halved)", got)
	}
	if why, ok := l.acquire(1000 + int64(time.Second)); ok || why != RejectOverloaded {
		t.Errorf("acquire during the cell's Retry-After = %v, %v; want RejectOverloaded", why, ok)
	}
	if got := l.held(1000 + int64(time.Second)); got != time.Second {
		t.Errorf("held a second into a 2 s pushback = %v; want 1s", got)
	}
	if _, ok := l.acquire(1000 + int64(2*time.Second)); !ok {
		t.Errorf("acquire refused a call after the cell's Retry-After")
	}
	// The attempts in flight when the cell began to shed come back pushed
	// back during the hold: the same news, the limit halves once.
	for range 3 {
		l.inflight.Add(1) // an attempt admitted before the hold
		l.pushback(1000+int64(time.Second), time.Second, 0)
	}
	if got := l.current(); got != 20 {
		t.Errorf("limit after pushbacks during the hold = %v; want 20 (halved once)", got)
	}
	for i := range 10 {
		l.inflight.Add(1)
		l.pushback(int64(10+i)*int64(maxHold), 0, 0)
	}
	if got := l.current(); got != 4 {
		t.Errorf("limit after 10 pushbacks, each after the last hold = %v; want the floor 4", got)
	}
	l = mustLimiter(t, Limit{Max: 100, Initial: 40, Min: 4})
	l.acquire(0)
	l.acquire(0)
	l.inflight.Add(1)
	l.pushback(0, time.Hour, 0.99)
	if _, ok := l.acquire(int64(maxHold)); !ok {
		t.Errorf("a Retry-After of an hour held the cell past maxHold")
	}
	if l.inflight.Load() != 3 {
		t.Errorf("%d in flight; want 3, the three acquires admitted (a pushback gives its place back)", l.inflight.Load())
	}
}

// The hold is jittered by up to holdJitter, and a pushback without a wait
// holds for defaultHold.
func TestLimitPushbackJitter(t *testing.T) {
	l := mustLimiter(t, Limit{})
	l.pushback(0, 4*time.Second, 0.5)
	if got, want := l.held(0), 4*time.Second+time.Duration(0.5*holdJitter*float64(4*time.Second)); got != want {
		t.Errorf("held = %v; want %v", got, want)
	}
	l = mustLimiter(t, Limit{})
	l.pushback(0, 0, 0)
	if got := l.held(0); got != defaultHold {
		t.Errorf("held after a pushback without a wait = %v; want %v", got, defaultHold)
	}
	if _, ok := l.acquire(int64(defaultHold)); !ok {
		t.Errorf("no limit: acquire refused after the hold")
	}
}

// Concurrent acquires never admit more than the limit, and every place
// comes back.
func TestLimitConcurrent(t *testing.T) {
	l := mustLimiter(t, Limit{Min: 8, Max: 8})
	var mu sync.Mutex
	inside, peak := 0, 0
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 2000 {
				if _, ok := l.acquire(0); !ok {
					continue
				}
				mu.Lock()
				inside++
				peak = max(peak, inside)
				inside--
				odd := inside%2 == 1
				mu.Unlock()
				if odd {
					l.sample(time.Millisecond, 0)
				} else {
					l.release()
				}
			}
		})
	}
	wg.Wait()
	if peak > 8 || l.inflight.Load() != 0 {
		t.Errorf("peak %d in flight (limit 8), %d left in flight", peak, l.inflight.Load())
	}
}

func TestLimitAllocs(t *testing.T) {
	l := mustLimiter(t, Limit{Max: 100})
	if n := testing.AllocsPerRun(1000, func() {
		l.acquire(0)
		l.sample(time.Millisecond, 0)
	}); n != 0 {
		t.Errorf("acquire+sample allocates %v times", n)
	}
}

// A cell that got slower for good is judged against its new floor once the
// windows have passed: its limit grows again.
func TestLimitNewFloor(t *testing.T) {
	l := mustLimiter(t, Limit{Max: 100, Initial: 50, Window: time.Second})
	round := func(rtt time.Duration, now int64) {
		in := 0
		for {
			if _, ok := l.acquire(now); !ok {
				break
			}
			in++
		}
		for range in {
			l.sample(rtt, now)
		}
	}
	for i := range 20 {
		round(time.Millisecond, int64(i)*int64(10*time.Millisecond))
	}
	before := l.current()
	// Ten times slower, for good: the limit first shrinks...
	now := int64(200 * time.Millisecond)
	for range 20 {
		round(10*time.Millisecond, now)
		now += int64(10 * time.Millisecond)
	}
	low := l.current()
	if low >= before {
		t.Fatalf("limit %v → %v after the cell got 10× slower; want it lower", before, low)
	}
	// ...and after two windows the new latency is the floor: it grows back.
	for range 300 {
		round(10*time.Millisecond, now)
		now += int64(10 * time.Millisecond)
	}
	if got := l.current(); got <= low {
		t.Errorf("limit %v two windows into the new floor; want above %v", got, low)
	}
}
