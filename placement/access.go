package placement

import "slices"

// Version returns the map's version.
func (m *Map) Version() uint64 { return m.version }

// Seed returns the key hash seed.
func (m *Map) Seed() uint64 { return m.seed }

// Buckets returns the number of buckets.
func (m *Map) Buckets() int { return m.buckets }

// ShardSize returns the number of cells in a key's shard.
func (m *Map) ShardSize() int { return m.shardSize }

// Explicit reports whether the document holds the bucket table; otherwise
// the table is derived from the active cells by weighted rendezvous.
func (m *Map) Explicit() bool { return m.explicit }

// Cells returns a copy of the cells, in ID order.
func (m *Map) Cells() []Cell {
	out := make([]Cell, len(m.cells))
	for i, c := range m.cells {
		out[i] = c.clone()
	}
	return out
}

// Cell returns a copy of the cell with the given ID.
func (m *Map) Cell(id string) (Cell, bool) {
	i, ok := m.index[id]
	if !ok {
		return Cell{}, false
	}
	return m.cells[i].clone(), true
}

// BucketOwner returns the table's cell for bucket b, before overrides and
// migrations, and false when b is out of range.
func (m *Map) BucketOwner(b int) (string, bool) {
	o, ok := m.table.BucketOwner(b)
	if !ok {
		return "", false
	}
	return m.cells[o].ID, true
}

// Override returns the cell a key is pinned to.
func (m *Map) Override(key string) (string, bool) {
	if m.overrides.off == nil {
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
func (m *Map) Overrides() int { return m.overrides.len() }

// Migrations returns a copy of the migrations: key migrations in key order,
// then bucket migrations in bucket order.
func (m *Map) Migrations() []Migration { return slices.Clone(m.migs) }

// Bytes returns a copy of the document the map was parsed from (for a map
// made by a Builder, its canonical form).
func (m *Map) Bytes() []byte { return slices.Clone(m.raw) }

// Signature returns a copy of the signature verified when the map was parsed,
// or nil.
func (m *Map) Signature() []byte { return slices.Clone(m.signature) }
