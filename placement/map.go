package placement

import (
	"cmp"
	"crypto/ed25519"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cellkit/cellkit/ring"
)

// Defaults of the document's optional fields.
const (
	DefaultBuckets   = 16384
	DefaultShardSize = 1
	DefaultWeight    = 1.0
	MaxBuckets       = ring.MaxBuckets
)

// A State is a cell's role in placement.
type State uint8

const (
	// Active cells receive derived buckets and shard slots.
	Active State = iota
	// Draining cells keep the keys an explicit table or an override gives
	// them, and leave derived placement and shards.
	Draining
	// Disabled cells serve nothing: keys homed there fail fast with an error
	// matching ErrCellDisabled.
	Disabled
	// Canary cells are reached only through overrides.
	Canary
)

var stateNames = [...]string{"active", "draining", "disabled", "canary"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// ParseState returns the state with the given name.
func ParseState(name string) (State, bool) {
	i := slices.Index(stateNames[:], name)
	return State(max(i, 0)), i >= 0
}

// A Phase is a migration's step; see Migration.
type Phase uint8

const (
	// Copying: the new cell holds a non-authoritative copy; reads and
	// writes go to the old cell.
	Copying Phase = iota
	// Frozen: the final copy; reads go to the old cell, writes are refused
	// (Assignment.Writable is false) until the flip.
	Frozen
	// Flipped: the new cell is authoritative; reads go to it and then fall
	// back to the old cell, writes go to it.
	Flipped
)

var phaseNames = [...]string{"copying", "frozen", "flipped"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", p)
}

// ParsePhase returns the phase with the given name.
func ParsePhase(name string) (Phase, bool) {
	i := slices.Index(phaseNames[:], name)
	return Phase(max(i, 0)), i >= 0
}

// An Endpoint is one address of a cell.
type Endpoint struct {
	URL  string // absolute http or https URL
	Zone string // where the endpoint runs; clients prefer their own zone
}

// A Cell is one cell of the fleet as the map describes it.
type Cell struct {
	ID        string
	Zone      string
	Weight    float64 // share of derived buckets and shard slots; default 1
	State     State
	Endpoints []Endpoint
	Labels    map[string]string
}

func (c Cell) clone() Cell {
	c.Endpoints = slices.Clone(c.Endpoints)
	if c.Labels != nil {
		l := make(map[string]string, len(c.Labels))
		for k, v := range c.Labels {
			l[k] = v
		}
		c.Labels = l
	}
	return c
}

// A Migration moves one key, or a range of buckets of an explicit table,
// from one cell to another in three phases; see Phase. Key is empty for a
// bucket migration.
type Migration struct {
	Key      string
	Buckets  Range
	From, To string
	Phase    Phase
}

func (g Migration) subject() string {
	if g.Key != "" {
		return fmt.Sprintf("key %q", shorten(g.Key))
	}
	return "buckets " + g.Buckets.String()
}

// Limits bound what Parse accepts, against hostile or mistaken input. A zero
// field takes its default.
type Limits struct {
	MaxBytes      int // document size; default 64 MiB
	MaxCells      int // default 10,000
	MaxOverrides  int // default 10,000,000
	MaxMigrations int // default 1,000,000
	MaxKeyBytes   int // length of an override or migration key; default 1 KiB
	MaxEndpoints  int // endpoints of one cell; default 64
	MaxLabelBytes int // label keys and values of one cell; default 16 KiB
	// MaxTableWork bounds the cost of deriving a table: buckets times
	// active cells, each one rendezvous score (about 2.5 ns here). The
	// default 2²⁸ admits 16,384 buckets over 10,000 cells, or 2²⁰ buckets
	// over 256; past it, use an explicit table or fewer buckets.
	MaxTableWork int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxBytes, 64<<20)
	def(&l.MaxCells, 10_000)
	def(&l.MaxOverrides, 10_000_000)
	def(&l.MaxMigrations, 1_000_000)
	def(&l.MaxKeyBytes, 1<<10)
	def(&l.MaxEndpoints, 64)
	def(&l.MaxLabelBytes, 16<<10)
	def(&l.MaxTableWork, 1<<28)
	return l
}

