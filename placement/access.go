package placement

import "slices"

// The accessors below answer for a nil or zero *Map as for a map of
// nothing: zero, false, nil or dst unchanged.

// ok reports whether m is a map, rather than nil or a zero Map.
func (m *Map) ok() bool { return m != nil && m.table != nil }

// Version returns the map's version; 0 for no map.
func (m *Map) Version() uint64 {
	if !m.ok() {
		return 0
	}
	return m.version
}

// Seed returns the key hash seed.
func (m *Map) Seed() uint64 {
	if !m.ok() {
		return 0
	}
	return m.seed
}

// Buckets returns the number of buckets; 0 for no map.
func (m *Map) Buckets() int {
	if !m.ok() {
		return 0
	}
	return m.buckets
}

// ShardSize returns the number of cells in a key's shard; 0 for no map.
func (m *Map) ShardSize() int {
	if !m.ok() {
		return 0
	}
	return m.shardSize
}

// Explicit reports whether the document holds the bucket table; otherwise
// the table is derived from the active cells by weighted rendezvous.
func (m *Map) Explicit() bool { return m.ok() && m.explicit }

// NumCells returns the number of cells. It does not allocate.
func (m *Map) NumCells() int {
	if !m.ok() {
		return 0
	}
	return len(m.cells)
}

// AppendCellIDs appends the cell IDs, in ID order, to dst. It does not
// allocate when dst has room for NumCells more.
func (m *Map) AppendCellIDs(dst []string) []string {
	if !m.ok() {
		return dst
	}
	for i := range m.cells {
		dst = append(dst, m.cells[i].ID)
	}
	return dst
}

// CellState returns the state of the cell with the given ID. It does not
// allocate.
func (m *Map) CellState(id string) (State, bool) {
	if !m.ok() {
		return 0, false
	}
	i, ok := m.index[id]
	if !ok {
		return 0, false
	}
	return m.cells[i].State, true
}

// CellZone returns the zone of the cell with the given ID. It does not
// allocate.
func (m *Map) CellZone(id string) (string, bool) {
	if !m.ok() {
		return "", false
	}
	i, ok := m.index[id]
	if !ok {
		return "", false
	}
	return m.cells[i].Zone, true
}

// AppendEndpoints appends the endpoints of the cell with the given ID to
// dst, in document order, and reports whether the cell exists. It does not
// allocate when dst has room.
func (m *Map) AppendEndpoints(dst []Endpoint, id string) ([]Endpoint, bool) {
	if !m.ok() {
		return dst, false
	}
	i, ok := m.index[id]
	if !ok {
		return dst, false
	}
	return append(dst, m.cells[i].Endpoints...), true
}

// Cells returns a copy of the cells, in ID order; nil for no map.
func (m *Map) Cells() []Cell {
	if !m.ok() {
		return nil
	}
	out := make([]Cell, len(m.cells))
	for i, c := range m.cells {
		out[i] = c.clone()
	}
	return out
}

// Cell returns a copy of the cell with the given ID. Routing code uses the
// allocation-free CellState, CellZone and AppendEndpoints instead.
func (m *Map) Cell(id string) (Cell, bool) {
	if !m.ok() {
		return Cell{}, false
	}
	i, ok := m.index[id]
	if !ok {
		return Cell{}, false
	}
	return m.cells[i].clone(), true
}

// BucketOwner returns the table's cell for bucket b, before overrides and
// migrations, and false when b is out of range.
func (m *Map) BucketOwner(b int) (string, bool) {
	if !m.ok() {
		return "", false
	}
	o, ok := m.table.BucketOwner(b)
	if !ok {
		return "", false
	}
	return m.cells[o].ID, true
}

// Override returns the cell a key is pinned to.
func (m *Map) Override(key string) (string, bool) {
	if !m.ok() || m.overrides.off == nil {
		return "", false
	}
	b, h := m.bucketOf(key)
	c, ok := m.overrides.find(b, h, key)
	if !ok {
		return "", false
	}
	return m.cells[c].ID, true
}

// Overrides returns the number of pinned keys.
func (m *Map) Overrides() int {
	if !m.ok() {
		return 0
	}
	return m.overrides.len()
}

// Migrations returns a copy of the migrations: key migrations in key order,
// then bucket migrations in bucket order.
func (m *Map) Migrations() []Migration {
	if !m.ok() {
		return nil
	}
	return slices.Clone(m.migs)
}

// Bytes returns a copy of the document the map was parsed from (for a map
// made by a Builder, its canonical form); nil for no map.
func (m *Map) Bytes() []byte {
	if !m.ok() {
		return nil
	}
	return []byte(m.raw)
}

// Signature returns a copy of the signature verified when the map was parsed,
// or nil.
func (m *Map) Signature() []byte {
	if !m.ok() {
		return nil
	}
	return slices.Clone(m.signature)
}
