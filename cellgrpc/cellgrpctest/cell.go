package cellgrpctest

import (
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cellkit/cellkit/cellgrpc"
	"github.com/cellkit/cellkit/placement"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// A Cell is one fake gRPC cell of a fleet: a grpc.Server behind a
// cellgrpc.Guard on the fleet's map (or the map pinned with PinMap), with
// knobs that inject faults. Knobs may be turned at any time; each takes
// effect for the calls that arrive after it. A call meets the faults in
// this order: Blackhole, then Fail, Flap and ErrorRate (UNAVAILABLE), then
// Slow, then MoveTo, then the guard. Stop and Start take the cell's server
// itself down and up: its connections fail, which no knob above does.
type Cell struct {
	f    *Fleet
	id   string
	zone string
	url  string
	addr string // loopback TCP address, "" under Bufconn

	guard *cellgrpc.Guard

	requests, failures, accepted, refused, conns atomic.Uint64

	mu        sync.Mutex
	failing   bool
	slow      time.Duration
	errorRate float64
	rng       *rand.Rand
	blackhole bool
	moveTo    string
	flap      []time.Duration
	flapStart time.Time
	pinned    *placement.Map
	srv       *grpc.Server
	served    chan struct{}
	tcp       net.Listener // the next server's, under TCP
	buf       *bufconn.Listener
}

// ID returns the cell's ID.
func (c *Cell) ID() string { return c.id }

// Zone returns the cell's zone.
func (c *Cell) Zone() string { return c.zone }

// URL returns the cell's endpoint as the map lists it.
func (c *Cell) URL() string { return c.url }

// Requests counts the calls (unary or streams) that reached the cell.
func (c *Cell) Requests() uint64 { return c.requests.Load() }

// Failures counts the calls the faults failed.
func (c *Cell) Failures() uint64 { return c.failures.Load() }

// Accepted counts the calls the guard accepted.
func (c *Cell) Accepted() uint64 { return c.accepted.Load() }

// Refused counts the calls the guard answered itself, and MoveTo's.
func (c *Cell) Refused() uint64 { return c.refused.Load() }

// Conns counts the connections the cell's server accepted.
func (c *Cell) Conns() uint64 { return c.conns.Load() }

// Fail makes the cell answer every call UNAVAILABLE until Recover.
func (c *Cell) Fail() { c.set(func() { c.failing = true }) }

// Recover clears every knob: Fail, Slow, ErrorRate, Blackhole, MoveTo and
// Flap (not Stop).
func (c *Cell) Recover() {
	c.set(func() {
		c.failing, c.slow, c.errorRate, c.blackhole, c.moveTo, c.flap = false, 0, 0, false, "", nil
	})
}

// Slow delays every answer by d (0 ends it).
func (c *Cell) Slow(d time.Duration) { c.set(func() { c.slow = d }) }

// ErrorRate fails each call with probability p, drawn from a generator
// seeded by the fleet's Seed and the cell's ID. 0 ends it.
func (c *Cell) ErrorRate(p float64) { c.set(func() { c.errorRate = p }) }

// Blackhole makes the cell accept calls and never answer them.
func (c *Cell) Blackhole() { c.set(func() { c.blackhole = true }) }

// MoveTo makes the cell answer every call like a Guard whose map gives
// the key to cell id, at the version of the fleet's map. "" ends it.
func (c *Cell) MoveTo(id string) { c.set(func() { c.moveTo = id }) }

// Flap makes the cell alternate between failing and healthy, starting now:
// failing for schedule[0], healthy for schedule[1], and so on, around the
// schedule again after its end. Flap() ends it.
func (c *Cell) Flap(schedule ...time.Duration) {
	c.set(func() {
		c.flap = nil
		var total time.Duration
		for _, d := range schedule {
			total += max(d, 0)
		}
		if total > 0 {
			c.flap, c.flapStart = append([]time.Duration(nil), schedule...), time.Now()
		}
	})
}

// PinMap makes the guard judge on m instead of the fleet's latest map.
// PinMap(nil) ends it.
func (c *Cell) PinMap(m *placement.Map) { c.set(func() { c.pinned = m }) }

// Map returns the map the cell's guard judges on.
func (c *Cell) Map() *placement.Map {
	c.mu.Lock()
	m := c.pinned
	c.mu.Unlock()
	if m != nil {
		return m
	}
	return c.f.Map()
}

func (c *Cell) set(fn func()) {
	c.mu.Lock()
	fn()
	c.mu.Unlock()
}

// Stop stops the cell's server: its connections close and new ones are
// refused, until Start. Calls in flight end.
func (c *Cell) Stop() {
	c.mu.Lock()
	srv, served, buf := c.srv, c.served, c.buf
	c.srv, c.buf = nil, nil
	c.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Stop()
	<-served
	if buf != nil {
		buf.Close()
	}
}

// Start starts the cell's server, at the same address as before.
func (c *Cell) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv != nil {
		return nil
	}
	var l net.Listener
	switch {
	case c.f.cfg.Bufconn:
		c.buf = newBufListener()
		l = c.buf
	case c.tcp != nil:
		l, c.tcp = c.tcp, nil
	default:
		var err error
		if l, err = net.Listen("tcp", c.addr); err != nil {
			return err
		}
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(c.unary), grpc.ChainStreamInterceptor(c.stream))
	c.f.cfg.Register(c.id, srv)
	served := make(chan struct{})
	l = countingListener{Listener: l, n: &c.conns}
	go func() {
		srv.Serve(l)
		close(served)
	}()
	c.srv, c.served = srv, served
	return nil
}

