package breaker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sony/gobreaker/v2"
)

var (
	errDown     = errors.New("breaker_test: cell down")
	errExcluded = errors.New("breaker_test: excluded")
	errClient   = errors.New("breaker_test: client error")
)

func isExcluded(err error) bool   { return errors.Is(err, errExcluded) }
func isSuccessful(err error) bool { return err == nil || errors.Is(err, errClient) }

// gobreaker's own README example: a ratio over Requests, which counts calls
// in flight.
func ratioTrip(c gobreaker.Counts) bool {
	return c.Requests >= 5 && float64(c.TotalFailures)/float64(c.Requests) >= 0.6
}

func consecutiveTrip(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 3 }

// everyCountTrip reads every field, so that each conversion matters.
func everyCountTrip(c gobreaker.Counts) bool {
	return c.TotalFailures >= 3 && c.TotalFailures > c.TotalSuccesses &&
		c.ConsecutiveSuccesses == 0 && c.Requests > c.TotalExclusions
}

var differentialSettings = []struct {
	name    string
	st      gobreaker.Settings
	rolling bool // BucketPeriod cuts Interval into 2 or more buckets
}{
	{"defaults", gobreaker.Settings{}, false},
	{"no interval, 3 probes", gobreaker.Settings{MaxRequests: 3, Timeout: 5 * time.Second, ReadyToTrip: consecutiveTrip}, false},
	{"no interval, classified", gobreaker.Settings{MaxRequests: 4, Timeout: 2 * time.Second, ReadyToTrip: ratioTrip,
		IsExcluded: isExcluded, IsSuccessful: isSuccessful}, false},
	{"rolling 10s by 1s", gobreaker.Settings{MaxRequests: 2, Interval: 10 * time.Second, BucketPeriod: time.Second,
		Timeout: 3 * time.Second, ReadyToTrip: ratioTrip, IsExcluded: isExcluded}, true},
	{"rolling 7s by 2s, rounded up", gobreaker.Settings{MaxRequests: 3, Interval: 7 * time.Second, BucketPeriod: 2 * time.Second,
		Timeout: 4 * time.Second, ReadyToTrip: everyCountTrip, IsExcluded: isExcluded, IsSuccessful: isSuccessful}, true},
	{"rolling 3s by 500ms, default trip", gobreaker.Settings{MaxRequests: 2, Interval: 3 * time.Second,
		BucketPeriod: 500 * time.Millisecond, Timeout: time.Second}, true},
}

// TestGobreakerDifferential drives a Set configured by FromGobreaker and a
// real gobreaker.CircuitBreaker built from the same Settings with the same
// random sequences of calls, held calls (so that several probes are out at
// once and reports cross state changes), reports and clock advances, under
// testing/synctest, and compares after every step the state, what Allow
// answered and every count. Held calls are reported before a probe stays
// out for HalfOpenMaxWait, and, with a rolling window, before the clock
// moves: the documented differences then cannot show.
func TestGobreakerDifferential(t *testing.T) {
	for _, tt := range differentialSettings {
		t.Run(tt.name, func(t *testing.T) {
			var total diffStats
			for seed := range uint64(60) {
				st := runDifferential(t, tt.st, tt.rolling, seed, 400)
				if t.Failed() {
					return
				}
				total.trips += st.trips
				total.closes += st.closes
				total.halfOpens += st.halfOpens
				total.dropped += st.dropped
			}
			// The sequences must exercise the whole machine.
			if total.trips < 60 || total.closes < 20 || total.halfOpens < 60 || total.dropped < 20 {
				t.Fatalf("over 60 sequences: %+v; want at least 60 trips, 20 closes, 60 half-opens, 20 reports across a change", total)
			}
			t.Logf("%+v", total)
		})
	}
}

type diffStats struct {
	trips, closes, halfOpens int
	dropped                  int // reports of a call admitted before a state change
}

type heldCall struct {
	tk    Ticket
	done  func(error)
	at    time.Time
	state gobreaker.State // when admitted
}

