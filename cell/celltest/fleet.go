package celltest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/ring"
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
	polls atomic.Uint64

	closing chan struct{} // closed on cleanup: blackholes and slow answers end

	mu      sync.Mutex
	m       *placement.Map // the latest good publication
	seq     uint64         // publications so far
	pub     publication    // the latest publication
	down    bool
	gen     uint64        // publications and control-plane changes so far; see Source.Next
	changed chan struct{} // closed and replaced at every change of gen

	client *cell.Client
	stops  []func()
	once   sync.Once
}

type publication struct {
	m   *placement.Map
	err error // a bad document: what a real source would report
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
	if cfg.Cells <= 0 {
		cfg.Cells = 3
	}
	if cfg.Zones <= 0 {
		cfg.Zones = 1
	}
	if cfg.ShardSize <= 0 {
		cfg.ShardSize = 1
	}
	if cfg.Key == nil {
		cfg.Key = cell.KeyFromHeader(KeyHeader)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
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
		byID:    make(map[string]*Cell, cfg.Cells),
		closing: make(chan struct{}),
		changed: make(chan struct{}),
	}
	f.base = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	if cfg.InMemory {
		f.net = &pipeNet{}
		f.base.DialContext = f.net.dial
	}
	width := len(strconv.Itoa(cfg.Cells))
	width = max(width, 2)
	for i := range cfg.Cells {
		id := fmt.Sprintf("c%0*d", width, i+1)
		c := &Cell{
			f:    f,
			id:   id,
			zone: fmt.Sprintf("z%d", i%cfg.Zones+1),
			rng:  rand.New(rand.NewPCG(cfg.Seed, ring.Hash(0, id))),
		}
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
		f.cells = append(f.cells, c)
		f.byID[id] = c
	}
	m, err := f.firstMap()
	if err != nil {
		return f, err
	}
	f.m, f.seq, f.pub = m, 1, publication{m: m}

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

// firstMap builds version 1 of the fleet's map.
func (f *Fleet) firstMap() (*placement.Map, error) {
	type endpoint struct {
		URL  string `json:"url"`
		Zone string `json:"zone"`
	}
	type cellDoc struct {
		ID        string     `json:"id"`
		Zone      string     `json:"zone"`
		Endpoints []endpoint `json:"endpoints"`
	}
	type rangeDoc struct {
		Buckets string `json:"buckets"`
		Cell    string `json:"cell"`
	}
	type doc struct {
		Version   uint64     `json:"version"`
		Seed      string     `json:"seed"`
		Buckets   int        `json:"buckets,omitempty"`
		ShardSize int        `json:"shardSize"`
		Cells     []cellDoc  `json:"cells"`
		Table     []rangeDoc `json:"table,omitempty"`
	}
	d := doc{Version: 1, Seed: strconv.FormatUint(f.cfg.Seed, 10), Buckets: f.cfg.Buckets, ShardSize: f.cfg.ShardSize}
	for _, c := range f.cells {
		d.Cells = append(d.Cells, cellDoc{ID: c.id, Zone: c.zone, Endpoints: []endpoint{{URL: c.url, Zone: c.zone}}})
	}
	data, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	m, err := placement.Parse(data)
	if err != nil || !f.cfg.Explicit {
		return m, err
	}
	for _, r := range m.Table() {
		d.Table = append(d.Table, rangeDoc{Buckets: r.Range.String(), Cell: r.Cell})
	}
	if data, err = json.Marshal(d); err != nil {
		return nil, err
	}
	return placement.Parse(data)
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
func (f *Fleet) Source() *Source {
	held := make(chan struct{})
	close(held)
	return &Source{f: f, held: held, refresh: make(chan struct{}, 1)}
}

// Polls counts the polls of all the fleet's sources.
func (f *Fleet) Polls() uint64 { return f.polls.Load() }

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
func (f *Fleet) Map() *placement.Map {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m
}

// Publish edits the latest map with a placement.Builder and publishes the
// result, the next version. The cells' guards judge on it at once; clients
// get it at their source's next poll (at once, unless held or the control
// plane is down).
func (f *Fleet) Publish(edit func(*placement.Builder) error) (*placement.Map, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := placement.NewBuilder(f.m)
	if edit != nil {
		if err := edit(b); err != nil {
			return nil, err
		}
	}
	m, err := b.Build()
	if err != nil {
		return nil, err
	}
	f.m = m
	f.publishLocked(publication{m: m})
	return m, nil
}

// PublishMap publishes m as it is, whatever its version: a misbehaving
// control plane. The cells' guards keep judging on the latest map published
// with Publish unless m is newer.
func (f *Fleet) PublishMap(m *placement.Map) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.Version() > f.m.Version() {
		f.m = m
	}
	f.publishLocked(publication{m: m})
}

// PublishDocument publishes a document's bytes: parsed with placement.Parse,
// a bad one reaches clients as the error a real source would report.
func (f *Fleet) PublishDocument(doc []byte) {
	m, err := placement.Parse(doc)
	if err == nil {
		f.PublishMap(m)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.publishLocked(publication{err: err})
}

func (f *Fleet) publishLocked(p publication) {
	f.seq++
	f.pub = p
	f.changedLocked()
}

// changedLocked counts a change of the control plane and wakes the sources
// waiting for one; a source between two calls of Next sees the count.
func (f *Fleet) changedLocked() {
	f.gen++
	close(f.changed)
	f.changed = make(chan struct{})
}

// ControlPlaneDown takes the control plane down: every poll of every source
// fails (an error matching source.ErrFetch) until ControlPlaneUp.
func (f *Fleet) ControlPlaneDown() { f.setDown(true) }

// ControlPlaneUp brings the control plane back.
func (f *Fleet) ControlPlaneUp() { f.setDown(false) }

func (f *Fleet) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
	f.changedLocked()
}

// Keys returns n keys, "key-0", "key-1", …
func (f *Fleet) Keys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	return keys
}

// KeysOf returns n keys whose home is cell id in the latest map, the first
// ones of the sequence of Keys; fewer if the first million keys hold fewer
// (a cell that owns next to nothing).
func (f *Fleet) KeysOf(id string, n int) []string {
	m := f.Map()
	keys := make([]string, 0, n)
	for i := 0; len(keys) < n && i < 1_000_000; i++ {
		k := "key-" + strconv.Itoa(i)
		if a, err := m.Locate(k); err == nil && a.Cell == id {
			keys = append(keys, k)
		}
	}
	return keys
}