// Options configure ParseWith and ParseSigned: configuration only, the same
// for every document a client reads. The zero value is the default of Parse.
type Options struct {
	Limits Limits
	// PublicKeys, when not empty, make the parse refuse any document that
	// none of its signatures verifies: each signature is a detached ed25519
	// signature of the document's exact bytes by one of these keys
	// (ErrSignature).
	PublicKeys []ed25519.PublicKey
}

// WithDefaults returns l with each zero or negative field set to its
// default, the limits Parse applies.
func (l Limits) WithDefaults() Limits { return l.withDefaults() }

// A Map is one version of the placement map: immutable and safe for
// concurrent use. Locate answers in tens of nanoseconds without allocating.
type Map struct {
	version   uint64
	seed      uint64
	buckets   int
	shardSize int
	cells     []Cell           // in ID order; cell i is member i of ring
	index     map[string]int32 // cell ID → index
	ring      *ring.Ring       // weight: the cell's when active, else 0
	table     *ring.Table      // bucket → home cell
	explicit  bool             // the document holds the table
	overrides keyIndex         // key → cell
	keyMig    map[string]int32 // key → migs index
	bucketMig []int32          // bucket → migs index or −1; nil without bucket migrations
	migs      []Migration      // keys first in key order, then buckets by range
	self      [][]string       // self[i] is {cells[i].ID}: read sets without allocation
	migRead   [][]string       // per migration, its read set in its phase
	raw       []byte           // the document's bytes
	signature []byte           // the verified signature, if any
}

// Parse reads a placement document strictly, with the default limits and no
// signature check. Every rejection is a *FieldError naming the field and the
// value, matching one of the package's sentinels with errors.Is.
func Parse(data []byte) (*Map, error) {
	return ParseWith(data, Options{})
}

// ParseWith is Parse with limits and, when opt.PublicKeys is set, a
// signature check that refuses the document, which carries none: use
// ParseSigned for signed documents.
func ParseWith(data []byte, opt Options) (*Map, error) {
	return ParseSigned(data, nil, opt)
}

// ParseSigned is ParseWith for a document that comes with detached
// signatures. When opt.PublicKeys is set, the document is accepted if one of
// sigs verifies with one of the keys, and Signature of the map returns the
// first that does; otherwise the error matches ErrSignature. Without
// PublicKeys, sigs are ignored and the map has no signature. Each signature
// costs one ed25519 verification per key: the caller bounds len(sigs).
func ParseSigned(data []byte, sigs [][]byte, opt Options) (*Map, error) {
	lim := opt.Limits.withDefaults()
	if len(data) > lim.MaxBytes {
		return nil, fieldErr(ErrLimit, "document", "", "%d bytes, more than %d", len(data), lim.MaxBytes)
	}
	var sig []byte
	if len(opt.PublicKeys) > 0 {
		s, err := verifyAny(data, sigs, opt.PublicKeys)
		if err != nil {
			return nil, err
		}
		sig = s
	}
	doc, err := decode(data, lim)
	if err != nil {
		return nil, err
	}
	m, err := build(doc, lim)
	if err != nil {
		return nil, err
	}
	m.raw = slices.Clone(data)
	m.signature = slices.Clone(sig)
	return m, nil
}

