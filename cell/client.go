package cell

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	"golang.org/x/sync/singleflight"
)

// A Client routes a service's own requests to the cells that own their keys.
// It is safe for concurrent use; make one with NewClient and run its
// background work with Run.
type Client struct {
	cfg         settings
	follower    *source.Follower
	ownFollower bool   // the client built follower and Run runs it
	unregister  func() // the client's swap step, from follower
	breakers    *breaker.Set
	budget      *budget
	epoch       time.Time // the origin of the client's monotonic clock

	table   atomic.Pointer[routeTable]
	swapped atomic.Pointer[chan struct{}] // closed and replaced at every swap (Swapped)
	ready   chan struct{}
	running atomic.Bool
	flights singleflight.Group
	// refreshing is the version a refusal's refresh waits for, 0 when none
	// runs.
	refreshing atomic.Uint64

	// answer judges an error that breaker.Blame leaves to classification:
	// the protocol's answers first, then Config.Classify.
	answer func(error) breaker.Outcome

	// mu guards the cell states, which the swap step writes. It is never
	// held while a hook or the logger runs.
	mu     sync.Mutex
	states map[string]*cellState // by cell ID, for the cells of the map in force
}

// NewClient returns a client configured by cfg, or a *ConfigError. It starts
// nothing: until its Follower has a first map, Resolve and Do return
// ErrNotReady. It registers the client's swap step with the Follower; when
// the Follower already has a map, the client is ready when NewClient
// returns.
func NewClient(cfg Config) (*Client, error) {
	s, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:      s,
		follower: s.Follower,
		budget:   newBudget(s.Budget),
		epoch:    time.Now(),
		ready:    make(chan struct{}),
		states:   make(map[string]*cellState),
	}
	if c.follower == nil {
		c.follower, err = source.NewFollower(source.FollowerConfig{
			Source: s.Source, LastGood: s.LastGood, Options: s.Options,
			Logger: s.Logger, OnUpdate: s.Observer.MapUpdate,
		})
		if err != nil {
			return nil, &ConfigError{Field: "Source", Value: "…", Reason: err.Error()}
		}
		c.ownFollower = true
	}
	bc := s.Breakers
	userEvent := bc.OnEvent
	bc.OnEvent = func(e breaker.Event) { c.breakerEvent(e, userEvent) }
	c.breakers, err = breaker.New(bc)
	if err != nil {
		return nil, &ConfigError{Field: "Breakers", Value: "…", Reason: err.Error()}
	}
	if c.cfg.classify == nil {
		c.cfg.classify = c.breakers.Classify
	}
	classify := c.cfg.classify
	c.answer = func(err error) breaker.Outcome {
		// A moved or refused reply is the cell's answer, not its failure;
		// a cell without an endpoint is the map's matter.
		if _, ok := as[*MovedError](err); ok {
			return breaker.Ignored
		}
		if _, ok := as[*RefusedError](err); ok {
			return breaker.Ignored
		}
		// A cell's pushback is not its failure: its limit and hold deal
		// with it. A throttled key is the key's matter, not the cell's.
		if _, ok := as[*OverloadedError](err); ok {
			return breaker.Ignored
		}
		if _, ok := as[*ThrottledError](err); ok {
			return breaker.Ignored
		}
		if errors.Is(err, ErrNoEndpoint) {
			return breaker.Ignored
		}
		return classify(err)
	}
	ch := make(chan struct{})
	c.swapped.Store(&ch)
	c.unregister = c.follower.OnSwap(c.swap)
	return c, nil
}

// now is the time since the client's epoch: one read of the monotonic clock.
func (c *Client) now() time.Duration { return time.Since(c.epoch) }

// at is the time.Time of a reading of now, monotonic like time.Now's, for
// the breakers: the attempt's one reading serves them too.
func (c *Client) at(now time.Duration) time.Time { return c.epoch.Add(now) }

// made reports whether c was made by NewClient. A Client that was not (the
// zero Client, or a nil one) is never ready: every method answers as before
// the first map, with ErrNotReady where it returns an error, and none
// panics.
func (c *Client) made() bool { return c != nil && c.budget != nil }

// Ready returns a channel that is closed once the first map is in force;
// for a Client not made by NewClient, one that is never closed.
func (c *Client) Ready() <-chan struct{} {
	if !c.made() {
		return nil
	}
	return c.ready
}

// Map returns the map in force, or nil before the first.
func (c *Client) Map() *placement.Map {
	if c == nil {
		return nil
	}
	if t := c.table.Load(); t != nil {
		return t.m
	}
	return nil
}

// Breakers returns the client's breakers, for operators: Force a cell open or
// closed, read Snapshot. Sync belongs to the client, which calls it at every
// map swap. It is nil for a Client not made by NewClient.
func (c *Client) Breakers() *breaker.Set {
	if !c.made() {
		return nil
	}
	return c.breakers
}

