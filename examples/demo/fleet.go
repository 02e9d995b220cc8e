package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// The fleet: nine cells in three zones, c1–c3 in az1, c4–c6 in az2, c7–c9
// in az3.
const (
	numCells   = 9
	numZones   = 3
	numTenants = 10_000
	mapSeed    = 7
)

// Polling intervals of the map: cells poll the control plane faster than
// clients, which also refresh on a moved reply.
const (
	cellPoll   = 50 * time.Millisecond
	clientPoll = 100 * time.Millisecond
	ackTimeout = 10 * time.Second
)

// The service's API, keyed by the tenant in the third path segment:
//
//	POST /v1/tenants/{tenant}/orders   a stateful write (home cell only)
//	GET  /v1/tenants/{tenant}/orders   a stateful read (read cells)
//	GET  /v1/tenants/{tenant}/quote    a stateless call (any cell of the shard)
var tenantKey = cell.KeyFromPath(2)

type reqKind uint8

const (
	kindWrite reqKind = iota
	kindRead
	kindStateless
)

// A truth is the set of maps a cell may legitimately be judging on at one
// moment: the version being rolled out to the cells and, until every cell
// has confirmed it, the one before.
type truth struct {
	maps []*placement.Map
}

// owns reports whether some map of t lets cell serve key for kind.
func (t *truth) owns(id, key string, kind reqKind) bool {
	for _, m := range t.maps {
		if m != nil && owns(m, id, key, kind) {
			return true
		}
	}
	return false
}

func owns(m *placement.Map, id, key string, kind reqKind) bool {
	switch kind {
	case kindWrite:
		return m.OwnsWrite(id, key)
	case kindRead:
		return m.Owns(id, key)
	}
	return m.OwnsShard(id, key)
}

// A controlPlane publishes the placement map over HTTP, in two feeds (each a
// source.Handler): the cells' (/map/cells) and the clients' (/map/clients).
// A new version goes to the cells first and, once every cell has confirmed
// it (source.HTTPConfirmer asking each cell's source.ConfirmHandler), to
// the clients: a client
// then never routes on a map that a cell has not seen, so a cell never has to
// refuse a request for being behind, and a migration's next phase starts only
// when every cell has stopped acting on the previous one.
type controlPlane struct {
	cells   []string // the IDs of the cells that confirm each version
	truth   atomic.Pointer[truth]
	cellsM  atomic.Pointer[placement.Map] // the cells' feed
	clients atomic.Pointer[placement.Map] // the clients' feed
	confirm *source.HTTPConfirmer         // asks the cells of the cells' feed

	mu   sync.Mutex // serializes publish, start and stop
	addr string
	srv  *http.Server
	done chan struct{}
}

// start listens on loopback: on a free port the first time, on the same
// address after stop.
func (cp *controlPlane) start() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.srv != nil {
		return nil
	}
	addr := cp.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	// A port freed by stop is normally free at once (Go listens with
	// SO_REUSEADDR); retry briefly anyway.
	for try := 0; ; try++ {
		if ln, err = net.Listen("tcp", addr); err == nil || try == 20 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	cp.addr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/map/cells", source.NewHandler(source.HolderFunc(cp.cellsM.Load)))
	mux.Handle("/map/clients", source.NewHandler(source.HolderFunc(cp.clients.Load)))
	cp.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	cp.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		srv.Serve(ln)
		close(done)
	}(cp.srv, cp.done)
	return nil
}

// stop closes the control plane's server and every connection to it.
func (cp *controlPlane) stop() {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.srv == nil {
		return
	}
	cp.srv.Close()
	<-cp.done
	cp.srv = nil
}

func (cp *controlPlane) url(which string) string { return "http://" + cp.addr + "/map/" + which }

// latest returns the latest map published.
func (cp *controlPlane) latest() *placement.Map { return cp.cellsM.Load() }

// publish rolls m out: to the cells, then, once every cell has confirmed it
// (its Follower has it, and no request its Guard judged on an older map is
// still running there), to the clients.
func (cp *controlPlane) publish(ctx context.Context, m *placement.Map) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.truth.Store(&truth{maps: []*placement.Map{cp.latest(), m}})
	cp.cellsM.Store(m)
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if err := cp.confirm.AwaitConfirmed(ctx, m.Version(), cp.cells); err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	cp.truth.Store(&truth{maps: []*placement.Map{m}})
	cp.clients.Store(m)
	return nil
}

