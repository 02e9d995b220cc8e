package breaker

// window is a rolling window of outcomes cut into buckets. Time enters only
// as a bucket tick (elapsed time since the breaker's last state change
// divided by the bucket width), so the window itself never reads the clock.
type window struct {
	buckets []bucket
	tick    int64 // the tick of buckets[tick%len(buckets)], the newest bucket
	sum     bucket
	// consecutive counts failures since the last success, and
	// consecutiveOK successes since the last failure. A run is the newest
	// outcomes, so the part of it still in the window is at most the
	// window's failures (successes): roll trims it to that. This is what
	// gobreaker's rolling counts do for outcomes reported in order.
	consecutive   int
	consecutiveOK int
}

type bucket struct {
	successes, failures, ignored, slow int
}

func (b *bucket) add(o Outcome, slow bool) {
	switch o {
	case Success:
		b.successes++
	case Failure:
		b.failures++
	default:
		b.ignored++
	}
	if slow {
		b.slow++
	}
}

func (b *bucket) sub(old bucket) {
	b.successes -= old.successes
	b.failures -= old.failures
	b.ignored -= old.ignored
	b.slow -= old.slow
}

func newWindow(buckets int, tick int64) window {
	return window{buckets: make([]bucket, buckets), tick: tick}
}

// roll drops the buckets older than the window ending at tick. A tick in the
// past (a clock stepping back) leaves the window as it is.
func (w *window) roll(tick int64) {
	if tick <= w.tick {
		return
	}
	n := int64(len(w.buckets))
	if tick-w.tick >= n {
		w.reset(tick)
		return
	}
	for w.tick < tick {
		w.tick++
		old := &w.buckets[w.tick%n]
		w.sum.sub(*old)
		*old = bucket{}
	}
	w.consecutive = min(w.consecutive, w.sum.failures)
	w.consecutiveOK = min(w.consecutiveOK, w.sum.successes)
}

// add records an outcome in the newest bucket; call roll first.
func (w *window) add(o Outcome, slow bool) {
	w.buckets[w.tick%int64(len(w.buckets))].add(o, slow)
	w.sum.add(o, slow)
	switch o {
	case Success:
		w.consecutive = 0
		w.consecutiveOK++
	case Failure:
		w.consecutive++
		w.consecutiveOK = 0
	}
}

func (w *window) reset(tick int64) {
	clear(w.buckets)
	w.sum = bucket{}
	w.consecutive = 0
	w.consecutiveOK = 0
	w.tick = tick
}

func (w *window) counts() Counts {
	return Counts{
		Successes:            w.sum.successes,
		Failures:             w.sum.failures,
		Ignored:              w.sum.ignored,
		Slow:                 w.sum.slow,
		ConsecutiveFailures:  w.consecutive,
		ConsecutiveSuccesses: w.consecutiveOK,
	}
}

// tripped reports whether the window's outcomes trip a closed breaker by
// the built-in rules: the failure rules unless Config.ReadyToTrip replaces
// them, and the slow-call rule.
func (w *window) tripped(c *Config) bool {
	if c.ReadyToTrip == nil && w.consecutive >= c.ConsecutiveFailures {
		return true
	}
	judged := w.sum.successes + w.sum.failures
	if judged < c.MinRequests {
		return false
	}
	return c.ReadyToTrip == nil && float64(w.sum.failures) >= c.FailureRatio*float64(judged) ||
		c.SlowCall > 0 && float64(w.sum.slow) >= c.SlowRatio*float64(judged)
}
