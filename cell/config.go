package cell

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// A Class says which cells an operation may use; see Client.Do.
type Class uint8

const (
	// Write is a stateful write: the key's home cell only, no failover,
	// refused with ErrFrozen while the key's migration is frozen.
	Write Class = iota
	// Read is a stateful read: the key's read cells in order (during a
	// flipped migration the new cell, then the old one), failing over only
	// within them.
	Read
	// Stateless may use any cell of the key's shuffle shard, in shard
	// order, failing over at most Config.Hops times and hedging when
	// Config.Hedge says so.
	Stateless
)

var classNames = [...]string{"write", "read", "stateless"}

// String returns "write", "read" or "stateless".
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", c)
}

// Config configures a Client. Follower or Source is required; every other
// field's zero value is valid and takes the default written in its comment. Following the
// module's convention, a negative value means "none" where zero means the
// default.
type Config struct {
	// Follower is the map's life cycle the client runs on, shared with
	// other clients and the cell side of the process (cell.Guard); its
	// owner runs it. Set Follower or Source, not both.
	Follower *source.Follower

	// Source delivers the placement maps when the client has a Follower of
	// its own: NewClient builds one of Source, LastGood, Options, Logger
	// and Observer.MapUpdate, and Run runs it. When Source is a
	// source.Refresher, a moved reply makes the client ask it to poll at
	// once.
	Source source.Source

	// Breakers configures the per-cell circuit breakers. Its OnEvent is
	// still called; the client also reports the events to Observer.Breaker
	// and Logger.
	Breakers breaker.Config

	// Zone is the caller's zone: endpoints in it are preferred. Default "":
	// every endpoint of a cell is equal.
	Zone string

	// LastGood is the path of the last-known-good file, with Source: Run
	// loads it before anything else, so that the client serves with the
	// control plane down, and saves every accepted map to it. Default "":
	// none. With Follower, it is FollowerConfig.LastGood.
	LastGood string
	// Options are the parse options, with Source: limits and the trusted
	// keys of signed maps, for LastGood and for Source when it is a
	// source.Parser. Default: placement's defaults. With Follower, they are
	// FollowerConfig.Options.
	Options placement.Options

	// Hops is the number of failovers a Stateless call may make after its
	// first attempt. Default 1; negative means none.
	Hops int

	// Budget bounds the extra attempts (failovers and hedges) of all calls.
	Budget Budget

	// Limit is each cell's concurrency limit, adapting to the cell's
	// latency between Limit.Min and Limit.Max (Min equal to Max is a fixed
	// bulkhead): a call over it is refused at once with RejectLimit and
	// fails over when its class allows. A cell's pushback (an
	// *OverloadedError) halves its limit and holds its new attempts (for
	// the Retry-After it asked, at most 30 s, jittered up to a quarter
	// more) with RejectOverloaded. Default: no limit; the pushback's hold
	// still applies. See Limit and "Overload" in the package documentation.
	Limit Limit

	// MaxInFlight is Limit{Min: n, Max: n, Initial: n}: a fixed bulkhead
	// of n calls in flight per cell. Set Limit or MaxInFlight, not both.
	// Default 0: none.
	//
	// Deprecated: use Limit.
	MaxInFlight int

	// Hedge configures hedged Stateless calls. Default: off.
	Hedge Hedge

	// AttemptTimeout bounds each attempt. Default 0: an attempt may use the
	// caller's remaining time divided by the number of attempts still
	// allowed, so that a cell that never answers cannot eat the whole
	// deadline; a call with a single attempt left (every Write) then runs
	// under the caller's own deadline. A positive value bounds every attempt
	// by it as well (a Write's silent cell is found without it; see
	// "Outcomes" in the package documentation); negative means no bound
	// but the caller's.
	AttemptTimeout time.Duration

	// RefreshTimeout bounds the shared wait for a newer map after a moved
	// reply, which runs detached from any one caller. Default 5 s.
	RefreshTimeout time.Duration

	// Classify maps an error returned by fn to the outcome its cell's
	// breaker is told. It is asked only after the client's own rules: a nil
	// error is a Success; the caller's cancellation or deadline, a
	// *MovedError, a *RefusedError and ErrNoEndpoint are Ignored; an
	// attempt that ran out of its own deadline is a Failure. Default:
	// Breakers.Classify, itself breaker.DefaultClassify by default. Only a
	// Failure fails over; any other error is returned as it is.
	Classify func(error) breaker.Outcome

	// Logger receives map updates and rejections, source errors and breaker
	// changes, never a line per request. Default slog.Default(); use
	// slog.New(slog.DiscardHandler) for silence.
	Logger *slog.Logger

	// Observer receives the client's events. Default: none.
	Observer Observer
}

