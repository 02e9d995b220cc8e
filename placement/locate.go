package placement

import (
	"github.com/cellkit/cellkit/ring"
)

// A Reason says which rule placed a key.
type Reason uint8

const (
	// ReasonTable: the bucket table (explicit or derived).
	ReasonTable Reason = iota
	// ReasonOverride: the override table pins the key.
	ReasonOverride
	// ReasonMigration: the key, or its bucket, is moving.
	ReasonMigration
)

func (r Reason) String() string {
	switch r {
	case ReasonOverride:
		return "override"
	case ReasonMigration:
		return "migration"
	}
	return "table"
}

// An Assignment is everything a caller needs to route one key. Its Read and
// Shard slices belong to the caller: they never share memory with the Map
// or with other Assignments, except the buffer the caller gave AppendLocate.
type Assignment struct {
	Key      string
	Cell     string   // the home cell: where writes go
	Read     []string // cells to read from, in order: the home, or during a flipped migration the new cell then the old
	Writable bool     // false while a migration is frozen
	Shard    []string // the key's shuffle shard, home first, when shardSize > 1
	Reason   Reason
	Phase    Phase // the migration's phase, when Reason is ReasonMigration
	Bucket   int
	Version  uint64
}

// maxStackShard is the largest shard placed without allocating.
const maxStackShard = 64

// Locate resolves a key: its override if it has one, else its migration (by
// key, then by bucket), else its bucket in the table. It is
// AppendLocate(nil, key): Read and Shard are one new slice. Routing code
// that must not allocate calls AppendLocate with a buffer.
func (m *Map) Locate(key string) (Assignment, error) {
	return m.AppendLocate(nil, key)
}

// AppendLocate is Locate with the Assignment's Read and then Shard appended
// to dst, following Go's append convention: they use dst's array when it has
// room, and never the Map's memory. Read and Shard are capped at their
// lengths, so that appending to one never overwrites the other. With
//
//	var buf [8]string
//	a, err := m.AppendLocate(buf[:0], key)
//
// it does not allocate for shard sizes up to 6 (two read cells and the
// shard).
//
// Errors: ErrNoKey for the empty key, ErrNoMap for a nil or zero Map, and a
// *CellError matching ErrCellDisabled for a key whose home is disabled. In
// that last case the Assignment is filled in all the same: Cell is the
// disabled home, Read its read set, and Shard (with shardSize > 1) the home
// followed by shardSize−1 eligible cells, so that stateless callers can
// fail over along Shard[1:].
//
// It fills in the named result in place: the Assignment is fifteen words,
// and copying it out would cost more than hashing the key.
func (m *Map) AppendLocate(dst []string, key string) (a Assignment, err error) {
	return m.locate(dst, key, true)
}

// AppendLocateHome is AppendLocate without the shard: Read is appended to
// dst, and Shard is nil whatever the shard size. A caller that uses only
// the home and the read cells (a stateful write or read) calls it: in a
// large map with large shards the shard is most of Locate's cost.
func (m *Map) AppendLocateHome(dst []string, key string) (a Assignment, err error) {
	return m.locate(dst, key, false)
}

// locate is AppendLocate, with the shard when shard is set.
func (m *Map) locate(dst []string, key string, shard bool) (a Assignment, err error) {
	if m == nil || m.table == nil {
		return a, ErrNoMap
	}
	if key == "" {
		return a, ErrNoKey
	}
	h := ring.Hash(m.seed, key)
	b := m.table.Bucket(h)
	home, g := m.place(key, h, b)
	var old int32
	a.Reason, a.Phase, a.Writable, old = m.placed(g)
	a.Key, a.Version, a.Bucket = key, m.version, b
	c := &m.cells[home]
	a.Cell = c.ID
	n := len(dst)
	dst = append(dst, c.ID)
	if old >= 0 {
		dst = append(dst, m.cells[old].ID)
	}
	a.Read = dst[n:len(dst):len(dst)]
	if shard && m.shardSize > 1 {
		s := len(dst)
		dst = m.appendShard(dst, h, int(home))
		a.Shard = dst[s:len(dst):len(dst)]
	}
	if c.State == Disabled {
		// c.ID, not a.Cell: escape analysis does not tell a's fields
		// apart, and reading a here would send dst to the heap.
		err = &CellError{Key: key, Cell: c.ID, Err: ErrCellDisabled}
	}
	return
}

// placed says what placed a key at g, place's second result: the reason,
// the migration's phase, whether the key takes writes, and the old home of
// a flipped migration (its second read cell), −1 otherwise.
func (m *Map) placed(g int32) (r Reason, ph Phase, writable bool, old int32) {
	old, writable = -1, true
	switch {
	case g >= 0:
		mig := &m.migs[g]
		r, ph = ReasonMigration, mig.Phase
		switch mig.Phase {
		case Frozen:
			writable = false
		case Flipped:
			old = m.index[mig.From]
		}
	case g == placeOverride:
		r = ReasonOverride
	}
	return r, ph, writable, old
}