// build validates a decoded document and builds the map.
func build(d *wireDoc, lim Limits) (*Map, error) {
	m := &Map{buckets: DefaultBuckets, shardSize: DefaultShardSize}
	if d.Version == nil {
		return nil, fieldErr(ErrVersion, "version", "", "missing version")
	}
	if *d.Version < 1 {
		return nil, fieldErr(ErrVersion, "version", "0", "")
	}
	m.version = *d.Version
	if d.Seed != nil {
		seed, err := parseSeed(*d.Seed)
		if err != nil {
			return nil, fieldErr(ErrSeed, "seed", *d.Seed, "")
		}
		m.seed = seed
	}
	if d.Buckets != nil {
		if *d.Buckets < 1 || *d.Buckets > MaxBuckets {
			return nil, fieldErr(ErrBuckets, "buckets", fmt.Sprint(*d.Buckets), "buckets must be in [1, %d]", MaxBuckets)
		}
		m.buckets = *d.Buckets
	}
	if err := m.buildCells(d.Cells, lim); err != nil {
		return nil, err
	}
	if d.ShardSize != nil {
		m.shardSize = *d.ShardSize
	}
	if eligible := m.ring.Eligible(); m.shardSize < 1 || m.shardSize > eligible {
		return nil, fieldErr(ErrShardSize, "shardSize", fmt.Sprint(m.shardSize), "shardSize must be in [1, %d], the active cells with positive weight", eligible)
	}
	if err := m.buildTable(d.Table, lim); err != nil {
		return nil, err
	}
	if err := m.buildOverrides(&d.Overrides, lim); err != nil {
		return nil, err
	}
	if err := m.buildMigrations(d.Migrations, lim); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Map) buildCells(wc []wireCell, lim Limits) error {
	if len(wc) > lim.MaxCells {
		return fieldErr(ErrLimit, "cells", "", "%d cells, more than %d", len(wc), lim.MaxCells)
	}
	m.cells = make([]Cell, len(wc))
	for i, w := range wc {
		path := fmt.Sprintf("cells[%d]", i)
		if err := checkCellID(w.ID); err != nil {
			return fieldErr(ErrCellID, path+".id", w.ID, "%s", err)
		}
		c := Cell{ID: w.ID, Zone: w.Zone, Weight: DefaultWeight, Labels: w.Labels}
		if w.Weight != nil {
			c.Weight = *w.Weight
		}
		if math.IsNaN(c.Weight) || math.IsInf(c.Weight, 0) || c.Weight < 0 {
			return fieldErr(ErrWeight, path+".weight", fmt.Sprint(c.Weight), "")
		}
		if w.State != nil {
			s, ok := ParseState(*w.State)
			if !ok {
				return fieldErr(ErrState, path+".state", *w.State, "state must be active, draining, disabled or canary")
			}
			c.State = s
		}
		if len(w.Endpoints) > lim.MaxEndpoints {
			return fieldErr(ErrLimit, path+".endpoints", "", "%d endpoints, more than %d", len(w.Endpoints), lim.MaxEndpoints)
		}
		for j, e := range w.Endpoints {
			if err := checkEndpoint(e.URL); err != nil {
				return fieldErr(ErrEndpoint, fmt.Sprintf("%s.endpoints[%d].url", path, j), e.URL, "")
			}
			c.Endpoints = append(c.Endpoints, Endpoint(e))
		}
		labelBytes := 0
		for k, v := range w.Labels {
			labelBytes += len(k) + len(v)
		}
		if labelBytes > lim.MaxLabelBytes {
			return fieldErr(ErrLimit, path+".labels", "", "%d bytes of labels, more than %d", labelBytes, lim.MaxLabelBytes)
		}
		m.cells[i] = c
	}
	slices.SortFunc(m.cells, func(a, b Cell) int { return cmp.Compare(a.ID, b.ID) })
	m.index = make(map[string]int32, len(m.cells))
	for i, c := range m.cells {
		if _, dup := m.index[c.ID]; dup {
			at := slices.IndexFunc(wc, func(w wireCell) bool { return w.ID == c.ID })
			return fieldErr(ErrDuplicateCell, fmt.Sprintf("cells[%d].id", at), c.ID, "")
		}
		m.index[c.ID] = int32(i)
	}
	members := make([]ring.Member, len(m.cells))
	m.self = make([][]string, len(m.cells))
	for i, c := range m.cells {
		members[i] = ring.Member{ID: c.ID, Zone: c.Zone}
		if c.State == Active {
			members[i].Weight = c.Weight
		}
		m.self[i] = []string{c.ID}
	}
	r, err := ring.New(members)
	if err != nil {
		return fieldErr(ErrNoEligible, "cells", "", "placement needs at least one active cell with positive weight")
	}
	m.ring = r
	return nil
}

// checkCellID keeps IDs usable in headers, logs and URLs: 1 to 128 bytes of
// printable ASCII without spaces.
func checkCellID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("cell ID must be 1 to 128 bytes")
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return fmt.Errorf("cell ID must be printable ASCII without spaces")
		}
	}
	return nil
}

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return ErrEndpoint
	}
	return nil
}

// cellRef resolves a cell ID named at path.
func (m *Map) cellRef(path, id string) (int32, error) {
	i, ok := m.index[id]
	if !ok {
		return 0, fieldErr(ErrUnknownCell, path, id, "cell %q is not defined", shorten(id))
	}
	return i, nil
}

