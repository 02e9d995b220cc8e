package cell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// Run owns the client's background work: it loads the last-known-good file
// when Config.LastGood is set, then consumes the source until ctx ends, and
// returns ctx's error. It returns ErrRunning at once if called again, even
// after the first Run has returned: a client follows one source, once.
//
// Every map accepted is swapped in atomically (requests in flight finish on
// the map they started with), synced into the breakers (every cell that is
// not disabled has a breaker before any request is routed to it), and saved
// to the last-known-good file. Refused, and reported to the Logger, the
// Observer and Stats, with the map in force kept: a source error (a
// document the source could not fetch or would not accept), a map older
// than the one in force, and a different document under the version in
// force. The same document again is not news and is dropped silently.
func (c *Client) Run(ctx context.Context) error {
	if !c.made() {
		return ErrNotReady // not made by NewClient: no source to run
	}
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer close(c.stopped)
	if path := c.cfg.LastGood; path != "" {
		m, err := source.LoadFile(path, c.cfg.Options)
		switch {
		case err == nil:
			c.offer(m, originLastGood)
		case errors.Is(err, fs.ErrNotExist):
			c.cfg.Logger.Info("cell: no last-known-good map yet", "path", path)
		default:
			c.sourceError(fmt.Errorf("cell: last-known-good map %s: %w", path, err), originLastGood)
		}
	}
	backoff, fast := time.Duration(0), 0
	for {
		start := time.Now()
		m, err := c.cfg.Source.Next(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil && m == nil {
			err = errors.New("cell: source delivered no map and no error")
		}
		if err != nil {
			c.sourceError(err, originSource)
			// A source paces its own polls; this only guards against one
			// that keeps failing without waiting, which would spin. A few
			// quick errors in a row are legitimate (a poll that Refresh or a
			// change woke).
			if time.Since(start) >= time.Millisecond {
				fast, backoff = 0, 0
			} else if fast++; fast >= spinErrors {
				backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
				if !sleep(ctx, backoff) {
					return ctx.Err()
				}
			}
			continue
		}
		fast, backoff = 0, 0
		c.offer(m, originSource)
	}
}

// spinErrors is the number of errors in a row, each returned by the source
// within a millisecond, after which Run waits before calling it again.
const spinErrors = 8

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// offer accepts m if it is news and newer than the map in force. Only Run's
// goroutine calls it.
func (c *Client) offer(m *placement.Map, origin string) {
	cur := c.table.Load()
	var prev uint64
	if cur != nil {
		prev = cur.version
		switch v := m.Version(); {
		case v < prev:
			c.reject(m, prev, origin, fmt.Errorf("cell: map version %d is older than version %d in force: %w",
				v, prev, placement.ErrStaleVersion))
			return
		case v == prev:
			if bytes.Equal(m.Bytes(), cur.m.Bytes()) {
				return
			}
			c.reject(m, prev, origin, fmt.Errorf("cell: another document under version %d in force: %w",
				v, placement.ErrStaleVersion))
			return
		}
	}
	c.swap(m, origin)
	var saveErr error
	if c.cfg.LastGood != "" && origin != originLastGood {
		saveErr = source.SaveFile(c.cfg.LastGood, m)
	}
	c.mu.Lock()
	c.source.updates++
	c.source.saveErr = saveErr
	c.mu.Unlock()
	log := c.cfg.Logger
	if saveErr != nil {
		log.Error("cell: cannot save the last-known-good map", "path", c.cfg.LastGood, "version", m.Version(), "err", saveErr)
	}
	log.Info("cell: map accepted", "version", m.Version(), "previous", prev, "origin", origin, "cells", len(c.table.Load().cells))
	if h := c.cfg.Observer.MapUpdate; h != nil {
		h(MapUpdate{Version: m.Version(), Previous: prev, Accepted: true, Origin: origin, Err: saveErr})
	}
}

// swap makes m the map in force.
func (c *Client) swap(m *placement.Map, origin string) {
	c.mu.Lock()
	next := make(map[string]*cellState, len(c.states))
	for id, st := range c.states {
		next[id] = st
	}
	t := newRouteTable(m, c.cfg.Zone, c.cfg.MaxInFlight, next)
	for id := range next {
		if t.lookup(id) == nil {
			delete(next, id)
		}
	}
	c.states = next
	c.mu.Unlock()
	t.acceptedAt = c.now()
	t.origin = origin

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
	if t.version != 0 {
		select {
		case <-c.ready:
		default:
			close(c.ready)
		}
	}
}

func (c *Client) reject(m *placement.Map, prev uint64, origin string, err error) {
	c.mu.Lock()
	c.source.rejected++
	c.source.lastErr, c.source.lastErrAt = err, time.Now()
	c.mu.Unlock()
	c.cfg.Logger.Warn("cell: map refused", "version", m.Version(), "in_force", prev, "origin", origin, "err", err)
	if h := c.cfg.Observer.MapUpdate; h != nil {
		h(MapUpdate{Version: m.Version(), Previous: prev, Origin: origin, Err: err})
	}
}

func (c *Client) sourceError(err error, origin string) {
	var prev uint64
	if t := c.table.Load(); t != nil {
		prev = t.version
	}
	c.mu.Lock()
	c.source.errors++
	c.source.lastErr, c.source.lastErrAt = err, time.Now()
	c.mu.Unlock()
	c.cfg.Logger.Warn("cell: source error; keeping the map in force", "in_force", prev, "origin", origin, "err", err)
	if h := c.cfg.Observer.MapUpdate; h != nil {
		h(MapUpdate{Previous: prev, Origin: origin, Err: err})
	}
}

// awaitVersion returns a table of at least version v, waiting at most until
// ctx is done. The wait is shared by every caller waiting for v, runs
// detached from any one of them under Config.RefreshTimeout (and no longer
// than Run), and asks the source to poll at once.
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
	for {
		ch := *c.swapped.Load()
		t := c.table.Load()
		if t != nil && t.version >= v {
			return t, nil
		}
		if c.refresher != nil {
			c.refresher.Refresh()
		}
		select {
		case <-ch:
		case <-c.stopped:
			return nil, fmt.Errorf("cell: no map of version %d: the client's Run has returned: %w", v, ErrMoved)
		case <-ctx.Done():
			var have uint64
			if t != nil {
				have = t.version
			}
			return nil, fmt.Errorf("cell: no map of version %d within %v (have %d): %w", v, c.cfg.RefreshTimeout, have, ErrMoved)
		}
	}
}