// The g of place for keys that no migration places.
const (
	placeTable    = -1
	placeOverride = -2
)

// place is the one placement rule behind AppendLocate, Owns, OwnsWrite,
// OwnsShard, Diff and the Builder: it returns the key's home cell, and the
// index of the migration that placed it or placeTable or placeOverride. h
// and b are the key's hash and bucket. A key's own migration decides first:
// its From is where the key lives without it (settled), which may be the
// key's override.
func (m *Map) place(key string, h uint64, b int) (home, g int32) {
	if len(m.keyMig) > 0 {
		if i, ok := m.keyMig[key]; ok {
			return m.migHome(i), i
		}
	}
	return m.settled(key, h, b)
}

// settled is place without the key's own migration: the key's override,
// else its bucket's migration, else its table cell. A key migration's From
// must be this home, where the key's data is (buildMigrations), and
// Builder.MigrateKey starts a migration from it.
func (m *Map) settled(key string, h uint64, b int) (home, g int32) {
	if m.overrides.off != nil {
		if c, ok := m.overrides.find(b, h, key); ok {
			return c, placeOverride
		}
	}
	if m.bucketMig != nil {
		if g = m.bucketMig[b]; g >= 0 {
			return m.migHome(g), g
		}
	}
	o, _ := m.table.BucketOwner(b)
	return int32(o), placeTable
}

// migHome returns the home cell of migration g: From until the flip, then To.
func (m *Map) migHome(g int32) int32 {
	mig := &m.migs[g]
	if mig.Phase == Flipped {
		return m.index[mig.To]
	}
	return m.index[mig.From]
}

// home returns the index of a key's home cell, disabled or not; −1 for no
// map or the empty key.
func (m *Map) home(key string) int32 {
	if m == nil || m.table == nil || key == "" {
		return -1
	}
	h := ring.Hash(m.seed, key)
	c, _ := m.place(key, h, m.table.Bucket(h))
	return c
}

// appendShard appends the IDs of the shard of h around home.
func (m *Map) appendShard(dst []string, h uint64, home int) []string {
	var buf [maxStackShard]int
	idx := buf[:0]
	if m.shardSize > len(buf) {
		idx = make([]int, 0, m.shardSize)
	}
	idx, _ = m.ring.ShardFrom(h, home, m.shardSize, idx)
	for _, i := range idx {
		dst = append(dst, m.cells[i].ID)
	}
	return dst
}

// Owns reports whether cell may serve reads of key: the key's home, or a cell
// of its read set during a migration (the old cell after the flip, as a
// fallback). A cell uses it to reject misrouted requests. A disabled cell
// owns nothing; a nil or zero Map and the empty key give false. It does not
// allocate.
func (m *Map) Owns(cell, key string) bool {
	if m == nil || m.table == nil || key == "" {
		return false
	}
	h := ring.Hash(m.seed, key)
	home, g := m.place(key, h, m.table.Bucket(h))
	return m.owns(cell, home, g)
}

func (m *Map) owns(cell string, home, g int32) bool {
	if m.cells[home].State == Disabled {
		return false
	}
	if m.cells[home].ID == cell {
		return true
	}
	return g >= 0 && m.migs[g].Phase == Flipped && m.migs[g].From == cell
}

// OwnsWrite reports whether cell may accept writes of key: its home, except
// while a migration is frozen, when no cell does. It does not allocate.
func (m *Map) OwnsWrite(cell, key string) bool {
	if m == nil || m.table == nil || key == "" {
		return false
	}
	h := ring.Hash(m.seed, key)
	home, g := m.place(key, h, m.table.Bucket(h))
	if m.cells[home].State == Disabled || m.cells[home].ID != cell {
		return false
	}
	return g < 0 || m.migs[g].Phase != Frozen
}

// OwnsShard reports whether cell may serve key as a member of its shuffle
// shard, the stateless failover of Assignment.Shard: true wherever Owns is
// true, and for every member of the key's shard other than its home (those
// are active cells, whether or not the home is disabled). With shardSize 1
// it is Owns. It does not allocate for shard sizes up to 64.
func (m *Map) OwnsShard(cell, key string) bool {
	if m == nil || m.table == nil || key == "" {
		return false
	}
	h := ring.Hash(m.seed, key)
	home, g := m.place(key, h, m.table.Bucket(h))
	if m.owns(cell, home, g) {
		return true
	}
	if m.shardSize < 2 {
		return false
	}
	i, ok := m.index[cell]
	if !ok || m.cells[i].State != Active || m.cells[i].Weight == 0 {
		return false
	}
	var buf [maxStackShard]int
	idx := buf[:0]
	if m.shardSize > len(buf) {
		idx = make([]int, 0, m.shardSize)
	}
	idx, _ = m.ring.ShardFrom(h, int(home), m.shardSize, idx)
	for _, j := range idx[1:] {
		if j == int(i) {
			return true
		}
	}
	return false
}