func (m *Map) buildTable(rs []wireRange, lim Limits) error {
	if rs == nil {
		if work := m.buckets * m.ring.Eligible(); work > lim.MaxTableWork {
			return fieldErr(ErrLimit, "buckets", fmt.Sprint(m.buckets),
				"deriving %d buckets over %d active cells exceeds the table work limit %d: use an explicit table or fewer buckets",
				m.buckets, m.ring.Eligible(), lim.MaxTableWork)
		}
		t, err := ring.NewTable(m.ring, m.buckets)
		if err != nil {
			return fieldErr(ErrBuckets, "buckets", fmt.Sprint(m.buckets), "%v", err)
		}
		m.table = t
		return nil
	}
	type entry struct {
		r    Range
		cell int32
		at   int
	}
	entries := make([]entry, len(rs))
	for i, w := range rs {
		path := fmt.Sprintf("table[%d]", i)
		r, err := ParseRange(w.Buckets)
		if err != nil {
			err.(*FieldError).Field = path + ".buckets"
			return err
		}
		if r.Hi >= m.buckets {
			return fieldErr(ErrTable, path+".buckets", w.Buckets, "range beyond the last bucket %d", m.buckets-1)
		}
		c, err := m.cellRef(path+".cell", w.Cell)
		if err != nil {
			return err
		}
		if m.cells[c].State == Canary {
			return fieldErr(ErrCellUse, path+".cell", w.Cell, "canary cells are reached only through overrides")
		}
		entries[i] = entry{r, c, i}
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.r.Lo, b.r.Lo) })
	owners := make([]int, m.buckets)
	next := 0
	for _, e := range entries {
		path := fmt.Sprintf("table[%d].buckets", e.at)
		switch {
		case e.r.Lo < next:
			return fieldErr(ErrTable, path, e.r.String(), "range overlaps an earlier one ending at %d", next-1)
		case e.r.Lo > next:
			return fieldErr(ErrTable, path, e.r.String(), "gap: buckets %s have no cell", Range{next, e.r.Lo - 1})
		}
		for b := e.r.Lo; b <= e.r.Hi; b++ {
			owners[b] = int(e.cell)
		}
		next = e.r.Hi + 1
	}
	if next != m.buckets {
		return fieldErr(ErrTable, "table", "", "gap: buckets %s have no cell", Range{next, m.buckets - 1})
	}
	t, err := ring.NewTableOwners(m.ring, owners)
	if err != nil {
		return fieldErr(ErrTable, "table", "", "%v", err)
	}
	m.table, m.explicit = t, true
	return nil
}

func (m *Map) buildOverrides(o *overrideList, lim Limits) error {
	if len(o.keys) == 0 {
		return nil
	}
	cells := make([]int32, len(o.keys))
	for i, key := range o.keys {
		if err := checkKey(key, lim); err != nil {
			return fieldErr(ErrSyntax, "overrides["+quote(key)+"]", "", "%s", err)
		}
		c, ok := m.index[o.cells[i]]
		if !ok {
			_, err := m.cellRef("overrides["+quote(key)+"]", o.cells[i])
			return err
		}
		cells[i] = c
	}
	x, dup := newKeyIndex(o.keys, cells, m.bucketOf, m.buckets)
	if dup >= 0 {
		return fieldErr(ErrDuplicateKey, "overrides["+quote(o.keys[dup])+"]", "", "")
	}
	m.overrides = x
	return nil
}

// bucketOf returns a key's bucket and hash.
func (m *Map) bucketOf(key string) (int, uint64) {
	h := ring.Hash(m.seed, key)
	return m.table.Bucket(h), h
}

func quote(s string) string { return fmt.Sprintf("%q", shorten(s)) }

