package cell

import (
	"math/rand/v2"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/internal/idtable"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/ring"
	"golang.org/x/sync/semaphore"
)

// A routeTable is everything a request needs from one map, computed when the
// map is swapped in: the map, and for each cell its state, its preferred
// endpoints and its counters. It is immutable once published, so the request
// path reads it without a lock and writes nothing shared.
type routeTable struct {
	m          *placement.Map
	version    uint64
	hashEPs    bool // too few buckets to spread keys over endpoints: hash the key
	epSeed     uint64
	ids        idtable.Table[cellRoute] // the cells by ID
	cells      []*cellRoute             // in ID order
	acceptedAt time.Duration            // when the map was swapped in, since the client's epoch
}

// A cellRoute is one cell of one map.
type cellRoute struct {
	id    string
	zone  string
	state placement.State
	eps   []*endpoint // the preferred endpoints: same zone as the client if any, else all
	st    *cellState
	// br is the cell's breaker, bound when the table is swapped in (nil for
	// a disabled cell). Calls routed on this table keep using it after a
	// later map drops the cell, so that they finish.
	br *breaker.Breaker
}

// bind gives each cell that is not disabled its breaker; the Set must
// have been synced with them.
func (t *routeTable) bind(s *breaker.Set) {
	for _, cr := range t.cells {
		if cr.state != placement.Disabled {
			cr.br = s.Breaker(cr.id)
		}
	}
}

// An endpoint is a cell's URL, parsed once per map.
type endpoint struct {
	url     string
	scheme  string
	host    string
	path    string // the path prefix, decoded, without a trailing slash
	rawPath string // the same, escaped
}

// A cellState lives as long as its cell is in the map, across map versions:
// its counters and its bulkhead.
type cellState struct {
	id  string
	sem *semaphore.Weighted // nil without a bulkhead

	// Written by every attempt to the cell: keep them off other cells'
	// cache lines.
	_        [64]byte
	started  atomic.Uint64
	finished atomic.Uint64
	failures atomic.Uint64
	rejected [numRejections]atomic.Uint64
	// slowest holds the slowest success of the current and the previous
	// slowPeriod, each as period<<32 | latency in microseconds: what the
	// cell takes when it is healthy (see slow).
	slowest [2]atomic.Uint64
	_       [64]byte
}

// slowPeriod is the span over which a cell's slowest success is kept: a
// cell is judged on how it answered in the last one to two periods.
const slowPeriod = 10 * time.Second

// slowFactor is how many times its slowest recent success an attempt must
// have run before a caller's deadline cut it for the cut to count against
// the cell.
const slowFactor = 2

// noteSuccess records a success's latency at now (time since the client's
// epoch). A success as slow as the slowest already recorded costs one load.
func (st *cellState) noteSuccess(now, lat time.Duration) {
	p := uint64(now / slowPeriod)
	us := uint64(min(max(lat/time.Microsecond, 1), 1<<32-1))
	w := &st.slowest[p&1]
	for {
		v := w.Load()
		if v>>32 == p && v&(1<<32-1) >= us {
			return
		}
		if w.CompareAndSwap(v, p<<32|us) || v>>32 > p {
			return
		}
	}
}

// slow is breaker.Attempt.Slow for the cell at now: slowFactor times its
// slowest success of the current and the previous period, at most limit
// (the breakers' SlowCall) when it is set; 1ns when the cell answered
// nothing in that time, so that a cell that never answers is judged by
// the cuts of its callers' deadlines.
func (st *cellState) slow(now, limit time.Duration) time.Duration {
	p := uint64(now / slowPeriod)
	var us uint64
	for i := range st.slowest {
		v := st.slowest[i].Load()
		if q := v >> 32; q == p || q+1 == p {
			us = max(us, v&(1<<32-1))
		}
	}
	if us == 0 {
		return time.Nanosecond
	}
	d := slowFactor * time.Duration(us) * time.Microsecond
	if limit > 0 {
		d = min(d, limit)
	}
	return d
}

// minSpreadBuckets is the bucket count from which a key's bucket spreads
// keys over a cell's endpoints; below it the key is hashed again.
const minSpreadBuckets = 1024

// newRouteTable indexes m. states holds the cell states of the previous
// table, by ID, and receives those of new cells.
func newRouteTable(m *placement.Map, zone string, maxInFlight int, states map[string]*cellState) *routeTable {
	cells := m.Cells()
	t := &routeTable{
		m:       m,
		version: m.Version(),
		hashEPs: m.Buckets() < minSpreadBuckets,
		epSeed:  m.Seed() ^ 0x6a09e667f3bcc909,
		ids:     idtable.New[cellRoute](rand.Uint64(), len(cells)),
		cells:   make([]*cellRoute, len(cells)),
	}
	for i, c := range cells {
		st := states[c.ID]
		if st == nil {
			st = &cellState{id: c.ID}
			if maxInFlight > 0 {
				st.sem = semaphore.NewWeighted(int64(maxInFlight))
			}
			states[c.ID] = st
		}
		cr := &cellRoute{id: c.ID, zone: c.Zone, state: c.State, st: st, eps: preferred(c, zone)}
		t.cells[i] = cr
		t.ids.Add(c.ID, cr) // placement.Parse refuses duplicate IDs
	}
	return t
}

// preferred returns the endpoints of c in the client's zone, or all of them
// when none is (or the client has no zone). An endpoint without a zone is in
// its cell's.
func preferred(c placement.Cell, zone string) []*endpoint {
	var same, all []*endpoint
	for _, e := range c.Endpoints {
		ep := parseEndpoint(e.URL)
		if ep == nil {
			continue
		}
		all = append(all, ep)
		z := e.Zone
		if z == "" {
			z = c.Zone
		}
		if zone != "" && z == zone {
			same = append(same, ep)
		}
	}
	if len(same) > 0 {
		return same
	}
	return all
}

func parseEndpoint(raw string) *endpoint {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil // placement.Parse refuses these; never route to one
	}
	return &endpoint{url: raw, scheme: u.Scheme, host: u.Host,
		path: strings.TrimSuffix(u.Path, "/"), rawPath: strings.TrimSuffix(u.EscapedPath(), "/")}
}

// lookup returns the cell with the given ID, or nil. It costs a few
// nanoseconds: the request path does it once per attempt.
func (t *routeTable) lookup(id string) *cellRoute { return t.ids.Get(id) }

// endpoint picks the cell's endpoint for a key: stable per key, spread over
// the preferred endpoints by the key's bucket (mixed, so that runs of buckets
// do not map to runs of endpoints), or by a hash of the key when the map has
// too few buckets to spread keys.
func (t *routeTable) endpoint(c *cellRoute, key string, bucket int) *endpoint {
	switch n := len(c.eps); n {
	case 0:
		return nil
	case 1:
		return c.eps[0]
	default:
		var x uint64
		if t.hashEPs {
			x = ring.Hash(t.epSeed, key)
		} else {
			x = uint64(bucket) * 0x9e3779b97f4a7c15
		}
		return c.eps[(x>>32)*uint64(n)>>32]
	}
}
