package cell

import (
	"context"
	"errors"
	"fmt"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// Run runs the client's Follower when the client built it (Config.Source):
// it loads the last-known-good file, follows the source until ctx ends, and
// returns ctx's error; see source.Follower.Run. With Config.Follower, whose
// owner runs it, Run has nothing to do: it waits for ctx and returns its
// error. It returns ErrRunning at once if called again, even after the first
// Run has returned.
//
// Every map the Follower accepts reaches the client through its swap step
// before it goes live: the client builds its routing table (each cell's
// state, preferred endpoints and counters), syncs its breakers (every cell
// that is not disabled has a breaker before any request is routed to it) and
// swaps the table in atomically; requests in flight finish on the table they
// started with. The version gate, the last-known-good file and the reports
// are the Follower's.
func (c *Client) Run(ctx context.Context) error {
	if !c.made() {
		return ErrNotReady // not made by NewClient: no source to run
	}
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	if !c.ownFollower {
		<-ctx.Done()
		return ctx.Err()
	}
	return c.follower.Run(ctx)
}

// Follower returns the Follower the client runs on: Config.Follower, or the
// one it built from Config.Source.
// It is nil for a Client not made by NewClient.
func (c *Client) Follower() *source.Follower {
	if !c.made() {
		return nil
	}
	return c.follower
}

// Close unregisters the client from its Follower: the client keeps the map
// it has, and hears of no later one. A client sharing a Follower with
// others should be closed when it is dropped; one that built its own
// Follower needs no Close. Close of a Client not made by NewClient does
// nothing.
func (c *Client) Close() {
	if c.made() {
		c.unregister()
	}
}

// swap is the client's swap step: it makes m the client's map in force.
// The Follower runs it before m goes live, one map at a time.
func (c *Client) swap(m *placement.Map) {
	c.mu.Lock()
	next := make(map[string]*cellState, len(c.states))
	for id, st := range c.states {
		next[id] = st
	}
	t := newRouteTable(m, c.cfg.Zone, c.cfg.limit, next)
	for id := range next {
		if t.lookup(id) == nil {
			delete(next, id)
		}
	}
	c.states = next
	c.mu.Unlock()
	t.acceptedAt = c.now()

	// Breakers first: no request may reach a cell its Set does not know.
	ids := make([]string, 0, len(t.cells))
	for _, cr := range t.cells {
		if cr.state != placement.Disabled {
			ids = append(ids, cr.id)
		}
	}
	c.breakers.Sync(ids)
	t.bind(c.breakers)
	c.table.Store(t)
	ch := make(chan struct{})
	close(*c.swapped.Swap(&ch))
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}
}

// awaitVersion returns a table of at least version v, waiting at most until
// ctx is done. The wait is shared by every caller waiting for v, runs
// detached from any one of them under Config.RefreshTimeout, and asks the
// source to poll at once (Follower.Await).
func (c *Client) awaitVersion(ctx context.Context, v uint64) (*routeTable, error) {
	if t := c.table.Load(); t != nil && t.version >= v {
		return t, nil
	}
	key, ch := c.versionFlight(ctx, v)
	select {
	case r := <-ch:
		if r.Err != nil {
			c.flights.Forget(key)
			return nil, r.Err
		}
		return r.Val.(*routeTable), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Client) waitFor(ctx context.Context, v uint64) (*routeTable, error) {
	_, err := c.follower.Await(ctx, v)
	// The Follower runs the client's step before a map goes live: once it
	// has a map of version v, so has the client, unless the client was
	// closed.
	t := c.table.Load()
	if err == nil && t != nil && t.version >= v {
		return t, nil
	}
	var have uint64
	if t != nil {
		have = t.version
	}
	switch {
	case errors.Is(err, source.ErrStopped):
		return nil, fmt.Errorf("cell: no map of version %d: the Follower's Run has returned: %w", v, ErrMoved)
	case err == nil:
		return nil, fmt.Errorf("cell: no map of version %d (have %d): the client is closed: %w", v, have, ErrMoved)
	}
	return nil, fmt.Errorf("cell: no map of version %d within %v (have %d): %w", v, c.cfg.RefreshTimeout, have, ErrMoved)
}
