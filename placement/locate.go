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
func (m *Map) Locate(key string) (Assignment, error) {
	var shard []string
	if m.shardSize > 1 {
		shard = make([]string, 0, m.shardSize)
	}
	return m.LocateWith(key, shard)
}

// LocateWith is Locate with the shard appended to shard[:0]: it does not
// allocate when cap(shard) ≥ the map's shard size.
func (m *Map) LocateWith(key string, shard []string) (Assignment, error) {
	w := m.where(key)
	a := m.assignment(key, &w)
	if m.cells[w.home].State == Disabled {
		return a, &CellError{Key: key, Cell: a.Cell, Err: ErrCellDisabled}
	}
	if m.shardSize > 1 {
		a.Shard = m.appendShard(shard[:0], w.h, int(w.home))
	}
	return a, nil
}

// A placement is where a key lives, before its shard.
type placement struct {
	h        uint64
	bucket   int
	read     []string
	home     int32
	writable bool
	reason   Reason
	phase    Phase
}

// where places a key: the one mechanism behind Locate, Owns and OwnsWrite.
func (m *Map) where(key string) placement {
	w := placement{h: ring.Hash(m.seed, key), home: -1, writable: true}
	w.bucket = m.table.Bucket(w.h)
	if len(m.overrides) > 0 {
		if c, ok := m.overrides[key]; ok {
			w.home, w.reason = c, ReasonOverride
		}
	}
	if w.home < 0 {
		g := int32(-1)
		if len(m.keyMig) > 0 {
			if i, ok := m.keyMig[key]; ok {
				g = i
			}
		}
		if g < 0 && m.bucketMig != nil {
			g = m.bucketMig[w.bucket]
		}
		if g >= 0 {
			mig := &m.migs[g]
			w.reason, w.phase, w.read = ReasonMigration, mig.Phase, m.migRead[g]
			w.home = m.index[mig.From]
			switch mig.Phase {
			case Frozen:
				w.writable = false
			case Flipped:
				w.home = m.index[mig.To]
			}
		} else {
			o, _ := m.table.BucketOwner(w.bucket)
			w.home = int32(o)
		}
	}
	if w.read == nil {
		w.read = m.self[w.home]
	}
	return w
}

// assignment is the Assignment of key placed at w, without its shard.
func (m *Map) assignment(key string, w *placement) Assignment {
	return Assignment{Key: key, Cell: m.cells[w.home].ID, Read: w.read, Writable: w.writable, Reason: w.reason,
		Phase: w.phase, Bucket: w.bucket, Version: m.version}
}

// resolve places key into a without its shard; for Diff and tests.
func (m *Map) resolve(key string, a *Assignment) {
	w := m.where(key)
	*a = m.assignment(key, &w)
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
	w := m.where(key)
	if m.cells[w.home].State == Disabled {
		return false
	}
	for _, c := range w.read {
		if c == cell {
			return true
		}
	}
	return false
}

// OwnsWrite reports whether cell may accept writes of key: its home, except
// while a migration is frozen, when no cell does.
func (m *Map) OwnsWrite(cell, key string) bool {
	w := m.where(key)
	return w.writable && m.cells[w.home].State != Disabled && m.cells[w.home].ID == cell
}
