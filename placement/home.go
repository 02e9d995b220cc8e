package placement

import "github.com/cellkit/cellkit/ring"

// HomeOf returns the ID of key's home cell, disabled or not, and whether a
// write of key is allowed now (false while its migration is frozen): the
// Cell and Writable of AppendLocate, by the same placement rule, without
// the read set and shard that make AppendLocate's buffer escape. ok is false
// for a nil or zero Map and the empty key. It does not allocate: a cell
// judging a request it does not own (cell.Judge) calls it.
func (m *Map) HomeOf(key string) (cell string, writable, ok bool) {
	if m == nil || m.table == nil || key == "" {
		return "", false, false
	}
	h := ring.Hash(m.seed, key)
	home, g := m.place(key, h, m.table.Bucket(h))
	return m.cells[home].ID, g < 0 || m.migs[g].Phase != Frozen, true
}