func (c *Cell) fault() (blackhole, fail bool, slow time.Duration, moveTo string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	blackhole, fail, slow, moveTo = c.blackhole, c.failing, c.slow, c.moveTo
	if !fail && c.errorRate > 0 {
		fail = c.rng.Float64() < c.errorRate
	}
	if !fail && c.flap != nil {
		var total time.Duration
		for _, d := range c.flap {
			total += max(d, 0)
		}
		at := time.Since(c.flapStart) % total
		for i, d := range c.flap {
			if at < max(d, 0) {
				fail = i%2 == 0
				break
			}
			at -= max(d, 0)
		}
	}
	return
}

// faults applies the knobs to a call; a nil error lets it through to the
// guard. tr is the trailer to set with the error.
func (c *Cell) faults(ctx context.Context) (metadata.MD, error) {
	c.requests.Add(1)
	blackhole, fail, slow, moveTo := c.fault()
	switch {
	case blackhole:
		c.failures.Add(1)
		select {
		case <-ctx.Done():
		case <-c.f.closing:
		}
		return nil, status.FromContextError(ctx.Err()).Err()
	case fail:
		c.failures.Add(1)
		return nil, status.Errorf(codes.Unavailable, "cellgrpctest: cell %s is failing", c.id)
	}
	if slow > 0 {
		t := time.NewTimer(slow)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-c.f.closing:
			return nil, status.Error(codes.Unavailable, "cellgrpctest: fleet closing")
		}
	}
	if moveTo != "" {
		c.refused.Add(1)
		return cellgrpc.Moved(c.id, moveTo, c.f.Map().Version())
	}
	return nil, nil
}

func (c *Cell) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if tr, err := c.faults(ctx); err != nil {
		if tr != nil {
			grpc.SetTrailer(ctx, tr)
		}
		return nil, err
	}
	accepted := false
	resp, err := c.guard.Unary()(ctx, req, info, func(ctx context.Context, req any) (any, error) {
		accepted = true
		c.accepted.Add(1)
		return handler(ctx, req)
	})
	if !accepted {
		c.refused.Add(1)
	}
	return resp, err
}

func (c *Cell) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if tr, err := c.faults(ss.Context()); err != nil {
		if tr != nil {
			ss.SetTrailer(tr)
		}
		return err
	}
	accepted := false
	err := c.guard.Stream()(srv, ss, info, func(srv any, ss grpc.ServerStream) error {
		accepted = true
		c.accepted.Add(1)
		return handler(srv, ss)
	})
	if !accepted {
		c.refused.Add(1)
	}
	return err
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Uint64
}

func (l countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return conn, err
}