func runDifferential(t *testing.T, st gobreaker.Settings, rolling bool, seed uint64, steps int) diffStats {
	t.Helper()
	var stats diffStats
	synctest.Test(t, func(t *testing.T) {
		cfg, err := FromGobreaker(st)
		if err != nil {
			t.Fatalf("FromGobreaker(%+v) = %v", st, err)
		}
		s := newSet(t, cfg, "c")
		cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
		r := rand.New(rand.NewPCG(seed, 0x9b))
		start := time.Now()
		timeout := st.Timeout
		if timeout <= 0 {
			timeout = 60 * time.Second
		}

		var history []string
		fail := func(format string, args ...any) {
			t.Helper()
			from := max(len(history)-25, 0)
			t.Fatalf("seed %d, step %d: %s\nlast steps:\n%s", seed, len(history), fmt.Sprintf(format, args...),
				strings.Join(history[from:], "\n"))
		}
		prev := gobreaker.StateClosed
		check := func(format string, args ...any) {
			t.Helper()
			synctest.Wait() // let the Set's timers run
			history = append(history, fmt.Sprintf("%8v %s", time.Since(start), fmt.Sprintf(format, args...)))
			want := cb.State()
			if got := ToGobreakerState(s.State("c")); got != want {
				fail("State = %v; gobreaker is %v", got, want)
			}
			if got, want := ToGobreakerCounts(cellState(t, s, "c").Counts), cb.Counts(); got != want {
				fail("Counts = %+v; gobreaker has %+v", got, want)
			}
			if want != prev {
				switch want {
				case gobreaker.StateOpen:
					stats.trips++
				case gobreaker.StateClosed:
					stats.closes++
				case gobreaker.StateHalfOpen:
					stats.halfOpens++
				}
				prev = want
			}
		}

		sick := false
		outcome := func() error {
			p := r.IntN(100)
			nils := 80
			if sick {
				nils = 15
			}
			switch {
			case p < nils:
				return nil
			case p < nils+4:
				return errClient
			case p < nils+8:
				return errExcluded
			case p < nils+10:
				return context.Canceled // a failure, as in gobreaker
			}
			return errDown
		}
		allow := func() (Ticket, func(error), bool) {
			t.Helper()
			tk, err := s.Allow("c")
			done, gerr := cb.Allow()
			if (err == nil) != (gerr == nil) || gerr != nil && !errors.Is(err, gerr) {
				fail("Allow = %v; gobreaker's Allow = %v", err, gerr)
			}
			return tk, done, err == nil
		}
		var held []heldCall
		report := func(i int) {
			t.Helper()
			h := held[i]
			held = append(held[:i], held[i+1:]...)
			err := outcome()
			if now := cb.State(); now != h.state {
				stats.dropped++
			}
			h.tk.Done(s.Classify(err), 0)
			h.done(err)
			check("report %v (held since %v, %v)", err, h.at.Sub(start), h.state)
		}
		sleeps := []time.Duration{time.Millisecond, 100 * time.Millisecond, 499 * time.Millisecond,
			time.Second, 2500 * time.Millisecond, timeout / 2, timeout, timeout + 1, st.BucketPeriod}

		check("start")
		for range steps {
			if r.IntN(30) == 0 {
				sick = !sick
			}
			switch op := r.IntN(20); {
			case op < 11:
				if tk, done, ok := allow(); ok {
					err := outcome()
					tk.Done(s.Classify(err), 0)
					done(err)
					check("call %v", err)
				} else {
					check("call rejected")
				}
			case op < 14:
				state := cb.State()
				if tk, done, ok := allow(); ok {
					held = append(held, heldCall{tk, done, time.Now(), state})
				}
				check("hold (%d held)", len(held))
			case op < 17:
				if len(held) > 0 {
					report(r.IntN(len(held)))
				}
			default:
				d := sleeps[r.IntN(len(sleeps))]
				if d <= 0 {
					d = time.Second
				}
				for i := 0; i < len(held); {
					probeTooOld := held[i].state == gobreaker.StateHalfOpen &&
						!time.Now().Add(d).Before(held[i].at.Add(defaultHalfOpenMaxWait))
					if probeTooOld || rolling && held[i].state == gobreaker.StateClosed {
						report(i)
						continue
					}
					i++
				}
				time.Sleep(d)
				check("sleep %v", d)
			}
		}
		for len(held) > 0 {
			report(0)
		}
	})
	return stats
}

