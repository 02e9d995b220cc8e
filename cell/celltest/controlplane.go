package celltest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cellkit/cellkit/placement"
)

// ControlPlaneConfig configures a ControlPlane. The zero value is valid.
type ControlPlaneConfig struct {
	// Name is the Source of the *source.SourceError of its Sources' failed
	// polls. Default "celltest".
	Name string
	// PollInterval is how often its Sources poll when nothing wakes them;
	// default 1 s.
	PollInterval time.Duration
}

// A ControlPlane is a fleet's fake control plane, whatever transport its
// cells serve: it holds the maps the test publishes, delivers them to its
// Sources, and goes down and up. A Fleet is built on one, and so are other
// transports' fleets (cellgrpc's cellgrpctest), so that their sources
// follow one rule. It is safe for concurrent use.
type ControlPlane struct {
	cfg   ControlPlaneConfig
	polls atomic.Uint64

	mu      sync.Mutex
	m       *placement.Map // the latest good publication
	seq     uint64         // publications so far
	pub     publication    // the latest publication
	down    bool
	gen     uint64        // publications and control-plane changes so far; see Source.Next
	changed chan struct{} // closed and replaced at every change of gen
}

type publication struct {
	m   *placement.Map
	err error // a bad document: what a real source would report
}

// NewControlPlane returns a control plane that has published nothing yet:
// Map returns nil, and Sources wait, until the first publication.
func NewControlPlane(cfg ControlPlaneConfig) *ControlPlane {
	if cfg.Name == "" {
		cfg.Name = "celltest"
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	return &ControlPlane{cfg: cfg, changed: make(chan struct{})}
}

// Source returns a new source.Refresher on the control plane; each client
// needs its own.
func (cp *ControlPlane) Source() *Source {
	held := make(chan struct{})
	close(held)
	return &Source{cp: cp, held: held, refresh: make(chan struct{}, 1)}
}

// Polls counts the polls of all the control plane's sources.
func (cp *ControlPlane) Polls() uint64 { return cp.polls.Load() }

// Map returns the latest good map published, or nil.
func (cp *ControlPlane) Map() *placement.Map {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.m
}

// Publish edits the latest map with a placement.Builder and publishes the
// result, the next version. Sources get it at their next poll (at once,
// unless held or the control plane is down).
func (cp *ControlPlane) Publish(edit func(*placement.Builder) error) (*placement.Map, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	b := placement.NewBuilder(cp.m)
	if edit != nil {
		if err := edit(b); err != nil {
			return nil, err
		}
	}
	m, err := b.Build()
	if err != nil {
		return nil, err
	}
	cp.m = m
	cp.publishLocked(publication{m: m})
	return m, nil
}

// PublishMap publishes m as it is, whatever its version: a misbehaving
// control plane. Map keeps returning the latest map published with Publish
// unless m is newer (or the first).
func (cp *ControlPlane) PublishMap(m *placement.Map) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.m == nil || m.Version() > cp.m.Version() {
		cp.m = m
	}
	cp.publishLocked(publication{m: m})
}

// PublishDocument publishes a document's bytes: parsed with placement.Parse,
// a bad one reaches the sources as the error a real source would report.
func (cp *ControlPlane) PublishDocument(doc []byte) {
	m, err := placement.Parse(doc)
	if err == nil {
		cp.PublishMap(m)
		return
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.publishLocked(publication{err: err})
}

func (cp *ControlPlane) publishLocked(p publication) {
	cp.seq++
	cp.pub = p
	cp.changedLocked()
}

// changedLocked counts a change of the control plane and wakes the sources
// waiting for one; a source between two calls of Next sees the count.
func (cp *ControlPlane) changedLocked() {
	cp.gen++
	close(cp.changed)
	cp.changed = make(chan struct{})
}

// SetDown takes the control plane down (every poll of every source fails
// with an error matching source.ErrFetch) or, SetDown(false), back up.
func (cp *ControlPlane) SetDown(down bool) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.down = down
	cp.changedLocked()
}

// KeysOf returns n keys whose home is cell id in the latest map, the first
// ones of the sequence of Keys; fewer if the first million keys hold fewer
// (a cell that owns next to nothing).
func (cp *ControlPlane) KeysOf(id string, n int) []string {
	m := cp.Map()
	keys := make([]string, 0, n)
	for i := 0; len(keys) < n && i < 1_000_000; i++ {
		k := "key-" + strconv.Itoa(i)
		if a, err := m.Locate(k); err == nil && a.Cell == id {
			keys = append(keys, k)
		}
	}
	return keys
}

// Keys returns n keys, "key-0", "key-1", …
func Keys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	return keys
}

// A CellSpec is one cell of a fleet's first map (FirstMap).
type CellSpec struct {
	ID, Zone string
	URL      string // its one endpoint, in its zone
}

// Layout names a fleet's cells and deals them to zones: c01, c02, … (two
// digits, or as many as the count needs), the n-th in zone
// z((n-1) mod zones + 1). URLs are left to the caller. cells defaults to 3
// and zones to 1 (for 0 or less).
func Layout(cells, zones int) []CellSpec {
	if cells <= 0 {
		cells = 3
	}
	zones = max(zones, 1)
	width := max(len(strconv.Itoa(cells)), 2)
	specs := make([]CellSpec, cells)
	for i := range specs {
		specs[i] = CellSpec{ID: fmt.Sprintf("c%0*d", width, i+1), Zone: fmt.Sprintf("z%d", i%zones+1)}
	}
	return specs
}

// MapConfig describes a fleet's first map (FirstMap).
type MapConfig struct {
	Cells     []CellSpec
	Seed      uint64
	Buckets   int // 0: placement's default
	ShardSize int // default 1
	// Explicit writes the derived bucket table out, as stateful services
	// and bucket migrations need.
	Explicit bool
}

// FirstMap builds version 1 of a fleet's map.
func FirstMap(cfg MapConfig) (*placement.Map, error) {
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
	d := doc{Version: 1, Seed: strconv.FormatUint(cfg.Seed, 10), Buckets: cfg.Buckets, ShardSize: max(cfg.ShardSize, 1)}
	for _, c := range cfg.Cells {
		d.Cells = append(d.Cells, cellDoc{ID: c.ID, Zone: c.Zone, Endpoints: []endpoint{{URL: c.URL, Zone: c.Zone}}})
	}
	data, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	m, err := placement.Parse(data)
	if err != nil || !cfg.Explicit {
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
