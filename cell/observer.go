package cell

import (
	"context"
	"errors"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/placement/source"
)

// Observer receives the client's events, for metrics and traces. Every field
// is optional, in the manner of net/http/httptrace.ClientTrace: a nil hook
// costs nothing. The request hooks (Call, Attempt, Unavailable, Failover,
// Hedge, Redirect) run synchronously in the goroutine of the call, so they must be
// fast and must not block; Breaker and MapUpdate run on the client's
// background goroutines. No hook is called with a lock held, and a hook may
// call any method of the Client.
type Observer struct {
	// Call hears every Do, and every request of the Transport, once, when
	// it returns: its class, outcome and duration and the cells it tried.
	// Setting it costs two readings of the clock per call.
	Call func(CallInfo)
	// Attempt hears every call of fn, after its breaker was told.
	Attempt func(AttemptInfo)
	// Unavailable hears every cell a call skipped without calling fn.
	Unavailable func(UnavailableInfo)
	// Failover hears a call moving on to the next cell after a failure.
	Failover func(FailoverInfo)
	// Hedge hears a hedge starting beside a slow attempt.
	Hedge func(FailoverInfo)
	// Redirect hears a call following a moved reply.
	Redirect func(RedirectInfo)
	// Breaker hears the breakers' state changes and panics.
	Breaker func(breaker.Event)
	// MapUpdate hears every map the client's own Follower (built from
	// Config.Source) accepted or refused, and every error of its source.
	// With Config.Follower, set FollowerConfig.OnUpdate instead.
	MapUpdate func(MapUpdate)
}

// CallInfo describes one Do (or one request of the Transport) that
// returned.
type CallInfo struct {
	// Key is the call's key, for traces and logs. It is never a metric
	// attribute: one series per tenant has no bound.
	Key      string
	Class    Class
	Outcome  CallOutcome
	Duration time.Duration // from Do's start to its return, waits included
	// Attempts is the number of calls of fn (failovers, hedges and the
	// redirect included); Cells names their cells.
	Attempts   int
	Redirected bool  // the call followed a moved reply
	Err        error // Do's error

	cells [4]string // the first cells tried, by value: no allocation
	more  []string
}

// Cells returns the cells fn was called at, in the order their attempts
// returned; a cell appears once per attempt. The slice is the CallInfo's
// own, without allocation for up to four attempts.
func (ci *CallInfo) Cells() []string {
	n := min(ci.Attempts, len(ci.cells))
	if len(ci.more) == 0 {
		return ci.cells[:n:n]
	}
	return append(ci.cells[:n:n], ci.more...)
}

// A CallOutcome sums up how a call ended, for metrics: a small, fixed set
// of values, each with a name (String) fit for a metric attribute.
type CallOutcome uint8

const (
	// CallOK: a call of fn returned nil.
	CallOK CallOutcome = iota
	// CallFailed: fn was called and failed (a *CallError, or a moved
	// reply that could not be followed).
	CallFailed
	// CallUnavailable: no cell could be called (*UnavailableError).
	CallUnavailable
	// CallRefused: the client or a cell refused the key for now
	// (*RefusedError: a frozen migration, a cell behind).
	CallRefused
	// CallCanceled: the caller's context ended before the call did.
	CallCanceled
	// CallInvalid: the caller's own mistake (a *RequestError, an empty
	// key, an unknown class, no fn).
	CallInvalid
	// CallNotReady: no map was in force (ErrNotReady).
	CallNotReady
	numCallOutcomes = iota
)

var callOutcomeNames = [numCallOutcomes]string{"ok", "failed", "unavailable", "refused", "canceled", "invalid", "not_ready"}

func (o CallOutcome) String() string {
	if int(o) < len(callOutcomeNames) {
		return callOutcomeNames[o]
	}
	return "unknown"
}

// outcomeOf sums up the error err of a call made under ctx.
func outcomeOf(ctx context.Context, err error) CallOutcome {
	if err == nil {
		return CallOK
	}
	if _, ok := as[*RequestError](err); ok {
		return CallInvalid
	}
	switch {
	case errors.Is(err, ErrNotReady):
		return CallNotReady
	case errors.Is(err, ErrNoKey), errors.Is(err, ErrClass), errors.Is(err, ErrNoFunc), errors.Is(err, ErrCaller):
		return CallInvalid
	case ctx != nil && ctx.Err() != nil:
		return CallCanceled
	}
	if _, ok := as[*UnavailableError](err); ok {
		return CallUnavailable
	}
	if _, ok := as[*RefusedError](err); ok {
		return CallRefused
	}
	return CallFailed
}

// called reports the call that returned err to Observer.Call; start is the
// client's clock when Do began. Only Do's deferred hook calls it, when the
// hook is set. cl is zero when Do returned before routing.
func (cl *call) called(c *Client, ctx context.Context, key string, class Class, start time.Duration, err error) {
	ci := CallInfo{
		Key: key, Class: class, Outcome: outcomeOf(ctx, err), Duration: c.now() - start,
		Attempts: cl.attempts, Redirected: cl.redirected, Err: err,
		cells: cl.tried, more: cl.triedMore,
	}
	c.cfg.Observer.Call(ci)
}

// AttemptInfo describes one call of fn.
type AttemptInfo struct {
	Key     string
	Cell    string
	Class   Class
	Attempt int  // 0 for the first attempt of the call
	Hedge   bool // the attempt was a hedge
	Outcome breaker.Outcome
	Latency time.Duration
	Err     error // fn's error
}

// UnavailableInfo describes a cell a call could not use.
type UnavailableInfo struct {
	Key    string
	Cell   string
	Class  Class
	Reason Rejection
	Err    error // the breaker's error, or nil
}

// FailoverInfo describes a call moving from one cell to another.
type FailoverInfo struct {
	Key      string
	Class    Class
	From, To string
	Attempt  int // the attempt starting on To
}

// RedirectInfo describes a call following a moved reply from From, on a map
// of at least Version, to To.
type RedirectInfo struct {
	Key      string
	Class    Class
	From, To string
	Version  uint64
}

// MapUpdate describes a map the client's Follower accepted or refused, or
// an error of its source; Origin is source.OriginSource or
// source.OriginLastGood.
type MapUpdate = source.Update