func checkKey(key string, lim Limits) error {
	switch {
	case key == "":
		return fmt.Errorf("empty key")
	case len(key) > lim.MaxKeyBytes:
		return fmt.Errorf("key of %d bytes, more than %d", len(key), lim.MaxKeyBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("key is not valid UTF-8")
	}
	return nil
}

func (m *Map) buildMigrations(ws []wireMigration, lim Limits) error {
	if len(ws) == 0 {
		return nil
	}
	if len(ws) > lim.MaxMigrations {
		return fieldErr(ErrLimit, "migrations", "", "%d migrations, more than %d", len(ws), lim.MaxMigrations)
	}
	migs := make([]Migration, len(ws))
	at := make(map[Migration]int, len(ws)) // document position, for errors
	for i, w := range ws {
		path := fmt.Sprintf("migrations[%d]", i)
		var g Migration
		switch {
		case (w.Key == nil) == (w.Buckets == nil):
			return fieldErr(ErrMigration, path, "", "a migration names either a key or buckets")
		case w.Key != nil:
			if err := checkKey(*w.Key, lim); err != nil {
				return fieldErr(ErrMigration, path+".key", "", "%s", err)
			}
			g.Key = *w.Key
		default:
			if !m.explicit {
				return fieldErr(ErrMigration, path+".buckets", *w.Buckets, "bucket migrations need an explicit table")
			}
			r, err := ParseRange(*w.Buckets)
			if err != nil {
				err.(*FieldError).Field = path + ".buckets"
				err.(*FieldError).Err = ErrMigration
				return err
			}
			if r.Hi >= m.buckets {
				return fieldErr(ErrMigration, path+".buckets", *w.Buckets, "range beyond the last bucket %d", m.buckets-1)
			}
			g.Buckets = r
		}
		from, err := m.cellRef(path+".from", w.From)
		if err != nil {
			return err
		}
		to, err := m.cellRef(path+".to", w.To)
		if err != nil {
			return err
		}
		if from == to {
			return fieldErr(ErrMigration, path+".to", w.To, "a migration must move to another cell")
		}
		for _, c := range []int32{from, to} {
			if m.cells[c].State == Canary {
				return fieldErr(ErrCellUse, path, m.cells[c].ID, "canary cells are reached only through overrides")
			}
		}
		phase, ok := ParsePhase(w.Phase)
		if !ok {
			return fieldErr(ErrMigration, path+".phase", w.Phase, "phase must be copying, frozen or flipped")
		}
		g.From, g.To, g.Phase = w.From, w.To, phase
		migs[i] = g
		at[g] = i
	}
	slices.SortFunc(migs, compareMigrations)
	m.migs = migs
	m.migRead = make([][]string, len(migs))
	for i, g := range migs {
		path := fmt.Sprintf("migrations[%d]", at[g])
		switch g.Phase {
		case Flipped:
			m.migRead[i] = []string{g.To, g.From}
		default:
			m.migRead[i] = m.self[m.index[g.From]]
		}
		if g.Key != "" {
			if _, pinned := m.Override(g.Key); pinned {
				return fieldErr(ErrConflict, path+".key", g.Key, "key has both an override and a migration")
			}
			if m.keyMig == nil {
				m.keyMig = make(map[string]int32)
			}
			if _, dup := m.keyMig[g.Key]; dup {
				return fieldErr(ErrConflict, path+".key", g.Key, "key has two migrations")
			}
			m.keyMig[g.Key] = int32(i)
			continue
		}
		if m.bucketMig == nil {
			m.bucketMig = make([]int32, m.buckets)
			for b := range m.bucketMig {
				m.bucketMig[b] = -1
			}
		}
		from := int(m.index[g.From])
		for b := g.Buckets.Lo; b <= g.Buckets.Hi; b++ {
			if m.bucketMig[b] >= 0 {
				return fieldErr(ErrConflict, path+".buckets", g.Buckets.String(), "bucket %d is in two migrations", b)
			}
			if o, _ := m.table.BucketOwner(b); o != from {
				return fieldErr(ErrMigration, path+".from", g.From, "bucket %d belongs to %q in the table", b, m.cells[o].ID)
			}
			m.bucketMig[b] = int32(i)
		}
	}
	return nil
}

// compareMigrations orders key migrations by key, then bucket migrations by
// range: the canonical order.
func compareMigrations(a, b Migration) int {
	switch {
	case (a.Key == "") != (b.Key == ""):
		if a.Key != "" {
			return -1
		}
		return 1
	case a.Key != "":
		return strings.Compare(a.Key, b.Key)
	}
	return cmp.Compare(a.Buckets.Lo, b.Buckets.Lo)
}