func (c *Client) breakerEvent(e breaker.Event, user func(breaker.Event)) {
	log := c.cfg.Logger
	switch e.Kind {
	case breaker.StateChanged:
		log.Warn("cell: breaker changed", "cell", e.Cell, "from", e.From.String(), "to", e.To.String(),
			"forced", e.Forced.String(), "failures", e.Counts.Failures, "successes", e.Counts.Successes)
	case breaker.PanicStarted:
		log.Error("cell: breakers panic: too few cells closed", "closed", e.ClosedCells, "cells", e.Cells)
	case breaker.PanicEnded:
		log.Warn("cell: breakers panic ended", "closed", e.ClosedCells, "cells", e.Cells)
	}
	if h := c.cfg.Observer.Breaker; h != nil {
		h(e)
	}
	if user != nil {
		user(e)
	}
}

// A Route is where a key goes: the cell chosen and the endpoint to call it
// at, with the facts of the map that chose them.
type Route struct {
	Key  string
	Cell string
	// Endpoint is the URL to call the cell at: among the cell's endpoints
	// in the client's zone (all of them when none is), the one the key's
	// hash picks, so that a key always uses the same endpoint and keys
	// spread over endpoints. Empty when the cell lists none.
	Endpoint string
	// Shard is the key's shuffle shard, home first, when the map's shard
	// size is above 1; nil otherwise, so that resolving stays free of
	// allocations at shard size 1. Do leaves it nil: fn is told the cell to
	// call, not the cells it might have called.
	Shard    []string
	Reason   placement.Reason
	Phase    placement.Phase // the migration's phase, when Reason is ReasonMigration
	Writable bool            // false while the key's migration is frozen
	Version  uint64          // the version of the map that chose the route
	Class    Class           // the class of the call (Write for Resolve)
	// Attempt is 0 for a call's first attempt, and counts its failovers,
	// hedges and redirect after that.
	Attempt int

	ep *endpoint
}

// Resolve returns the route of key's writes: its home cell, the endpoint to
// call it at, and its shard. Errors: ErrNotReady before the first map,
// ErrNoKey for an empty key, and placement's *CellError (matching
// placement.ErrCellDisabled) for a key whose home is disabled, with the route
// filled in. At shard size 1 Resolve is O(1), takes no lock and does not
// allocate; above, the shard is allocated (see AppendResolve). ctx is not
// used: Resolve never waits.
func (c *Client) Resolve(ctx context.Context, key string) (r Route, err error) {
	var buf [4]string
	shard, err := c.route(&r, buf[:0], key)
	if len(shard) > 0 {
		r.Shard = slices.Clone(shard)
	}
	return r, err
}

// AppendResolve is Resolve with the route's Shard appended to dst (Go's
// append convention): it does not allocate when dst has room for the shard.
func (c *Client) AppendResolve(ctx context.Context, dst []string, key string) (r Route, err error) {
	shard, err := c.route(&r, dst, key)
	if len(shard) > 0 {
		r.Shard = shard
	}
	return r, err
}

// route resolves key into r, with dst as scratch, and returns its shard
// apart, so that Resolve's stack buffer never flows into a returned Route.
func (c *Client) route(r *Route, dst []string, key string) ([]string, error) {
	r.Key = key
	if c == nil {
		return nil, ErrNotReady
	}
	t := c.table.Load()
	if t == nil {
		return nil, ErrNotReady
	}
	r.Version = t.version
	p, err := t.m.LocatePlace(key)
	if p.Home < 0 {
		return nil, err
	}
	// The home's route by its index: no lookup by ID.
	cr := t.cells[p.Home]
	r.Cell, r.Reason, r.Phase, r.Writable = cr.id, p.Reason, p.Phase, p.Writable
	if ep := t.endpoint(cr, key, p.Bucket); ep != nil {
		r.Endpoint, r.ep = ep.url, ep
	}
	return t.m.AppendShard(dst, p), err
}

// refresh asks the source for a map newer than the one in force, of at
// least version v, without waiting for it: a refusal says the client's map
// may be behind the control plane. The wait is the one a moved reply starts
// (see awaitVersion), shared by every caller waiting for that version, so
// that a burst of refusals costs one refresh.
func (c *Client) refresh(v uint64) {
	t := c.table.Load()
	if t == nil {
		return
	}
	v = max(v, t.version+1)
	// Refusals come in bursts (every write of a frozen key): while a
	// refresh for v or newer runs, they cost one atomic load.
	w := c.refreshing.Load()
	if w >= v || !c.refreshing.CompareAndSwap(w, v) {
		return
	}
	go func() {
		defer c.refreshing.CompareAndSwap(v, 0)
		_, ch := c.versionFlight(context.Background(), v)
		<-ch
	}()
}

// versionFlight returns the shared wait for a map of at least version v,
// starting it if none runs: detached from ctx, under Config.RefreshTimeout
// and no longer than Run, asking the source to poll at once.
func (c *Client) versionFlight(ctx context.Context, v uint64) (string, <-chan singleflight.Result) {
	key := strconv.FormatUint(v, 10)
	return key, c.flights.DoChan(key, func() (any, error) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RefreshTimeout)
		defer cancel()
		return c.waitFor(wctx, v)
	})
}
