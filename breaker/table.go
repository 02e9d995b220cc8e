package breaker

import "github.com/cellkit/cellkit/internal/idtable"

// table maps cell names to their breakers. It is immutable once published
// through Set.cells, so readers need no lock; writers build a new one.
//
// The lookup is internal/idtable's, which cell's route table shares: a Go
// map with string keys costs two to three times as much, and Available must
// answer in a few nanoseconds.
type table struct {
	seed  uint64 // kept across Syncs
	ids   idtable.Table[cellBreaker]
	cells []*cellBreaker // sorted by name
}

// newTable indexes cells, which it keeps; their names must be distinct.
func newTable(seed uint64, cells []*cellBreaker) *table {
	t := &table{seed: seed, ids: idtable.New[cellBreaker](seed, len(cells)), cells: cells}
	for _, c := range cells {
		t.ids.Add(c.name, c)
	}
	return t
}

// get returns the breaker of the named cell, or nil.
func (t *table) get(name string) *cellBreaker { return t.ids.Get(name) }

// available reports whether the named cell is known and admits a call. For
// names of up to 16 bytes on a closed breaker, Set.Available (inlined into
// its caller) makes one call, to the table's Get, which calls nothing.
func (t *table) available(name string) bool {
	c := t.ids.Get(name)
	return c != nil && admits(c.word.Load(), c.gate.Load())
}
