package placement

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"

	"github.com/cellkit/cellkit/ring"
)

// Defaults of the document's optional fields.
const (
	DefaultBuckets   = 16384
	DefaultShardSize = 1
	DefaultWeight    = 1.0
	MaxBuckets       = ring.MaxBuckets
)

// The range of a cell's weight: 0, or from MinWeight to MaxWeight. In it,
// the sum of the weights of up to 10,000 cells is at most 10¹⁰ and never
// overflows; the weighted shares B·w/Σw of a table carry a relative error
// of about 10⁻¹² (10,000 additions of 2⁻⁵³ each), so a table of up to 2²⁰
// buckets rounds every share as exact arithmetic would unless the share is
// within 10⁻⁶ of a whole number of buckets; and no weight, share or
// rendezvous score (−ln u / w ≤ 5·10⁷) comes near the subnormal floats,
// which lose precision and make distinct weights compare equal. Ratios of
// 10⁶ either way of 1 cover any fleet: write weights in units that keep them
// in the range.
const (
	MinWeight = 1e-6
	MaxWeight = 1e6
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

// An Endpoint is one address of a cell. Its URL is scheme://host[:port]
// followed by an optional path prefix, nothing else: the scheme is http or
// https in lower case; the host a DNS name (letters, digits, '.', '-', '_';
// international names in punycode), an IPv4 address or a bracketed IPv6
// address; the port, when written, 1 to 65535; the path prefix, when
// written, starts with '/', does not end with one, and has no empty, "." or
// ".." segment. No user information, query or fragment: they would leak
// into, or be silently dropped from, every request. A request for path p
// (starting with '/') goes to URL+p: https://c1.internal:8443/api with
// /v1/items gives https://c1.internal:8443/api/v1/items.
type Endpoint struct {
	URL  string
	Zone string // where the endpoint runs; clients prefer their own zone
}

// A Cell is one cell of the fleet as the map describes it. Its ID follows
// the cell ID alphabet of the package documentation; its strings are valid
// UTF-8.
type Cell struct {
	ID        string
	Zone      string
	Weight    float64 // share of derived buckets and shard slots: 0, or MinWeight to MaxWeight; default 1 in a document
	State     State
	Endpoints []Endpoint
	Labels    map[string]string
}

// deepClone is clone with copies of the strings, which share no memory with
// a document.
func (c Cell) deepClone() Cell {
	c.ID, c.Zone = strings.Clone(c.ID), strings.Clone(c.Zone)
	c.Endpoints = slices.Clone(c.Endpoints)
	for i := range c.Endpoints {
		e := &c.Endpoints[i]
		e.URL, e.Zone = strings.Clone(e.URL), strings.Clone(e.Zone)
	}
	if c.Labels != nil {
		l := make(map[string]string, len(c.Labels))
		for k, v := range c.Labels {
			l[strings.Clone(k)] = strings.Clone(v)
		}
		c.Labels = l
	}
	return c
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

// Limits bound what Parse and Builder.Build accept, against hostile or
// mistaken input. A zero or negative field takes its default. A value over
// a limit is refused with an error matching ErrLimit. Parse counts cells,
// endpoints, labels, table ranges, overrides and migrations as it reads
// them, so it stops at the first entry over a limit, having spent on the
// document no more than the entries before it.
type Limits struct {
	MaxBytes      int // document size; default 64 MiB
	MaxCells      int // default 10,000
	MaxOverrides  int // default 10,000,000
	MaxMigrations int // default 1,000,000
	MaxKeyBytes   int // length of an override or migration key; default 1 KiB
	MaxEndpoints  int // endpoints of one cell; default 64
	MaxLabelBytes int // label keys and values of one cell; default 16 KiB
	// MaxShardSize bounds shardSize; default 64. With shardSize > 1 every
	// Locate ranks the key over every eligible cell, since shards are
	// chosen per key: about 1.5–2 ns of CPU a cell on a 2-core VM, so
	// ≈ 2 µs at 1,000 cells and at most ≈ 20 µs at the default MaxCells of
	// 10,000, whatever the shard size and the zones (10,000 cells each in
	// its own zone with shardSize 64 included; BenchmarkLocateLarge).
	MaxShardSize int
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
	def(&l.MaxShardSize, 64)
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
// concurrent use. AppendLocate answers in tens of nanoseconds without
// allocating. A nil or zero *Map is no map: every method gives its
// documented zero answer, or ErrNoMap.
type Map struct {
	version   uint64
	seed      uint64
	buckets   int
	shardSize int
	cells     []Cell           // in ID order; cell i is member i of ring
	index     map[string]int32 // cell ID → index
	ring      *ring.Ring       // weight: the cell's when active, else 0
	table     *ring.Table      // bucket → home cell; nil in a zero Map
	explicit  bool             // the document holds the table
	overrides keyIndex         // key → cell
	keyMig    map[string]int32 // key → migs index
	bucketMig []int32          // bucket → migs index or −1; nil without bucket migrations
	migs      []Migration      // keys first in key order, then buckets by range
	raw       string           // the document's text; its strings share it
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
	return parse(nil, data, sigs, opt)
}

// parse is ParseSigned, reusing what it can of prev (see ParseNext).
func parse(prev *Map, data []byte, sigs [][]byte, opt Options) (*Map, error) {
	lim := opt.Limits.withDefaults()
	if len(data) > lim.MaxBytes {
		return nil, fieldErr(ErrLimit, "document", "", "%d bytes, more than %d (Limits.MaxBytes)", len(data), lim.MaxBytes)
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
	m, err := build(doc, lim, prev)
	if err != nil {
		return nil, err
	}
	m.raw = doc.text
	m.signature = slices.Clone(sig)
	return m, nil
}

// ParseNext is ParseSigned for the document that replaces prev, the map in
// force: it returns the same map, or the same error, as ParseSigned, only
// sooner when the document changes little. When the new document's derived
// table has the same inputs as prev's (the same cell IDs in the same order,
// each with the same effective weight — its weight when active, else 0 —
// and the same bucket count and seed), the new map shares prev's table
// instead of deriving it again, and prev's ring when the cells' zones are
// unchanged too. The inputs are compared, not trusted: a prev of another
// fleet, or nil, costs one comparison and the derivation. prev is only read;
// ParseNext does not compare versions (the caller's version gate does).
func ParseNext(prev *Map, data []byte, sigs [][]byte, opt Options) (*Map, error) {
	return parse(prev, data, sigs, opt)
}
