package breaker

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sony/gobreaker/v2"
)

// PanicMode says what a Set does while it panics, that is while too few of its
// cells have a closed breaker (see Config.PanicThreshold).
type PanicMode uint8

const (
	// FailOpen stops enforcing breakers while panicking: every cell not
	// forced open is available and Allow admits every call, so each call
	// reports its own error instead of a breaker's.
	FailOpen PanicMode = iota
	// FailFast makes no cell available while panicking: Allow rejects every
	// call with ErrPanic, except half-open probes, which still run so that
	// breakers can heal and the Set can leave panic.
	FailFast
	// PanicOff never panics: breakers are enforced however many cells are
	// down.
	PanicOff
)

// String returns "fail-open", "fail-fast" or "off".
func (m PanicMode) String() string {
	switch m {
	case FailOpen:
		return "fail-open"
	case FailFast:
		return "fail-fast"
	case PanicOff:
		return "off"
	}
	return "PanicMode(" + strconv.Itoa(int(m)) + ")"
}

// Config configures a Set. The zero value is valid: every zero field takes the
// default written in its comment. As everywhere in this module, a field whose
// zero means "default" takes a negative value to mean "none" where its
// comment says so (Window, Jitter, HalfOpenMaxWait). Other negative durations
// and counts, and ratios outside [0, 1], are rejected by New.
type Config struct {
	// Window is the span of the rolling window whose outcomes a closed
	// breaker judges. Default 10 s: long enough to collect MinRequests
	// outcomes at modest traffic, short enough that a cell is judged on how
	// it behaves now. Negative: no window, the outcomes of a closed breaker
	// are kept until it changes state (gobreaker's Interval 0); Buckets is
	// then ignored.
	Window time.Duration
	// Buckets is the number of slices the window is cut into; outcomes age
	// out one bucket at a time rather than all at once. The buckets are
	// aligned on the breaker's last state change (or its creation), and an
	// outcome goes into the bucket current when it is reported. Default 10
	// (1 s buckets with the default Window). It must be set when a positive
	// Window is set, because the right granularity depends on the window; at
	// most 1024. With 1 bucket the window is a fixed one, cleared all at once
	// every Window.
	Buckets int

	// MinRequests is how many successes and failures the window must hold
	// before FailureRatio and SlowRatio are judged. Default 20: below that a
	// ratio is noise (two failures out of three is 67%).
	MinRequests int
	// FailureRatio trips the breaker when failures make up at least this
	// fraction of the judged outcomes in the window. Default 0.5: a cell
	// that fails half its calls is worse than failing over, and a lower
	// value trips on transient errors.
	FailureRatio float64
	// ConsecutiveFailures trips the breaker when this many failures in a
	// row are in the window, however few calls there were: at low traffic
	// MinRequests is never reached, and a dead cell must still trip. Default
	// 5 (a healthy cell failing half its calls does that 3% of the time).
	ConsecutiveFailures int
	// ReadyToTrip, if set, replaces FailureRatio and ConsecutiveFailures
	// (and MinRequests for them) with gobreaker's rule: after each failure
	// a closed breaker judges, ReadyToTrip is called with the breaker's
	// Counts converted by ToGobreakerCounts, and the breaker trips if it
	// returns true. It is called only for failures, as gobreaker calls its
	// own, without any lock held and possibly concurrently for several
	// failures, so it must be a function of its argument only; the breaker
	// trips if it returned true and the breaker has not changed state since
	// the failure. SlowCall and SlowRatio still apply. Default nil.
	ReadyToTrip func(gobreaker.Counts) bool

	// SlowCall marks a call that took longer than this as slow. Default 0:
	// slow-call detection is off, because no latency suits every service.
	SlowCall time.Duration
	// SlowRatio trips the breaker when slow calls make up at least this
	// fraction of the judged outcomes in the window. Default 0.5, like
	// FailureRatio: for a caller with a latency budget a slow call is a
	// failed one. It is ignored while SlowCall is 0.
	SlowRatio float64

	// OpenBase is how long a breaker stays open the first time it trips.
	// Default 5 s: long enough for a restart or a failover inside the cell
	// to settle, short enough to try again soon.
	OpenBase time.Duration
	// OpenMultiplier multiplies the open time on each consecutive re-open
	// (a half-open breaker whose probe failed). Default 2, and at least 1:
	// a cell that keeps failing is probed less and less often.
	OpenMultiplier float64
	// OpenMax caps the open time, jitter included. Default 60 s (gobreaker's
	// fixed open time), and at least OpenBase: a cell that came back is
	// found within a minute.
	OpenMax time.Duration
	// Jitter spreads every open time uniformly over ±Jitter of its nominal
	// value; at most 1. Default 0.5 (±50%): the many clients that saw a cell
	// fail at the same moment must not all probe it at the same moment.
	// Negative: no jitter, every open time is its nominal value.
	Jitter float64

	// HalfOpenProbes is how many probes a half-open breaker lets through at
	// once, and how many successes in a row close it. Default 3: one success
	// can be luck, three in a row are evidence, and few probes limit the
	// harm to a cell that is still down. At most 1024.
	HalfOpenProbes int
	// HalfOpenMaxWait is how long a probe may go unreported before the
	// breaker gives up on it and opens again, so that a lost Ticket never
	// latches a breaker half-open. Default 10 s: longer than any sane call
	// deadline, so only lost probes hit it. Negative: wait for ever, as
	// gobreaker does; a half-open breaker whose probes are all lost then
	// stays half-open until Force or Sync resets it.
	HalfOpenMaxWait time.Duration

	// MaxEjected is the largest fraction of the known cells that open
	// breakers may make unavailable at once; at least one cell may always
	// be ejected. Default 0.5: ejecting more would pile the failed-over load
	// of most cells onto the few left.
	MaxEjected float64
	// PanicThreshold makes the Set panic when the fraction of known cells
	// whose breaker is closed falls below it. Default 0.5: when most cells
	// look down from here, the fault is more likely in this client (its
	// network, credentials or configuration) than in the cells.
	PanicThreshold float64
	// PanicMode says what a panicking Set does. Default FailOpen.
	PanicMode PanicMode

	// Classify maps errors to outcomes for Set.Classify and
	// Set.ClassifyContext. Default DefaultClassify.
	Classify func(error) Outcome
	// OnEvent receives state changes and panic changes, outside any lock,
	// in order, on a goroutine of the Set's own (see Event). Default nil:
	// no events are kept.
	OnEvent func(Event)

	// Seed seeds the jitter of open times, so that tests are repeatable.
	// Default 0: a random seed per Set, so that processes do not share a
	// jitter sequence.
	Seed uint64
}

