package breaker

import (
	"math"
	"time"

	"github.com/sony/gobreaker/v2"
)

// gobreakerTimeout is gobreaker's open time when Settings.Timeout is not
// positive.
const gobreakerTimeout = 60 * time.Second

// gobreakerReadyToTrip is gobreaker's ReadyToTrip when Settings.ReadyToTrip
// is nil: more than five consecutive failures, so it trips on the sixth.
func gobreakerReadyToTrip(c gobreaker.Counts) bool { return c.ConsecutiveFailures > 5 }

// FromGobreaker returns the Config under which each breaker of a Set behaves
// as a gobreaker.CircuitBreaker built from st: it trips, opens, turns
// half-open and closes after the same outcomes at the same moments. The
// fields map as follows.
//
//   - MaxRequests becomes HalfOpenProbes (0 becomes 1, as in gobreaker): a
//     half-open breaker admits that many probes in all, an Ignored one giving
//     its place back, and closes after that many successes; one failure
//     opens it again. At most 1024.
//   - Interval 0 or negative becomes a negative Window: the counts of a
//     closed breaker are cleared only when it changes state.
//   - A positive Interval with no BucketPeriod becomes Window = Interval in
//     one bucket: the counts are cleared every Interval (see below for when).
//   - A positive Interval with a positive BucketPeriod is a rolling window:
//     as gobreaker does, Interval is rounded up to a multiple of BucketPeriod,
//     and the window is Interval cut into Interval/BucketPeriod buckets of
//     BucketPeriod, aligned on the breaker's last state change; outcomes age
//     out one bucket at a time. At most 1024 buckets. When Interval is at
//     most BucketPeriod, that is one bucket of BucketPeriod, as above.
//   - Timeout becomes OpenBase and OpenMax (0 or negative becomes 60 s, as in
//     gobreaker), each plus 1 ns, because gobreaker turns half-open only once
//     the time is strictly past its expiry; OpenMultiplier is 1 and Jitter
//     negative, so every open lasts that long.
//   - ReadyToTrip becomes Config.ReadyToTrip, called after each failure of a
//     closed breaker with its counts converted by ToGobreakerCounts; nil
//     becomes gobreaker's default, more than 5 consecutive failures.
//   - IsExcluded and IsSuccessful become Classify: an error IsExcluded
//     accepts is Ignored, then one IsSuccessful accepts (nil by default) is a
//     Success, and anything else a Failure. As in gobreaker, and unlike
//     DefaultClassify, context.Canceled is then a Failure unless IsExcluded
//     says otherwise; Set.ClassifyContext still ignores the caller's own
//     cancellation.
//   - OnStateChange becomes OnEvent, called with the cell ID as the name for
//     every StateChanged event whose From and To differ. Unlike gobreaker's,
//     it runs on the Set's event goroutine, outside every lock, after the
//     change. Name is not used: each breaker is named by its cell.
//
// The Set-wide protections gobreaker has no equivalent of are off, so that
// each breaker behaves alone: MaxEjected is 1 (every cell may be ejected)
// and PanicMode is PanicOff. SlowCall stays 0, so slow calls are not judged.
// Set them on the result to protect the fleet.
//
// The remaining differences are these, and none shows when every call is
// reported in the bucket it started in and no probe stays unreported for
// HalfOpenMaxWait:
//
//   - HalfOpenMaxWait keeps its default of 10 s: a probe unreported that long
//     opens the breaker again, where gobreaker stays half-open for ever. Set
//     it negative to wait for ever too.
//   - Allow reads no clock, so an outcome enters the bucket current when it
//     is reported, where gobreaker puts it in the bucket its call started in
//     (and drops it when that bucket has aged out); and a call in flight
//     counts in Counts.Requests until it is reported or the breaker changes
//     state, where gobreaker ages it out with its bucket.
//   - With one bucket the window is cleared on a fixed schedule, every
//     Interval after the breaker's last state change. gobreaker clears it at
//     the first Allow, report or State call strictly after the Interval ends,
//     starts the next Interval at that moment, and drops the reports of calls
//     started before it; when it clears depends on when it is asked.
//
// FromGobreaker returns a *ConfigError for a MaxRequests or a number of
// buckets above 1024, or an Interval so long it overflows once rounded up.
func FromGobreaker(st gobreaker.Settings) (Config, error) {
	if st.MaxRequests > maxProbes {
		return Config{}, &ConfigError{"Settings.MaxRequests", st.MaxRequests, "must be at most 1024"}
	}
	timeout := st.Timeout
	if timeout <= 0 {
		timeout = gobreakerTimeout
	}
	if timeout < math.MaxInt64 {
		timeout++
	}
	cfg := Config{
		HalfOpenProbes: max(int(st.MaxRequests), 1),
		OpenBase:       timeout,
		OpenMax:        timeout,
		OpenMultiplier: 1,
		Jitter:         -1,
		ReadyToTrip:    st.ReadyToTrip,
		MaxEjected:     1,
		PanicMode:      PanicOff,
		Classify:       gobreakerClassify(st.IsSuccessful, st.IsExcluded),
	}
	if cfg.ReadyToTrip == nil {
		cfg.ReadyToTrip = gobreakerReadyToTrip
	}
	switch {
	case st.Interval <= 0:
		cfg.Window = -1
	case st.BucketPeriod <= 0:
		cfg.Window, cfg.Buckets = st.Interval, 1
	default:
		n := st.Interval / st.BucketPeriod
		if st.Interval%st.BucketPeriod != 0 {
			n++
		}
		if n > maxBuckets {
			return Config{}, &ConfigError{"Settings.BucketPeriod", st.BucketPeriod,
				"must cut Interval (" + st.Interval.String() + ") into at most 1024 buckets"}
		}
		if st.BucketPeriod > math.MaxInt64/n {
			return Config{}, &ConfigError{"Settings.Interval", st.Interval,
				"overflows once rounded up to a multiple of BucketPeriod"}
		}
		cfg.Window, cfg.Buckets = n*st.BucketPeriod, int(n)
	}
	if onChange := st.OnStateChange; onChange != nil {
		cfg.OnEvent = func(e Event) {
			if e.Kind == StateChanged && e.From != e.To {
				onChange(e.Cell, ToGobreakerState(e.From), ToGobreakerState(e.To))
			}
		}
	}
	return cfg, nil
}

