package celltest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
)

// KeyHeader is the request header in which the fleet's cells find the key
// by default (see Config.Key), and in which Call passes it.
const KeyHeader = "Cell-Key"

// Config configures a Fleet. The zero value is valid: three cells in one
// zone, shard size 1, on loopback HTTP servers.
type Config struct {
	// Cells is the number of cells; default 3. They are named c01, c02, …
	// (two digits, or as many as the count needs).
	Cells int
	// Zones is the number of zones, z1, z2, …; default 1. The cells are
	// dealt to them in turn: c01 in z1, c02 in z2, and so on, back to z1
	// after the last zone (the n-th cell is in zone z((n-1) mod Zones + 1)).
	// Each cell has one endpoint, in its own zone.
	Zones int
	// ShardSize is the map's shard size; default 1.
	ShardSize int
	// Buckets is the map's bucket count; default placement's.
	Buckets int
	// Seed seeds the map's key hash and the cells' ErrorRate draws.
	// Default 0, which is a seed like any other: runs are repeatable.
	Seed uint64
	// Explicit makes the map's bucket table explicit (the derived one,
	// written out), as stateful services and bucket migrations need.
	Explicit bool

	// InMemory runs the cells on an in-memory network (net.Pipe) instead
	// of loopback servers, so that the fleet works inside a
	// testing/synctest bubble. Cell URLs are then http://<id>.cell.test.
	InMemory bool

	// Stateless makes the cells' guards accept every key whose shard they
	// are in (cell.GuardConfig.Stateless).
	Stateless bool
	// Key finds the key of an HTTP request, for the guards and for
	// Transport. Default cell.KeyFromHeader(KeyHeader).
	Key cell.KeyFunc
	// Handler makes the handler of the requests a cell accepts. Default: a
	// 200 reply whose body is the cell's ID.
	Handler func(cell string) http.Handler
	// Fairness caps each key's share of each cell at its guards
	// (cell.GuardConfig.Fairness). Default: no cap.
	Fairness cell.Fairness

	// Client is the configuration of the fleet's client (Fleet.Client) and
	// the base of those made with Fleet.NewClient (see there). A nil Source
	// is a new Source of the fleet; a nil Logger discards.
	Client cell.Config

	// PollInterval is how often the fleet's sources poll when nothing wakes
	// them; default 1 s.
	PollInterval time.Duration
}

// A Fleet is a set of fake cells with their control plane, for tests: it
// publishes their placement map, serves it to clients through Sources, and
// gives the test a ready client on it. Close (registered with tb.Cleanup by
// NewFleet) stops everything the Fleet started and leaves no goroutine
// behind. A Fleet is safe for concurrent use.
type Fleet struct {
	cfg   Config
	cells []*Cell
	byID  map[string]*Cell
	base  *http.Transport
	net   *pipeNet
	cp    *ControlPlane // the maps, the sources and their generation

	closing chan struct{} // closed on cleanup: blackholes and slow answers end

	mu     sync.Mutex
	client *cell.Client
	stops  []func()
	once   sync.Once
}

// NewFleet starts a fleet and its client, and registers Close with
// tb.Cleanup. It fails the test if the fleet cannot start. Inside a
// testing/synctest bubble, call it from the bubble with Config.InMemory set.
func NewFleet(tb testing.TB, cfg Config) *Fleet {
	tb.Helper()
	f, err := New(cfg)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(f.Close)
	return f
}

// New starts a fleet and its client outside of a test (an example, a
// TestMain, a simulation); the caller must Close it. NewFleet is New for a
// test.
func New(cfg Config) (*Fleet, error) {
	f, err := newFleet(cfg)
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, fmt.Errorf("celltest: %w", err)
	}
	return f, nil
}