// TestFromGobreakerFields checks the mapping of each Settings field.
func TestFromGobreakerFields(t *testing.T) {
	tests := []struct {
		name string
		st   gobreaker.Settings
		want func(Config) bool
	}{
		{"MaxRequests 0 is 1", gobreaker.Settings{}, func(c Config) bool { return c.HalfOpenProbes == 1 }},
		{"MaxRequests", gobreaker.Settings{MaxRequests: 7}, func(c Config) bool { return c.HalfOpenProbes == 7 }},
		{"Timeout 0 is 60s", gobreaker.Settings{}, func(c Config) bool {
			return c.OpenBase == 60*time.Second+1 && c.OpenMax == c.OpenBase && c.OpenMultiplier == 1 && c.Jitter < 0
		}},
		{"negative Timeout is 60s", gobreaker.Settings{Timeout: -time.Second}, func(c Config) bool { return c.OpenBase == 60*time.Second+1 }},
		{"Timeout", gobreaker.Settings{Timeout: 3 * time.Second}, func(c Config) bool { return c.OpenBase == 3*time.Second+1 }},
		{"huge Timeout", gobreaker.Settings{Timeout: math.MaxInt64}, func(c Config) bool { return c.OpenBase == math.MaxInt64 }},
		{"Interval 0: no window", gobreaker.Settings{BucketPeriod: time.Second}, func(c Config) bool { return c.Window < 0 }},
		{"negative Interval: no window", gobreaker.Settings{Interval: -time.Second}, func(c Config) bool { return c.Window < 0 }},
		{"Interval alone: one bucket", gobreaker.Settings{Interval: 30 * time.Second}, func(c Config) bool {
			return c.Window == 30*time.Second && c.Buckets == 1
		}},
		{"Interval by BucketPeriod", gobreaker.Settings{Interval: 10 * time.Second, BucketPeriod: time.Second}, func(c Config) bool {
			return c.Window == 10*time.Second && c.Buckets == 10
		}},
		{"Interval rounded up", gobreaker.Settings{Interval: 7 * time.Second, BucketPeriod: 2 * time.Second}, func(c Config) bool {
			return c.Window == 8*time.Second && c.Buckets == 4
		}},
		{"Interval below BucketPeriod", gobreaker.Settings{Interval: time.Second, BucketPeriod: 5 * time.Second}, func(c Config) bool {
			return c.Window == 5*time.Second && c.Buckets == 1
		}},
		{"no Set-wide protections", gobreaker.Settings{}, func(c Config) bool {
			return c.MaxEjected == 1 && c.PanicMode == PanicOff && c.SlowCall == 0 && c.HalfOpenMaxWait == 0
		}},
		{"default ReadyToTrip trips on the 6th failure", gobreaker.Settings{}, func(c Config) bool {
			return !c.ReadyToTrip(gobreaker.Counts{ConsecutiveFailures: 5}) && c.ReadyToTrip(gobreaker.Counts{ConsecutiveFailures: 6})
		}},
		{"ReadyToTrip kept", gobreaker.Settings{ReadyToTrip: consecutiveTrip}, func(c Config) bool {
			return c.ReadyToTrip(gobreaker.Counts{ConsecutiveFailures: 3}) && !c.ReadyToTrip(gobreaker.Counts{ConsecutiveFailures: 2})
		}},
		{"default classification", gobreaker.Settings{}, func(c Config) bool {
			return c.Classify(nil) == Success && c.Classify(errDown) == Failure && c.Classify(context.Canceled) == Failure
		}},
		{"IsExcluded before IsSuccessful", gobreaker.Settings{IsExcluded: isExcluded, IsSuccessful: func(error) bool { return true }},
			func(c Config) bool {
				return c.Classify(errExcluded) == Ignored && c.Classify(errDown) == Success
			}},
		{"IsSuccessful", gobreaker.Settings{IsSuccessful: isSuccessful}, func(c Config) bool {
			return c.Classify(errClient) == Success && c.Classify(errDown) == Failure && c.Classify(nil) == Success
		}},
		{"no OnStateChange, no OnEvent", gobreaker.Settings{}, func(c Config) bool { return c.OnEvent == nil }},
	}
	for _, tt := range tests {
		cfg, err := FromGobreaker(tt.st)
		if err != nil {
			t.Fatalf("%s: FromGobreaker = %v", tt.name, err)
		}
		if !tt.want(cfg) {
			t.Errorf("%s: FromGobreaker(%+v) = %+v", tt.name, tt.st, cfg)
		}
		if _, err := New(cfg); err != nil {
			t.Errorf("%s: New(FromGobreaker(...)) = %v", tt.name, err)
		}
	}
}

