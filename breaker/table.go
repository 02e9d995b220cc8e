package breaker

import "math/bits"

// table maps cell names to their breakers. It is immutable once published
// through Set.cells, so readers need no lock; writers build a new one.
//
// It exists because Available must answer in a few nanoseconds and a lookup
// in a Go map with string keys costs two to three times that. Names of up to
// 16 bytes (all realistic cell names) are reduced to two words and their
// length, which both hash them and compare them without touching the string
// again.
type table struct {
	seed  uint64
	mask  uint64         // len(slots) - 1
	shift uint           // 64 - log2(len(slots))
	slots []slot         // open addressing, linear probing, at most half full
	cells []*cellBreaker // sorted by name
}

type slot struct {
	a, b uint64 // keyWords of the name
	n    int    // length of the name
	cell *cellBreaker
}

// newTable indexes cells, which it keeps; their names must be distinct.
func newTable(seed uint64, cells []*cellBreaker) *table {
	size, shift := 8, uint(64-3)
	for size < 2*len(cells) {
		size <<= 1
		shift--
	}
	t := &table{seed: seed, mask: uint64(size - 1), shift: shift, slots: make([]slot, size), cells: cells}
	for _, c := range cells {
		a, b := keyWords(c.name)
		n := len(c.name)
		i := t.home(a, b, n)
		for t.slots[i].cell != nil {
			i = (i + 1) & t.mask
		}
		t.slots[i] = slot{a: a, b: b, n: n, cell: c}
	}
	return t
}

// get returns the breaker of the named cell, or nil.
func (t *table) get(name string) *cellBreaker {
	a, b := keyWords(name)
	n := len(name)
	for i := t.home(a, b, n); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.cell == nil {
			return nil
		}
		// keyWords is injective for names of up to 16 bytes.
		if s.a == a && s.b == b && s.n == n && (n <= 16 || s.cell.name == name) {
			return s.cell
		}
	}
}

// available reports whether the named cell is known and admits a call. It
// is get and admits with keyWords written out, so that for names of up to
// 16 bytes on a closed breaker Set.Available (inlined into its caller) makes
// one call that calls nothing: the calls cost as much as the lookup.
func (t *table) available(name string) bool {
	var a, b uint64
	switch n := len(name); {
	case n > 16:
		c := t.get(name)
		return c != nil && admits(c.word.Load(), c.gate.Load())
	case n >= 8:
		a, b = le64(name), le64(name[n-8:])
	case n >= 4:
		a, b = le32(name), le32(name[n-4:])
	case n > 0:
		a = uint64(name[0])<<16 | uint64(name[n>>1])<<8 | uint64(name[n-1])
	}
	n := len(name)
	for i := t.home(a, b, n); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.cell == nil {
			return false
		}
		if s.a == a && s.b == b && s.n == n {
			return admits(s.cell.word.Load(), s.cell.gate.Load())
		}
	}
}

func (t *table) home(a, b uint64, n int) uint64 {
	// wyhash's finish: a single folded product varies almost linearly with
	// names that differ in a few bytes, and clusters them; multiplying its
	// two halves together does not.
	hi, lo := bits.Mul64(a^t.seed^0xa0761d6478bd642f, b^0xe7037ed1a0b428db)
	return mix(lo^uint64(n)^0x8ebc6af09c88c6e3, hi^0x589965cc75374cc3) >> t.shift
}

// keyWords reduces a name to two words. Together with the length they
// determine a name of up to 16 bytes (the loads overlap, as in wyhash);
// longer names are folded, and compared in full by get.
func keyWords(s string) (a, b uint64) {
	switch n := len(s); {
	case n > 16:
		var h uint64
		for rest := s; len(rest) > 16; rest = rest[16:] {
			h = mix(le64(rest)^h^0x8ebc6af09c88c6e3, le64(rest[8:])^0x589965cc75374cc3)
		}
		return le64(s[n-16:]) ^ h, le64(s[n-8:])
	case n >= 8:
		return le64(s), le64(s[n-8:])
	case n >= 4:
		return le32(s), le32(s[n-4:])
	case n > 0:
		return uint64(s[0])<<16 | uint64(s[n>>1])<<8 | uint64(s[n-1]), 0
	}
	return 0, 0
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// le64 and le32 compile to single loads.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}