func newFleet(cfg Config) (*Fleet, error) {
	// The defaults of Cells, Zones, ShardSize and PollInterval are
	// Layout's, FirstMap's and the ControlPlane's.
	if cfg.Key == nil {
		cfg.Key = cell.KeyFromHeader(KeyHeader)
	}
	if cfg.Handler == nil {
		cfg.Handler = func(id string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, id)
			})
		}
	}
	f := &Fleet{
		cfg:     cfg,
		byID:    make(map[string]*Cell),
		closing: make(chan struct{}),
		cp:      NewControlPlane(ControlPlaneConfig{PollInterval: cfg.PollInterval}),
	}
	f.base = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	if cfg.InMemory {
		f.net = &pipeNet{}
		f.base.DialContext = f.net.dial
	}
	specs := Layout(cfg.Cells, cfg.Zones)
	for i, spec := range specs {
		id := spec.ID
		c := &Cell{f: f, id: id, zone: spec.Zone, faults: NewFaults(cfg.Seed, id)}
		callKey := cell.KeyFromHeader(KeyHeader)
		hg, err := cell.NewGuard(cell.GuardConfig{Cell: id, Map: c, Key: cfg.Key, Stateless: cfg.Stateless,
			Next: c.accept(cfg.Handler(id), cfg.Key), Fairness: cfg.Fairness})
		if err != nil {
			return f, err
		}
		cg, err := cell.NewGuard(cell.GuardConfig{Cell: id, Map: c, Key: callKey, Stateless: cfg.Stateless,
			Next: c.accept(cfg.Handler(id), callKey), Fairness: cfg.Fairness})
		if err != nil {
			return f, err
		}
		c.httpGuard, c.callGuard = c.guarded(hg, cfg.Key), c.guarded(cg, callKey)
		c.httpG, c.callG = hg, cg
		if err := f.serve(c); err != nil {
			return f, err
		}
		specs[i].URL = c.url
		f.cells = append(f.cells, c)
		f.byID[id] = c
	}
	m, err := FirstMap(MapConfig{Cells: specs, Seed: cfg.Seed, Buckets: cfg.Buckets, ShardSize: cfg.ShardSize, Explicit: cfg.Explicit})
	if err != nil {
		return f, err
	}
	f.cp.PublishMap(m)

	ccfg := cfg.Client
	if ccfg.Logger == nil {
		ccfg.Logger = slog.New(slog.DiscardHandler)
	}
	cl, err := f.newClient(ccfg)
	if err != nil {
		return f, err
	}
	f.client = cl
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-cl.Ready():
	case <-t.C:
		return f, errors.New("client not ready after 10s")
	}
	return f, nil
}

// serve starts the cell's server.
func (f *Fleet) serve(c *Cell) error {
	if f.net == nil {
		s := httptest.NewServer(c)
		c.url = s.URL
		f.stops = append(f.stops, s.Close)
		return nil
	}
	host := c.id + ".cell.test"
	c.url = "http://" + host
	l := f.net.listen(host)
	srv := &http.Server{Handler: c}
	done := make(chan struct{})
	go func() {
		srv.Serve(l)
		close(done)
	}()
	f.stops = append(f.stops, func() {
		srv.Close()
		<-done
	})
	return nil
}

// Close stops the fleet: its clients' Run, then its cells (ending the
// answers that Blackhole and Slow hold back), and closes the idle connections
// of Base. Calls after the first do nothing.
func (f *Fleet) Close() {
	f.once.Do(func() {
		close(f.closing)
		f.mu.Lock()
		stops := f.stops
		f.mu.Unlock()
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		f.base.CloseIdleConnections()
	})
}

// Client returns the fleet's client: ready, on a Source of the fleet, with
// Config.Client. It runs until the test's cleanup.
func (f *Fleet) Client() *cell.Client { return f.client }

// NewClient returns another client on the fleet, whose Run goroutine the
// fleet starts now and stops at cleanup. Its configuration is cfg on the
// base of Config.Client: a field cfg leaves at its zero value takes
// Config.Client's, field by field inside Budget, Hedge, Breakers, Observer
// and the like. A nil Source is replaced by a new Source of the fleet (never
// Config.Client's: a source feeds one client), and a nil Logger by one that
// discards. It does not wait for the client to be ready.
func (f *Fleet) NewClient(cfg cell.Config) (*cell.Client, error) {
	cfg = withBase(cfg, f.cfg.Client)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return f.newClient(cfg)
}