func TestFromGobreakerRejects(t *testing.T) {
	tests := []struct {
		st    gobreaker.Settings
		field string
	}{
		{gobreaker.Settings{MaxRequests: maxProbes + 1}, "Settings.MaxRequests"},
		{gobreaker.Settings{Interval: time.Hour, BucketPeriod: time.Second}, "Settings.BucketPeriod"},
		{gobreaker.Settings{Interval: math.MaxInt64, BucketPeriod: math.MaxInt64 / 2}, "Settings.Interval"},
	}
	for _, tt := range tests {
		_, err := FromGobreaker(tt.st)
		var ce *ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) || ce.Field != tt.field {
			t.Errorf("FromGobreaker(%+v) = %v; want a *ConfigError for %s", tt.st, err, tt.field)
		}
	}
	_, err := FromGobreaker(gobreaker.Settings{MaxRequests: maxProbes + 1})
	if want := "breaker: invalid config: Settings.MaxRequests = 1025: must be at most 1024"; err.Error() != want {
		t.Errorf("error %q; want %q", err, want)
	}
}

func TestFromGobreakerOnStateChange(t *testing.T) {
	var mu sync.Mutex
	var changes []string
	synctest.Test(t, func(t *testing.T) {
		cfg, err := FromGobreaker(gobreaker.Settings{Timeout: time.Second, OnStateChange: func(name string, from, to gobreaker.State) {
			mu.Lock()
			changes = append(changes, fmt.Sprintf("%s: %v->%v", name, from, to))
			mu.Unlock()
		}})
		if err != nil {
			t.Fatal(err)
		}
		s := newSet(t, cfg, "eu-1")
		for range 6 {
			call(t, s, "eu-1", Failure, 0)
		}
		time.Sleep(2 * time.Second)
		call(t, s, "eu-1", Success, 0)
		mustForce(t, s, "eu-1", ForcedClosed) // closed to closed: not reported
		synctest.Wait()
	})
	want := "[eu-1: closed->open eu-1: open->half-open eu-1: half-open->closed]"
	if got := fmt.Sprint(changes); got != want {
		t.Fatalf("OnStateChange calls %s; want %s", got, want)
	}
}

func TestGobreakerStates(t *testing.T) {
	tests := []struct {
		s  State
		gb gobreaker.State
	}{
		{Closed, gobreaker.StateClosed},
		{HalfOpen, gobreaker.StateHalfOpen},
		{Open, gobreaker.StateOpen},
	}
	for _, tt := range tests {
		if got := ToGobreakerState(tt.s); got != tt.gb || got.String() != tt.s.String() {
			t.Errorf("ToGobreakerState(%v) = %v; want %v", tt.s, got, tt.gb)
		}
		if got, ok := FromGobreakerState(tt.gb); got != tt.s || !ok {
			t.Errorf("FromGobreakerState(%v) = %v, %v; want %v, true", tt.gb, got, ok, tt.s)
		}
	}
	for _, gb := range []gobreaker.State{-1, 3, 100} {
		if got, ok := FromGobreakerState(gb); ok || got != Closed {
			t.Errorf("FromGobreakerState(%d) = %v, %v; want closed, false", gb, got, ok)
		}
	}
	if got := ToGobreakerState(State(7)); got != gobreaker.State(7) {
		t.Errorf("ToGobreakerState(State(7)) = %v; want gobreaker.State(7)", got)
	}
}