const (
	defaultWindow              = 10 * time.Second
	defaultBuckets             = 10
	defaultMinRequests         = 20
	defaultFailureRatio        = 0.5
	defaultConsecutiveFailures = 5
	defaultSlowRatio           = 0.5
	defaultOpenBase            = 5 * time.Second
	defaultOpenMultiplier      = 2
	defaultOpenMax             = 60 * time.Second
	defaultJitter              = 0.5
	defaultHalfOpenProbes      = 3
	defaultHalfOpenMaxWait     = 10 * time.Second
	defaultMaxEjected          = 0.5
	defaultPanicThreshold      = 0.5

	maxBuckets = 1024
	maxProbes  = 1024

	// noWindow and noWait stand for a negative Window and HalfOpenMaxWait
	// once normalized: a bucket no clock reaches the end of, and no deadline.
	noWindow = time.Duration(math.MaxInt64)
	noWait   = time.Duration(math.MaxInt64)
)

// ConfigError reports a Config field that New rejects. It unwraps to
// ErrConfig.
type ConfigError struct {
	Field  string // name of the Config field, or "Settings.X" for a gobreaker field
	Value  any    // the rejected value
	Reason string // what a valid value looks like
}

// Error returns a message such as
// "breaker: invalid config: Window = -1s: must not be negative".
func (e *ConfigError) Error() string {
	return fmt.Sprintf("breaker: invalid config: %s = %v: %s", e.Field, e.Value, e.Reason)
}

