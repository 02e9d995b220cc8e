package cellgrpctest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
	"github.com/cellkit/cellkit/cellgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// Config configures a Fleet. The zero value is valid: three cells in one
// zone, shard size 1, on loopback TCP, serving the default service.
type Config struct {
	// Cells is the number of cells; default 3. They are named c01, c02, …
	Cells int
	// Zones is the number of zones, z1, z2, …; cell i is in zone i mod
	// Zones. Default 1.
	Zones int
	// ShardSize is the map's shard size; default 1.
	ShardSize int
	// Buckets is the map's bucket count; default placement's.
	Buckets int
	// Seed seeds the map's key hash and the cells' ErrorRate draws.
	Seed uint64
	// Explicit makes the map's bucket table explicit (the derived one,
	// written out), as stateful services and bucket migrations need.
	Explicit bool
	// Bufconn serves the cells on in-memory listeners (grpc's bufconn)
	// instead of loopback TCP; cell URLs are then http://<id>.cell.test:443.
	Bufconn bool
	// Stateless makes the guards accept every key of the cell's shards.
	Stateless bool
	// Classes is the method table of the clients' routers and the cells'
	// guards. Default: the naming rule.
	Classes cellgrpc.Classes
	// Register registers the services of a cell on its server. Default:
	// Register, the fleet's own service.
	Register func(id string, s *grpc.Server)
	// Client is the configuration of the fleet's client and the base of
	// those made with NewClient. Its Source is the fleet's; its Logger
	// defaults to discarding.
	Client cell.Config
	// PollInterval is how often the fleet's sources poll when nothing wakes
	// them; default 1 s.
	PollInterval time.Duration
}

// A Fleet is a set of fake gRPC cells, each behind a cellgrpc.Guard, with
// their control plane and a ready cell-aware client, for tests. Close
// (registered with tb.Cleanup by NewFleet) stops everything it started. A
// Fleet is safe for concurrent use.
//
// Its control plane is celltest's: Map, Publish, PublishMap,
// PublishDocument, Source, Polls and KeysOf are the embedded
// celltest.ControlPlane's. The guards judge on its latest map at once;
// clients get a publication at their source's next poll.
type Fleet struct {
	*celltest.ControlPlane

	cfg     Config
	cells   []*Cell
	byID    map[string]*Cell
	closing chan struct{}

	mu    sync.Mutex
	stops []func()

	client *cell.Client
	conn   *grpc.ClientConn
	once   sync.Once
}

// NewFleet starts a fleet and its client, and registers Close with
// tb.Cleanup. It fails the test if the fleet cannot start.
func NewFleet(tb testing.TB, cfg Config) *Fleet {
	tb.Helper()
	f, err := New(cfg)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(f.Close)
	return f
}

// New starts a fleet and its client outside of a test; the caller must
// Close it.
func New(cfg Config) (*Fleet, error) {
	f, err := newFleet(cfg)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cellgrpctest: %w", err)
	}
	return f, nil
}

func newFleet(cfg Config) (*Fleet, error) {
	// The defaults of Cells, Zones, ShardSize and PollInterval are
	// Layout's, FirstMap's and the ControlPlane's.
	if cfg.Register == nil {
		cfg.Register = func(id string, s *grpc.Server) { Register(s, id) }
	}
	f := &Fleet{
		ControlPlane: celltest.NewControlPlane(celltest.ControlPlaneConfig{Name: "cellgrpctest", PollInterval: cfg.PollInterval}),
		cfg:          cfg,
		byID:         make(map[string]*Cell),
		closing:      make(chan struct{}),
	}
	specs := celltest.Layout(cfg.Cells, cfg.Zones)
	for i, spec := range specs {
		id := spec.ID
		c := &Cell{Faults: celltest.NewFaults(cfg.Seed, id), f: f, id: id, zone: spec.Zone}
		g, err := cellgrpc.NewGuard(cellgrpc.GuardConfig{Cell: id, Map: c, Classes: cfg.Classes, Stateless: cfg.Stateless})
		if err != nil {
			return f, err
		}
		c.guard = g
		if cfg.Bufconn {
			c.url = "http://" + id + ".cell.test:443"
		} else {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return f, err
			}
			c.addr = l.Addr().String()
			c.url = "http://" + c.addr
			c.tcp = l
		}
		specs[i].URL = c.url
		f.cells = append(f.cells, c)
		f.byID[id] = c
		if err := c.Start(); err != nil {
			return f, err
		}
	}
	m, err := celltest.FirstMap(celltest.MapConfig{Cells: specs, Seed: cfg.Seed, Buckets: cfg.Buckets, ShardSize: cfg.ShardSize, Explicit: cfg.Explicit})
	if err != nil {
		return f, err
	}
	f.PublishMap(m)
	ccfg := cfg.Client
	if ccfg.Logger == nil {
		ccfg.Logger = slog.New(slog.DiscardHandler)
	}
	f.client, f.conn, err = f.NewClient(ccfg)
	if err != nil {
		return f, err
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-f.client.Ready():
	case <-t.C:
		return f, errors.New("client not ready after 10s")
	}
	return f, nil
}