func TestToGobreakerCounts(t *testing.T) {
	c := Counts{Requests: 9, Successes: 4, Failures: 3, Ignored: 1, Slow: 2, ConsecutiveFailures: 2, ConsecutiveSuccesses: 0}
	want := gobreaker.Counts{Requests: 9, TotalSuccesses: 4, TotalFailures: 3, TotalExclusions: 1, ConsecutiveFailures: 2}
	if got := ToGobreakerCounts(c); got != want {
		t.Errorf("ToGobreakerCounts(%+v) = %+v; want %+v", c, got, want)
	}
	big := Counts{Requests: math.MaxInt, Successes: -1}
	if got := ToGobreakerCounts(big); got.Requests != math.MaxUint32 || got.TotalSuccesses != 0 {
		t.Errorf("ToGobreakerCounts(%+v) = %+v; want Requests capped, no negative", big, got)
	}
}

// TestReadyToTrip checks that Config.ReadyToTrip is asked after each
// failure only, with converted counts, outside every lock (it calls back
// into the Set), and that a panic in it leaves the Set usable.
func TestReadyToTrip(t *testing.T) {
	var s *Set
	var asked []gobreaker.Counts
	var err error
	s, err = New(Config{PanicMode: PanicOff, ReadyToTrip: func(c gobreaker.Counts) bool {
		_ = s.Snapshot() // deadlocks if called under a lock
		if c.TotalFailures == 99 {
			panic("breaker_test: ReadyToTrip panics")
		}
		asked = append(asked, c)
		return c.TotalFailures >= 3
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.Sync([]string{"c"})
	for _, o := range []Outcome{Failure, Success, Ignored, Failure, Success, Failure} {
		call(t, s, "c", o, 0)
	}
	want := []gobreaker.Counts{
		{Requests: 1, TotalFailures: 1, ConsecutiveFailures: 1},
		{Requests: 4, TotalSuccesses: 1, TotalFailures: 2, TotalExclusions: 1, ConsecutiveFailures: 1},
		{Requests: 6, TotalSuccesses: 2, TotalFailures: 3, TotalExclusions: 1, ConsecutiveFailures: 1},
	}
	if fmt.Sprint(asked) != fmt.Sprint(want) {
		t.Fatalf("ReadyToTrip asked with %+v; want %+v", asked, want)
	}
	wantState(t, s, "c", Open)

	// The built-in failure rules are replaced: 5 failures in a row do not
	// trip a breaker whose ReadyToTrip says no.
	s2 := newSet(t, Config{PanicMode: PanicOff, ReadyToTrip: func(gobreaker.Counts) bool { return false }})
	for range 50 {
		call(t, s2, "c", Failure, 0)
	}
	wantState(t, s2, "c", Closed)

	// A panicking ReadyToTrip reaches the caller of Done with no lock held.
	s3 := newSet(t, Config{PanicMode: PanicOff, ReadyToTrip: func(c gobreaker.Counts) bool {
		if c.TotalFailures == 2 {
			panic("breaker_test: ReadyToTrip panics")
		}
		return false
	}})
	call(t, s3, "c", Failure, 0)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Done did not pass on ReadyToTrip's panic")
			}
		}()
		call(t, s3, "c", Failure, 0)
	}()
	call(t, s3, "c", Success, 0) // the lock is free
	if cs := cellState(t, s3, "c"); cs.Counts.Failures != 2 || cs.Counts.Successes != 1 {
		t.Fatalf("Counts after the panic = %+v; want 2 failures, 1 success", cs.Counts)
	}
}