// edit builds the next version of the latest map and publishes it.
func (cp *controlPlane) edit(ctx context.Context, fn func(b *placement.Builder) error) (*placement.Map, error) {
	b := placement.NewBuilder(cp.latest())
	if err := fn(b); err != nil {
		return nil, err
	}
	m, err := b.Build()
	if err != nil {
		return nil, err
	}
	return m, cp.publish(ctx, m)
}

// firstMap is version 1, as a control plane starts it: the nine cells at
// their endpoints, shard size 1, a derived table.
func firstMap(cells []*cellNode) (*placement.Map, error) {
	b := placement.NewBuilder(nil)
	b.SetSeed(mapSeed)
	for _, c := range cells {
		err := b.AddCell(placement.Cell{ID: c.id, Zone: c.zone, Weight: 1,
			Endpoints: []placement.Endpoint{{URL: c.url, Zone: c.zone}}})
		if err != nil {
			return nil, err
		}
	}
	return b.Build()
}

// A cellNode is one cell: an HTTP server on loopback whose service sits
// behind a cell.Guard on the cell's Follower of the control plane, with the
// Follower's confirmations served beside it.
type cellNode struct {
	f    *fleet
	idx  int
	id   string
	zone string
	url  string
	srv  *http.Server
	done chan struct{}

	maps    *source.Follower // the map the guards judge on, and its confirmations
	failing atomic.Bool      // every request gets a 500

	mu     sync.Mutex
	ledger map[uint64]bool // the writes of the migrating tenant held here
}

type truthKey struct{}

func (n *cellNode) handler() (http.Handler, error) {
	stateful, err := cell.NewGuard(cell.GuardConfig{Cell: n.id, Map: n.maps, Key: tenantKey,
		Next: http.HandlerFunc(n.serveOrders)})
	if err != nil {
		return nil, err
	}
	stateless, err := cell.NewGuard(cell.GuardConfig{Cell: n.id, Map: n.maps, Key: tenantKey, Stateless: true,
		Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.serve(w, r, kindStateless) })})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/tenants/{tenant}/orders", stateful)
	mux.Handle("GET /v1/tenants/{tenant}/quote", stateless)
	confirmed := source.ConfirmHandler(n.id, n.maps)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == source.ConfirmedPath {
			confirmed.ServeHTTP(w, r) // the control plane's, not the service's
			return
		}
		if rec := n.f.rec.Load(); rec != nil {
			rec.arrived[n.idx].Add(1)
		}
		if n.failing.Load() {
			w.Header().Set(cell.HeaderCell, n.id)
			http.Error(w, "cell "+n.id+" is failing", http.StatusInternalServerError)
			return
		}
		// The truth before the guard looks at the cell's map: with the one
		// after it, it covers every map the guard may have used.
		ctx := context.WithValue(r.Context(), truthKey{}, n.f.cp.truth.Load())
		mux.ServeHTTP(w, r.WithContext(ctx))
	}), nil
}

