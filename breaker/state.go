package breaker

import (
	"context"
	"errors"
	"strconv"
)

// State is the state of a cell's breaker.
type State uint8

// The states of a breaker, in the same order as gobreaker's.
const (
	// Closed lets every call through and judges their outcomes.
	Closed State = iota
	// HalfOpen lets a few probe calls through to decide whether to close.
	HalfOpen
	// Open rejects calls until its open time ends.
	Open
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Forced is an operator's override of a cell's breaker.
type Forced uint8

const (
	// Auto leaves the breaker to its own state machine.
	Auto Forced = iota
	// ForcedOpen rejects every call to the cell with ErrForcedOpen.
	ForcedOpen
	// ForcedClosed lets every call through and never trips.
	ForcedClosed
)

// String returns "auto", "forced-open" or "forced-closed".
func (f Forced) String() string {
	switch f {
	case Auto:
		return "auto"
	case ForcedOpen:
		return "forced-open"
	case ForcedClosed:
		return "forced-closed"
	}
	return "Forced(" + strconv.Itoa(int(f)) + ")"
}

// Outcome is the result of a call as the breaker judges it.
type Outcome uint8

// The zero Outcome is not valid; Done treats it, like any unknown value, as
// Ignored, so a forgotten outcome never trips or heals a breaker.
const (
	// Success counts toward closing and against the failure ratio.
	Success Outcome = iota + 1
	// Failure counts toward tripping.
	Failure
	// Ignored is left out of every ratio and run: the call says nothing
	// about the cell (the caller gave up, or the request was invalid).
	Ignored
)

// String returns "success", "failure" or "ignored".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignored:
		return "ignored"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

func (o Outcome) valid() Outcome {
	if o == Success || o == Failure {
		return o
	}
	return Ignored
}

// DefaultClassify maps a call's error to an Outcome: nil is a Success, an
// error matching context.Canceled is Ignored (the caller gave up, which says
// nothing about the cell), and anything else is a Failure. A deadline is a
// Failure: only the caller knows whether the cell or its own budget was to
// blame, so a caller who knows better passes its own Config.Classify.
func DefaultClassify(err error) Outcome {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, context.Canceled):
		return Ignored
	}
	return Failure
}

// Counts are the outcomes a breaker judges: those in its rolling window while
// closed, those of its probes while half-open. They are reset on every state
// change.
type Counts struct {
	Successes int
	Failures  int
	Ignored   int
	// Slow counts the successes and failures that took longer than
	// Config.SlowCall.
	Slow int
	// ConsecutiveFailures counts the failures since the last success that are
	// still in the window; Ignored outcomes do not break a run.
	ConsecutiveFailures int
}

// Totals are a cell's lifetime counters, for metrics. They are never reset.
type Totals struct {
	// Successes, Failures and Ignored count every outcome reported to Done,
	// including reports the breaker did not judge because they belonged to
	// an earlier state.
	Successes uint64
	Failures  uint64
	Ignored   uint64
	// Rejected counts the calls Allow refused.
	Rejected uint64
}

func (t *Totals) count(o Outcome) {
	switch o {
	case Success:
		t.Successes++
	case Failure:
		t.Failures++
	default:
		t.Ignored++
	}
}