// TestGobreakerDifferences shows each documented difference against a real
// gobreaker, so that the documentation stays true.
func TestGobreakerDifferences(t *testing.T) {
	t.Run("a lost probe", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st := gobreaker.Settings{Timeout: time.Second}
			cfg, _ := FromGobreaker(st)
			s := newSet(t, cfg)
			cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
			for range 6 {
				call(t, s, "c", Failure, 0)
				done, _ := cb.Allow()
				done(errDown)
			}
			time.Sleep(2 * time.Second)
			if _, err := s.Allow("c"); err != nil { // lost
				t.Fatal(err)
			}
			if _, err := cb.Allow(); err != nil { // lost
				t.Fatal(err)
			}
			time.Sleep(defaultHalfOpenMaxWait)
			synctest.Wait()
			if got, gb := s.State("c"), cb.State(); got != Open || gb != gobreaker.StateHalfOpen {
				t.Fatalf("after HalfOpenMaxWait: %v, gobreaker %v; want open, half-open", got, gb)
			}
			cfg.HalfOpenMaxWait = -1 // as gobreaker
			s = newSet(t, cfg)
			for range 6 {
				call(t, s, "c", Failure, 0)
			}
			time.Sleep(2 * time.Second)
			_, _ = s.Allow("c")
			time.Sleep(time.Hour)
			synctest.Wait()
			wantState(t, s, "c", HalfOpen)
		})
	})

	t.Run("a report in a later bucket", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st := gobreaker.Settings{Interval: 2 * time.Second, BucketPeriod: time.Second}
			cfg, _ := FromGobreaker(st)
			s := newSet(t, cfg)
			cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
			tk, _ := s.Allow("c")
			done, _ := cb.Allow()
			time.Sleep(1500 * time.Millisecond) // into the second bucket
			tk.Done(Failure, 0)
			done(errDown)
			time.Sleep(time.Second) // the first bucket ages out
			_ = cb.State()
			if got, gb := cellState(t, s, "c").Counts.Failures, cb.Counts().TotalFailures; got != 1 || gb != 0 {
				t.Fatalf("failures in the window: %d, gobreaker %d; want 1 (the bucket it was reported in), 0", got, gb)
			}
		})
	})

	t.Run("a call in flight in Requests", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st := gobreaker.Settings{Interval: 2 * time.Second, BucketPeriod: time.Second}
			cfg, _ := FromGobreaker(st)
			s := newSet(t, cfg)
			cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
			_, _ = s.Allow("c")
			_, _ = cb.Allow()
			time.Sleep(3 * time.Second)
			_ = cb.State()
			if got, gb := cellState(t, s, "c").Counts.Requests, cb.Counts().Requests; got != 1 || gb != 0 {
				t.Fatalf("Requests: %d, gobreaker %d; want 1 (still in flight), 0 (aged out)", got, gb)
			}
		})
	})

	t.Run("a fixed interval", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st := gobreaker.Settings{Interval: 10 * time.Second}
			cfg, _ := FromGobreaker(st)
			s := newSet(t, cfg)
			cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
			both := func(err error) {
				call(t, s, "c", s.Classify(err), 0)
				done, _ := cb.Allow()
				done(err)
			}
			both(errDown)
			time.Sleep(15 * time.Second)
			both(errDown) // gobreaker clears here and starts its next Interval
			time.Sleep(6 * time.Second)
			both(errDown) // 21s: past 20s this package cleared again, gobreaker not till 25s
			_ = cb.State()
			if got, gb := cellState(t, s, "c").Counts.Failures, cb.Counts().TotalFailures; got != 1 || gb != 2 {
				t.Fatalf("failures: %d, gobreaker %d; want 1 (cleared every 10s), 2 (cleared 10s after the call at 15s)", got, gb)
			}
		})
	})
}