func (n *cellNode) serveOrders(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		n.serve(w, r, kindRead)
	case http.MethodPost:
		n.serve(w, r, kindWrite)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// serve is the service itself, for the requests the guard accepted.
func (n *cellNode) serve(w http.ResponseWriter, r *http.Request, kind reqKind) {
	tenant := r.PathValue("tenant")
	f := n.f
	rec := f.rec.Load()
	if p := f.poison.Load(); p != nil && *p == tenant {
		// The poison tenant's request crashes the cell: from now on it
		// fails everything.
		n.failing.Store(true)
		if rec != nil {
			rec.mark("poison crashes "+n.id, "crash")
		}
		http.Error(w, "cell "+n.id+" crashed", http.StatusInternalServerError)
		return
	}
	if rec != nil {
		t0, _ := r.Context().Value(truthKey{}).(*truth)
		t1 := f.cp.truth.Load()
		if (t0 == nil || !t0.owns(n.id, tenant, kind)) && (t1 == nil || !t1.owns(n.id, tenant, kind)) {
			rec.misrouted.Add(1)
		}
		rec.accepted[n.idx].Add(1)
		if v, err := strconv.ParseUint(r.Header.Get(cell.HeaderMapVersion), 10, 64); err == nil && v < maxVersions {
			rec.byVersion[v][n.idx].Add(1)
		}
	}
	if kind == kindWrite {
		if m := f.migrating.Load(); m != nil && *m == tenant {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 32))
			if seq, err := strconv.ParseUint(string(body), 10, 64); err == nil {
				n.mu.Lock()
				n.ledger[seq] = true
				n.mu.Unlock()
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, n.id)
}

// copyTo copies the migrating tenant's writes held here to cell to: the
// data movement of a migration, which cellkit leaves to the service.
func (n *cellNode) copyTo(to *cellNode) {
	n.mu.Lock()
	seqs := make([]uint64, 0, len(n.ledger))
	for s := range n.ledger {
		seqs = append(seqs, s)
	}
	n.mu.Unlock()
	to.mu.Lock()
	for _, s := range seqs {
		to.ledger[s] = true
	}
	to.mu.Unlock()
}

func (n *cellNode) holds(seq uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ledger[seq]
}

// A fleet is the whole demo world: the control plane and the cells.
type fleet struct {
	cp    *controlPlane
	cells []*cellNode
	byID  map[string]*cellNode
	index map[string]int

	rec       atomic.Pointer[recorder] // the scene being recorded
	poison    atomic.Pointer[string]   // the tenant whose requests crash a cell
	migrating atomic.Pointer[string]   // the tenant whose writes the cells keep

	mapHTTP *http.Client // the cells' and clients' map polling
	base    *http.Transport
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

func newFleet() (*fleet, error) {
	f := &fleet{
		cp:    &controlPlane{},
		byID:  make(map[string]*cellNode),
		index: make(map[string]int),
		mapHTTP: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 32, IdleConnTimeout: 10 * time.Second,
		}},
		base: &http.Transport{MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second},
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop = cancel
	if err := f.cp.start(); err != nil {
		f.close()
		return nil, err
	}
	for i := range numCells {
		n := &cellNode{
			f: f, idx: i,
			id:     "c" + strconv.Itoa(i+1),
			zone:   "az" + strconv.Itoa(i/(numCells/numZones)+1),
			ledger: make(map[uint64]bool),
		}
		src, err := source.NewHTTP(f.cp.url("cells"), source.HTTPConfig{
			Client: f.mapHTTP, Interval: cellPoll, MinInterval: -1, Timeout: time.Second,
		})
		if err == nil {
			n.maps, err = source.NewFollower(source.FollowerConfig{Source: src, Logger: slog.New(slog.DiscardHandler)})
		}
		if err != nil {
			f.close()
			return nil, err
		}
		h, err := n.handler()
		if err != nil {
			f.close()
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.close()
			return nil, fmt.Errorf("cell %s: %w", n.id, err)
		}
		n.url = "http://" + ln.Addr().String()
		n.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		n.done = make(chan struct{})
		go func() {
			n.srv.Serve(ln)
			close(n.done)
		}()
		f.cells = append(f.cells, n)
		f.byID[n.id] = n
		f.index[n.id] = i
	}
	for _, n := range f.cells {
		f.cp.cells = append(f.cp.cells, n.id)
		f.wg.Go(func() { n.maps.Run(ctx) })
	}
	var err error
	f.cp.confirm, err = source.NewHTTPConfirmer(source.HolderFunc(f.cp.cellsM.Load), source.HTTPConfirmerConfig{
		Client: f.mapHTTP, Interval: 5 * time.Millisecond, Timeout: time.Second,
	})
	if err != nil {
		f.close()
		return nil, err
	}
	m, err := firstMap(f.cells)
	if err == nil {
		err = f.cp.publish(ctx, m)
	}
	if err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// reset ends every fault before a scene.
func (f *fleet) reset() {
	for _, n := range f.cells {
		n.failing.Store(false)
	}
	f.poison.Store(nil)
	f.migrating.Store(nil)
}

func (f *fleet) close() {
	f.stop()
	f.cp.stop()
	for _, n := range f.cells {
		if n.srv != nil {
			n.srv.Close()
			<-n.done
		}
	}
	f.wg.Wait()
	f.mapHTTP.CloseIdleConnections()
	f.base.CloseIdleConnections()
}