// DialOptions returns what a grpc.ClientConn needs to reach the fleet's
// cells: insecure credentials, the in-memory dialer under Bufconn, and
// reconnection backoff short enough for tests (10 ms to 100 ms).
func (f *Fleet) DialOptions() []grpc.DialOption {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, MaxDelay: 100 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}),
	}
	if f.cfg.Bufconn {
		opts = append(opts, grpc.WithContextDialer(f.dial))
	}
	return opts
}

func (f *Fleet) dial(ctx context.Context, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	for _, c := range f.cells {
		if c.id+".cell.test" == host {
			c.mu.Lock()
			l := c.buf
			c.mu.Unlock()
			if l == nil {
				return nil, &net.OpError{Op: "dial", Net: "bufconn", Err: errors.New("connection refused")}
			}
			return l.DialContext(ctx)
		}
	}
	return nil, &net.OpError{Op: "dial", Net: "bufconn", Err: fmt.Errorf("no cell at %s", addr)}
}

// Close stops the fleet: its clients, their channels, then its cells.
func (f *Fleet) Close() {
	f.once.Do(func() {
		close(f.closing)
		f.mu.Lock()
		stops := f.stops
		f.mu.Unlock()
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		for _, c := range f.cells {
			c.Stop()
		}
	})
}

// Client returns the fleet's client, ready, on a Source of the fleet.
func (f *Fleet) Client() *cell.Client { return f.client }

// Conn returns the fleet client's cell-aware channel.
func (f *Fleet) Conn() *grpc.ClientConn { return f.conn }

// NewClient returns another client on the fleet, configured by cfg (a nil
// Source is a new Source of the fleet), and a cell-aware channel on it;
// the fleet runs the client until Close. It does not wait for it to be
// ready.
func (f *Fleet) NewClient(cfg cell.Config) (*cell.Client, *grpc.ClientConn, error) {
	if cfg.Source == nil {
		cfg.Source = f.Source()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cl, err := cell.NewClient(cfg)
	if err != nil {
		return nil, nil, err
	}
	rt, err := cellgrpc.NewRouter(cellgrpc.RouterConfig{Client: cl, Classes: f.cfg.Classes})
	if err != nil {
		return nil, nil, err
	}
	conn, err := rt.NewClient(f.DialOptions()...)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		cl.Run(ctx)
		close(done)
	}()
	f.mu.Lock()
	f.stops = append(f.stops, func() {
		conn.Close()
		cancel()
		<-done
	})
	f.mu.Unlock()
	return cl, conn, nil
}

// Cell returns the cell with the given ID, or nil.
func (f *Fleet) Cell(id string) *Cell { return f.byID[id] }

// Cells returns the cells, in ID order.
func (f *Fleet) Cells() []*Cell { return append([]*Cell(nil), f.cells...) }

// ControlPlaneDown makes every poll of every source fail until
// ControlPlaneUp.
func (f *Fleet) ControlPlaneDown() { f.SetDown(true) }

// ControlPlaneUp brings the control plane back.
func (f *Fleet) ControlPlaneUp() { f.SetDown(false) }

// Keys returns n keys, "key-0", "key-1", …
func (f *Fleet) Keys(n int) []string { return celltest.Keys(n) }

// bufListener is a cell's in-memory listener.
func newBufListener() *bufconn.Listener { return bufconn.Listen(1 << 20) }
