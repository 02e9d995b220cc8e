package cell

import (
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/placement/source"
)

// Observer receives the client's events, for metrics and traces. Every field
// is optional, in the manner of net/http/httptrace.ClientTrace: a nil hook
// costs nothing. The request hooks (Attempt, Unavailable, Failover, Hedge,
// Redirect) run synchronously in the goroutine of the call, so they must be
// fast and must not block; Breaker and MapUpdate run on the client's
// background goroutines. No hook is called with a lock held, and a hook may
// call any method of the Client.
type Observer struct {
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
