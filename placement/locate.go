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

// An Assignment is everything a caller needs to route one key.
type Assignment struct {
	Key      string
	Cell     string   // the home cell: where writes go
	Read     []string // cells to read from, in order; do not modify
	Writable bool     // false while a migration is frozen
	Shard    []string // the key's shuffle shard, home first, when shardSize > 1
	Reason   Reason
	Phase    Phase // the migration's phase, when Reason is ReasonMigration
	Bucket   int
	Version  uint64
}

// Locate resolves a key: its override if it has one, else its migration (by
// key, then by bucket), else its bucket in the table. A key homed on a
// disabled cell gives an error matching ErrCellDisabled, with the assignment
// filled in. Locate does not allocate when the shard size is 1; for larger
// shards use LocateWith.
func (m *Map) Locate(key string) (a Assignment, err error) {
	var shard []string
	if m.shardSize > 1 {
		shard = make([]string, 0, m.shardSize)
	}
	err = m.locate(&a, key, shard, m.shardSize > 1)
	return a, err
}

// LocateWith is Locate with the shard appended to shard[:0]: it does not
// allocate when cap(shard) ≥ the map's shard size.
func (m *Map) LocateWith(key string, shard []string) (a Assignment, err error) {
	err = m.locate(&a, key, shard, m.shardSize > 1)
	return a, err
}

// locate is the one mechanism behind Locate, Owns and OwnsWrite. It fills in
// a zero Assignment field by field: the Assignment is a dozen words, and
// copying it through helpers would cost more than hashing the key.
func (m *Map) locate(a *Assignment, key string, shard []string, withShard bool) error {
	h := ring.Hash(m.seed, key)
	a.Key, a.Version, a.Writable = key, m.version, true
	a.Bucket = m.table.Bucket(h)
	home := int32(-1)
	if m.overrides.off != nil {
		if c, ok := m.overrides.find(a.Bucket, h, key); ok {
			home, a.Reason = c, ReasonOverride
		}
	}
	if home < 0 {
		g := int32(-1)
		if len(m.keyMig) > 0 {
			if i, ok := m.keyMig[key]; ok {
				g = i
			}
		}
		if g < 0 && m.bucketMig != nil {
			g = m.bucketMig[a.Bucket]
		}
		if g >= 0 {
			mig := &m.migs[g]
			a.Reason, a.Phase, a.Read = ReasonMigration, mig.Phase, m.migRead[g]
			home = m.index[mig.From]
			switch mig.Phase {
			case Frozen:
				a.Writable = false
			case Flipped:
				home = m.index[mig.To]
			}
		} else {
			o, _ := m.table.BucketOwner(a.Bucket)
			home = int32(o)
		}
	}
	c := &m.cells[home]
	a.Cell = c.ID
	if a.Read == nil {
		a.Read = m.self[home]
	}
	if c.State == Disabled {
		return &CellError{Key: key, Cell: a.Cell, Err: ErrCellDisabled}
	}
	if withShard {
		a.Shard = m.appendShard(shard[:0], h, int(home))
	}
	return nil
}

// resolve places key into a without its shard; for Diff and tests.
func (m *Map) resolve(key string, a *Assignment) {
	*a = Assignment{}
	m.locate(a, key, nil, false)
}

// appendShard appends the IDs of the shard of h around home.
func (m *Map) appendShard(dst []string, h uint64, home int) []string {
	var buf [16]int
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
// of its read set during a migration (the old cell until the flip, and as a
// fallback after it). A cell uses it to reject misrouted requests. A disabled
// cell owns nothing.
func (m *Map) Owns(cell, key string) bool {
	var a Assignment
	if m.locate(&a, key, nil, false) != nil {
		return false
	}
	for _, c := range a.Read {
		if c == cell {
			return true
		}
	}
	return false
}

// OwnsWrite reports whether cell may accept writes of key: its home, except
// while a migration is frozen, when no cell does.
func (m *Map) OwnsWrite(cell, key string) bool {
	var a Assignment
	err := m.locate(&a, key, nil, false)
	return err == nil && a.Writable && a.Cell == cell
}
