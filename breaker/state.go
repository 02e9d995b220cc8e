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
// error whose chain (errors.Is, through wrapped and joined errors) holds
// context.Canceled is Ignored (the caller gave up, which says nothing about
// the cell), and anything else is a Failure, context.DeadlineExceeded
// included. An error that is only the cause a caller gave to
// context.WithCancelCause carries no mark of cancellation, so only
// Set.ClassifyContext, which sees the caller's context, can ignore it.
func DefaultClassify(err error) Outcome {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, context.Canceled):
		return Ignored
	}
	return Failure
}

// Counts are the calls a breaker judges: those in its rolling window while
// closed, its probes while half-open. They are reset on every state change;
// ToGobreakerCounts converts them.
type Counts struct {
	// Requests counts the calls admitted in the current state that are still
	// judged: the outcomes below plus the calls in flight. A call in flight
	// enters the window's buckets only when it is reported.
	Requests  int
	Successes int
	Failures  int
	Ignored   int
	// Slow counts the successes and failures that took longer than
	// Config.SlowCall.
	Slow int
	// ConsecutiveFailures counts the failures since the last success that are
	// still in the window, and ConsecutiveSuccesses the successes since the
	// last failure; Ignored outcomes do not break a run.
	ConsecutiveFailures  int
	ConsecutiveSuccesses int
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
