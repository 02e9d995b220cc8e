package cellgrpctest

import (
	"context"
	"net"
	"sync"
	"sync/atomic"

	"github.com/cellkit/cellkit/cell/celltest"
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
// knobs that inject faults: celltest's, which mean here what they mean for
// HTTP cells (a failure is UNAVAILABLE, MoveTo answers as a Guard whose map
// gives the key to that cell, at the version of the fleet's map). Knobs may
// be turned at any time; each takes effect for the calls that arrive after
// it. A call meets the faults in celltest.Faults.Meet's order, then the
// guard. Recover does not undo Stop: Stop and Start take the cell's server
// itself down and up, and its connections fail, which no knob does.
type Cell struct {
	*celltest.Faults

	f    *Fleet
	id   string
	zone string
	url  string
	addr string // loopback TCP address, "" under Bufconn

	guard *cellgrpc.Guard

	accepted, refused, conns atomic.Uint64 // Requests and Failures are the Faults'

	mu     sync.Mutex
	srv    *grpc.Server
	served chan struct{}
	tcp    net.Listener // the next server's, under TCP
	buf    *bufconn.Listener
}

// ID returns the cell's ID.
func (c *Cell) ID() string { return c.id }

// Zone returns the cell's zone.
func (c *Cell) Zone() string { return c.zone }

// URL returns the cell's endpoint as the map lists it.
func (c *Cell) URL() string { return c.url }

// Accepted counts the calls the guard accepted.
func (c *Cell) Accepted() uint64 { return c.accepted.Load() }

// Refused counts the calls the guard answered itself, and MoveTo's.
func (c *Cell) Refused() uint64 { return c.refused.Load() }

// Conns counts the connections the cell's server accepted.
func (c *Cell) Conns() uint64 { return c.conns.Load() }

// Map returns the map the cell's guard judges on.
func (c *Cell) Map() *placement.Map { return c.MapOr(c.f.Map()) }

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

// faults applies the knobs to a call; a nil error lets it through to the
// guard. tr is the trailer to set with the error.
func (c *Cell) faults(ctx context.Context) (metadata.MD, error) {
	switch o, moveTo := c.Meet(ctx, c.f.closing); o {
	case celltest.Blackholed:
		if ctx.Err() == nil {
			return nil, errClosing()
		}
		return nil, status.FromContextError(ctx.Err()).Err()
	case celltest.Failed:
		return nil, status.Errorf(codes.Unavailable, "cellgrpctest: cell %s is failing", c.id)
	case celltest.Abandoned:
		return nil, status.FromContextError(ctx.Err()).Err()
	case celltest.Closed:
		return nil, errClosing()
	case celltest.Moved:
		c.refused.Add(1)
		return cellgrpc.Moved(c.id, moveTo, c.f.Map().Version())
	}
	return nil, nil
}

// errClosing ends the calls that a fault holds back when the fleet closes.
func errClosing() error { return status.Error(codes.Unavailable, "cellgrpctest: fleet closing") }

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