// Budget is a retry budget in the manner of Finagle's: the extra attempts of
// all calls (failovers and hedges, not the one redirect of a moved reply) may
// be at most Ratio of the calls made in the last TTL, plus PerSecond × TTL.
// Tokens expire after TTL, so a burst of old calls does not pay for a
// retry storm now.
type Budget struct {
	// Ratio is the fraction of calls that may be retried. Default 0.2;
	// negative means none.
	Ratio float64
	// PerSecond is the rate of extra attempts allowed however few calls are
	// made, so that a quiet client can still fail over. Default 10;
	// negative means none.
	PerSecond float64
	// TTL is how long a call's deposit and a retry's withdrawal count.
	// Default 10 s; at least 10 ms.
	TTL time.Duration
}

// Hedge configures hedging: when a Stateless call's attempt has not
// answered after Delay, the call also tries the next cell of the shard, up
// to Max times; the first success wins and the other attempts are cancelled,
// their outcome not counted against their cell. Hedges spend the retry
// budget. Only idempotent calls should be hedged.
type Hedge struct {
	// Delay is how long an attempt runs before a hedge starts. Default 0:
	// no hedging.
	Delay time.Duration
	// Max is the most hedges per call. Default 1 when Delay is set.
	Max int
}

// settings is a Config with its defaults applied.
type settings struct {
	Config
	hops     int
	hedges   int
	classify func(error) breaker.Outcome
	limit    limitSettings // max 0: no limit
}

func (cfg Config) normalize() (settings, error) {
	s := settings{Config: cfg}
	bad := func(field string, v any, why string) (settings, error) {
		return settings{}, &ConfigError{Field: field, Value: v, Reason: why}
	}
	switch {
	case cfg.Follower == nil && cfg.Source == nil:
		return bad("Source", nil, "is required (or Follower)")
	case cfg.Follower != nil && cfg.Source != nil:
		return bad("Source", "…", "must be nil with a Follower, which has its own source")
	case cfg.Follower != nil && cfg.LastGood != "":
		return bad("LastGood", cfg.LastGood, "belongs to the Follower's config (FollowerConfig.LastGood)")
	case cfg.Follower != nil && (len(cfg.Options.PublicKeys) > 0 || cfg.Options.Limits != placement.Limits{}):
		return bad("Options", "…", "belong to the Follower's config (FollowerConfig.Options)")
	}
	switch {
	case cfg.Hops < 0:
		s.hops = 0
	case cfg.Hops == 0:
		s.hops = 1
	default:
		s.hops = cfg.Hops
	}
	b := &s.Budget
	switch {
	case math.IsNaN(b.Ratio) || math.IsInf(b.Ratio, 0):
		return bad("Budget.Ratio", b.Ratio, "must be finite")
	case b.Ratio < 0:
		b.Ratio = 0
	case b.Ratio == 0:
		b.Ratio = 0.2
	}
	switch {
	case math.IsNaN(b.PerSecond) || math.IsInf(b.PerSecond, 0):
		return bad("Budget.PerSecond", b.PerSecond, "must be finite")
	case b.PerSecond < 0:
		b.PerSecond = 0
	case b.PerSecond == 0:
		b.PerSecond = 10
	}
	switch {
	case b.TTL < 0:
		return bad("Budget.TTL", b.TTL, "must not be negative")
	case b.TTL == 0:
		b.TTL = 10 * time.Second
	case b.TTL < 10*time.Millisecond:
		return bad("Budget.TTL", b.TTL, "must be at least 10ms")
	}
	lim := cfg.Limit
	switch n := cfg.MaxInFlight; {
	case n < 0:
		return bad("MaxInFlight", n, "must not be negative (0 is no cap)")
	case n > 0 && lim != (Limit{}):
		return bad("MaxInFlight", n, "must be 0 with Limit (MaxInFlight is the fixed Limit{Min: n, Max: n})")
	case n > 0:
		lim = Limit{Min: n, Max: n, Initial: n}
	}
	ls, err := lim.normalize()
	if err != nil {
		return settings{}, err
	}
	s.limit = ls
	switch h := cfg.Hedge; {
	case h.Delay < 0:
		return bad("Hedge.Delay", h.Delay, "must not be negative (0 is no hedging)")
	case h.Max < 0:
		return bad("Hedge.Max", h.Max, "must not be negative")
	case h.Delay > 0 && h.Max == 0:
		s.hedges = 1
	case h.Delay > 0:
		s.hedges = h.Max
	}
	switch {
	case cfg.RefreshTimeout < 0:
		return bad("RefreshTimeout", cfg.RefreshTimeout, "must not be negative")
	case cfg.RefreshTimeout == 0:
		s.RefreshTimeout = 5 * time.Second
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.classify = cfg.Classify
	return s, nil
}