func (f *Fleet) newClient(cfg cell.Config) (*cell.Client, error) {
	if cfg.Source == nil && cfg.Follower == nil {
		cfg.Source = f.Source()
	}
	cl, err := cell.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		cl.Run(ctx)
		close(done)
	}()
	f.mu.Lock()
	f.stops = append(f.stops, func() {
		cancel()
		<-done
	})
	f.mu.Unlock()
	return cl, nil
}

// Source returns a new source.Refresher on the fleet's control plane.
func (f *Fleet) Source() *Source { return f.cp.Source() }

// Polls counts the polls of all the fleet's sources.
func (f *Fleet) Polls() uint64 { return f.cp.Polls() }

// Base returns the fleet's raw HTTP transport: it reaches every cell's URL
// (in memory too) and routes nothing. Its idle connections are closed at
// cleanup.
func (f *Fleet) Base() http.RoundTripper { return f.base }

// Transport returns the fleet client's cell-aware transport over Base, with
// Config.Key.
func (f *Fleet) Transport() http.RoundTripper { return f.client.Transport(f.base, f.cfg.Key) }

// HTTPClient returns an http.Client on Transport.
func (f *Fleet) HTTPClient() *http.Client { return &http.Client{Transport: f.Transport()} }

// Call is a fake remote call for code that is not HTTP: use it as, or inside,
// Do's fn. It serves r at the fake cell r.Cell in memory, with the cell's
// faults and guard, and returns what a client would make of the reply: nil
// for a 2xx to 4xx, an error wrapping ErrFault for a failure, a
// *cell.MovedError or *cell.RefusedError for the guard's replies, and ctx's
// error when the cell did not answer in time.
func (f *Fleet) Call(ctx context.Context, r cell.Route) error {
	c := f.byID[r.Cell]
	if c == nil {
		return fmt.Errorf("celltest: no cell %q in the fleet", r.Cell)
	}
	return c.call(ctx, r)
}

// Cell returns the cell with the given ID, or nil.
func (f *Fleet) Cell(id string) *Cell { return f.byID[id] }

// Cells returns the cells, in ID order.
func (f *Fleet) Cells() []*Cell { return append([]*Cell(nil), f.cells...) }

// Map returns the latest map the fleet published.
func (f *Fleet) Map() *placement.Map { return f.cp.Map() }

// Publish edits the latest map with a placement.Builder and publishes the
// result, the next version. The cells' guards judge on it at once; clients
// get it at their source's next poll (at once, unless held or the control
// plane is down).
func (f *Fleet) Publish(edit func(*placement.Builder) error) (*placement.Map, error) {
	return f.cp.Publish(edit)
}

// PublishMap publishes m as it is, whatever its version: a misbehaving
// control plane. The cells' guards keep judging on the latest map published
// with Publish unless m is newer.
func (f *Fleet) PublishMap(m *placement.Map) { f.cp.PublishMap(m) }

// PublishDocument publishes a document's bytes: parsed with placement.Parse,
// a bad one reaches clients as the error a real source would report.
func (f *Fleet) PublishDocument(doc []byte) { f.cp.PublishDocument(doc) }

// ControlPlaneDown takes the control plane down: every poll of every source
// fails (an error matching source.ErrFetch) until ControlPlaneUp.
func (f *Fleet) ControlPlaneDown() { f.cp.SetDown(true) }

// ControlPlaneUp brings the control plane back.
func (f *Fleet) ControlPlaneUp() { f.cp.SetDown(false) }

// Keys returns n keys, "key-0", "key-1", …
func (f *Fleet) Keys(n int) []string { return Keys(n) }

// KeysOf returns n keys whose home is cell id in the latest map, the first
// ones of the sequence of Keys; fewer if the first million keys hold fewer
// (a cell that owns next to nothing).
func (f *Fleet) KeysOf(id string, n int) []string { return f.cp.KeysOf(id, n) }
