package placement

import "github.com/cellkit/cellkit/ring"

// A Place is where a key goes, by cell index (the order of Cells(), ID
// order): the Assignment without its strings and slices, four words that a
// router holding per-cell state in that order uses without looking an ID
// up. AppendLocate answers the same by the same rule (place, placed), with
// the IDs filled in.
type Place struct {
	Hash   uint64 // the key's hash under the map's seed: its shard's seed (AppendShard)
	Bucket int
	Home   int32 // the home cell's index; −1 when LocatePlace failed without one
	// Old is the old home's index during a flipped migration, the second
	// read cell after Home; −1 otherwise.
	Old      int32
	Reason   Reason
	Phase    Phase // the migration's phase, when Reason is ReasonMigration
	Writable bool  // false while the key's migration is frozen
}

// LocatePlace is AppendLocate by cell index: it places key by the same rule
// and fails in the same cases (ErrNoMap, ErrNoKey, and a *CellError
// matching ErrCellDisabled for a disabled home, with the Place filled in).
// It does not allocate unless the home is disabled.
func (m *Map) LocatePlace(key string) (p Place, err error) {
	p.Home, p.Old = -1, -1
	if m == nil || m.table == nil {
		return p, ErrNoMap
	}
	if key == "" {
		return p, ErrNoKey
	}
	h := ring.Hash(m.seed, key)
	b := m.table.Bucket(h)
	home, g := m.place(key, h, b)
	p.Hash, p.Bucket, p.Home = h, b, home
	p.Reason, p.Phase, p.Writable, p.Old = m.placed(g)
	if c := &m.cells[home]; c.State == Disabled {
		err = &CellError{Key: key, Cell: c.ID, Err: ErrCellDisabled}
	}
	return p, err
}

// CellID returns the ID of the cell at index i of Cells(), or "" when there
// is none.
func (m *Map) CellID(i int) string {
	if !m.ok() || uint(i) >= uint(len(m.cells)) {
		return ""
	}
	return m.cells[i].ID
}

// AppendShard appends to dst the IDs of the shuffle shard of a key placed at
// p by this map, home first, when the map's shard size is above 1; it
// returns dst as it is otherwise, or when p has no home. It is the Shard of
// the key's Assignment.
func (m *Map) AppendShard(dst []string, p Place) []string {
	if !m.ok() || m.shardSize <= 1 || uint(p.Home) >= uint(len(m.cells)) {
		return dst
	}
	return m.appendShard(dst, p.Hash, int(p.Home))
}