// Unwrap returns ErrConfig.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// normalize validates c and fills in its defaults.
func (c *Config) normalize() error {
	for _, d := range []struct {
		field string
		value time.Duration
	}{
		{"SlowCall", c.SlowCall},
		{"OpenBase", c.OpenBase},
		{"OpenMax", c.OpenMax},
	} {
		if d.value < 0 {
			return &ConfigError{d.field, d.value, "must not be negative"}
		}
	}
	for _, n := range []struct {
		field string
		value int
		max   int
	}{
		{"Buckets", c.Buckets, maxBuckets},
		{"MinRequests", c.MinRequests, math.MaxInt},
		{"ConsecutiveFailures", c.ConsecutiveFailures, math.MaxInt},
		{"HalfOpenProbes", c.HalfOpenProbes, maxProbes},
	} {
		if n.value < 0 || n.value > n.max {
			return &ConfigError{n.field, n.value, "must be in [0, " + strconv.Itoa(n.max) + "]"}
		}
	}
	for _, r := range []struct {
		field string
		value float64
	}{
		{"FailureRatio", c.FailureRatio},
		{"SlowRatio", c.SlowRatio},
		{"MaxEjected", c.MaxEjected},
		{"PanicThreshold", c.PanicThreshold},
	} {
		if !(r.value >= 0 && r.value <= 1) { // also rejects NaN
			return &ConfigError{r.field, r.value, "must be in [0, 1]"}
		}
	}
	if !(c.Jitter <= 1) { // also rejects NaN; negative means none
		return &ConfigError{"Jitter", c.Jitter, "must be at most 1 (negative: no jitter)"}
	}
	if c.OpenMultiplier != 0 && !(c.OpenMultiplier >= 1 && !math.IsInf(c.OpenMultiplier, 1)) {
		return &ConfigError{"OpenMultiplier", c.OpenMultiplier, "must be finite and at least 1"}
	}
	if c.PanicMode > PanicOff {
		return &ConfigError{"PanicMode", c.PanicMode, "must be FailOpen, FailFast or PanicOff"}
	}
	if c.Window > 0 && c.Buckets == 0 {
		return &ConfigError{"Buckets", c.Buckets, "must be set when Window is set"}
	}

	if c.Window < 0 {
		c.Window, c.Buckets = noWindow, 1
	}
	setDefault(&c.Window, defaultWindow)
	setDefault(&c.Buckets, defaultBuckets)
	setDefault(&c.MinRequests, defaultMinRequests)
	setDefault(&c.FailureRatio, defaultFailureRatio)
	setDefault(&c.ConsecutiveFailures, defaultConsecutiveFailures)
	setDefault(&c.SlowRatio, defaultSlowRatio)
	setDefault(&c.OpenBase, defaultOpenBase)
	setDefault(&c.OpenMultiplier, defaultOpenMultiplier)
	setDefault(&c.OpenMax, defaultOpenMax)
	setDefault(&c.Jitter, defaultJitter)
	c.Jitter = max(c.Jitter, 0)
	setDefault(&c.HalfOpenProbes, defaultHalfOpenProbes)
	setDefault(&c.HalfOpenMaxWait, defaultHalfOpenMaxWait)
	if c.HalfOpenMaxWait < 0 {
		c.HalfOpenMaxWait = noWait
	}
	setDefault(&c.MaxEjected, defaultMaxEjected)
	setDefault(&c.PanicThreshold, defaultPanicThreshold)
	if c.Classify == nil {
		c.Classify = DefaultClassify
	}

	if c.Window < time.Duration(c.Buckets) {
		return &ConfigError{"Window", c.Window, "must be at least 1ns per bucket"}
	}
	if c.OpenMax < c.OpenBase {
		return &ConfigError{"OpenMax", c.OpenMax, "must be at least OpenBase (" + c.OpenBase.String() + ")"}
	}
	return nil
}

func setDefault[T time.Duration | int | float64](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}