func gobreakerClassify(isSuccessful, isExcluded func(error) bool) func(error) Outcome {
	return func(err error) Outcome {
		switch {
		case isExcluded != nil && isExcluded(err):
			return Ignored
		case isSuccessful != nil && isSuccessful(err), isSuccessful == nil && err == nil:
			return Success
		}
		return Failure
	}
}

// ToGobreakerState returns the gobreaker.State of the same name and value:
// Closed, HalfOpen and Open are 0, 1 and 2 in both packages. An invalid State
// maps to the gobreaker.State of the same value, which gobreaker's String
// also reports as unknown.
func ToGobreakerState(s State) gobreaker.State { return gobreaker.State(s) }

// FromGobreakerState returns the State of the same name and value as s, and
// false if s is not one of gobreaker's three states.
func FromGobreakerState(s gobreaker.State) (State, bool) {
	switch s {
	case gobreaker.StateClosed, gobreaker.StateHalfOpen, gobreaker.StateOpen:
		return State(s), true
	}
	return Closed, false
}

// ToGobreakerCounts converts c to the gobreaker.Counts that Config.ReadyToTrip
// receives: Requests, Successes, Failures and Ignored become Requests,
// TotalSuccesses, TotalFailures and TotalExclusions, and the runs keep their
// names. Slow has no counterpart. Values beyond a uint32 are capped.
func ToGobreakerCounts(c Counts) gobreaker.Counts {
	return gobreaker.Counts{
		Requests:             toUint32(c.Requests),
		TotalSuccesses:       toUint32(c.Successes),
		TotalFailures:        toUint32(c.Failures),
		TotalExclusions:      toUint32(c.Ignored),
		ConsecutiveSuccesses: toUint32(c.ConsecutiveSuccesses),
		ConsecutiveFailures:  toUint32(c.ConsecutiveFailures),
	}
}

func toUint32(n int) uint32 {
	return uint32(min(max(n, 0), math.MaxUint32))
}
