package idtable

import "math/bits"

// A Table maps distinct IDs to values of type *T. The zero Table is empty
// and ready to use; Add fills it, after which it must not change while it is
// read (build a new one instead).
type Table[T any] struct {
	seed  uint64
	mask  uint64 // len(slots) - 1
	shift uint   // 64 - log2(len(slots))
	n     int    // entries
	slots []slot[T]
}

// A slot holds an ID's words (see Words) beside the ID, so that a lookup of
// an ID of up to 16 bytes compares two words and a length, and nothing else.
type slot[T any] struct {
	a, b uint64
	id   string
	v    *T // nil: an empty slot
}

// minSlots is the size of the smallest table; it is at most half full.
const minSlots = 8

// New returns an empty table (a value, to be kept in a field, so that a
// lookup follows one pointer fewer) with room for n IDs before it grows, whose
// slots are spread by seed: take a random seed per process (or per table),
// so that no one can choose IDs that collide.
func New[T any](seed uint64, n int) Table[T] {
	t := Table[T]{seed: seed}
	t.resize(n)
	return t
}

func (t *Table[T]) resize(n int) {
	size, shift := minSlots, uint(64-3)
	for size < 2*n {
		size <<= 1
		shift--
	}
	old := t.slots
	t.slots, t.mask, t.shift, t.n = make([]slot[T], size), uint64(size-1), shift, 0
	for i := range old {
		if old[i].v != nil {
			t.put(old[i])
		}
	}
}

// Seed returns the seed the table was made with.
func (t *Table[T]) Seed() uint64 { return t.seed }

// Len returns the number of IDs in the table.
func (t *Table[T]) Len() int { return t.n }

// Add maps id to v. It reports false, and changes nothing, if id is already
// in the table or v is nil.
func (t *Table[T]) Add(id string, v *T) bool {
	if v == nil || t.Get(id) != nil {
		return false
	}
	if len(t.slots) < 2*(t.n+1) {
		t.resize(2 * (t.n + 1))
	}
	a, b := Words(id)
	t.put(slot[T]{a: a, b: b, id: id, v: v})
	return true
}

func (t *Table[T]) put(s slot[T]) {
	i := t.home(s.a, s.b, len(s.id))
	for t.slots[i].v != nil {
		i = (i + 1) & t.mask
	}
	t.slots[i] = s
	t.n++
}

// Get returns the value of id, or nil. For an ID of up to 16 bytes it calls
// nothing: the words of Words are written out here, so that a caller's
// lookup (breaker.Set.Available, inlined into its caller) costs one call.
func (t *Table[T]) Get(id string) *T {
	var a, b uint64
	switch n := len(id); {
	case n > 16:
		return t.getLong(id)
	case n >= 8:
		a, b = le64(id), le64(id[n-8:])
	case n >= 4:
		a, b = le32(id), le32(id[n-4:])
	case n > 0:
		a = uint64(id[0])<<16 | uint64(id[n>>1])<<8 | uint64(id[n-1])
	}
	n := len(id)
	if t.slots == nil {
		return nil // the zero Table
	}
	for i := t.home(a, b, n); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.v == nil {
			return nil
		}
		// Words is injective on IDs of up to 16 bytes.
		if s.a == a && s.b == b && len(s.id) == n {
			return s.v
		}
	}
}

// getLong is Get for IDs of more than 16 bytes, whose words may collide.
func (t *Table[T]) getLong(id string) *T {
	if t.slots == nil {
		return nil
	}
	a, b := Words(id)
	for i := t.home(a, b, len(id)); ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.v == nil {
			return nil
		}
		if s.a == a && s.b == b && s.id == id {
			return s.v
		}
	}
}

// home is the first slot to probe for an ID's words and length.
func (t *Table[T]) home(a, b uint64, n int) uint64 {
	// wyhash's finish: a single folded product varies almost linearly with
	// IDs that differ in a few bytes, and clusters them; multiplying its
	// two halves together does not.
	hi, lo := bits.Mul64(a^t.seed^0xa0761d6478bd642f, b^0xe7037ed1a0b428db)
	return mix(lo^uint64(n)^0x8ebc6af09c88c6e3, hi^0x589965cc75374cc3) >> t.shift
}

// Words reduces an ID to two words. With the length they determine an ID of
// up to 16 bytes: its first and last eight bytes, overlapping (as in
// wyhash) for IDs under 16 bytes; the first and last four for IDs of 4 to 7
// bytes; the first, middle and last byte for IDs of 1 to 3. Longer IDs are
// folded 16 bytes at a time.
func Words(id string) (a, b uint64) {
	switch n := len(id); {
	case n > 16:
		var h uint64
		for rest := id; len(rest) > 16; rest = rest[16:] {
			h = mix(le64(rest)^h^0x8ebc6af09c88c6e3, le64(rest[8:])^0x589965cc75374cc3)
		}
		return le64(id[n-16:]) ^ h, le64(id[n-8:])
	case n >= 8:
		return le64(id), le64(id[n-8:])
	case n >= 4:
		return le32(id), le32(id[n-4:])
	case n > 0:
		return uint64(id[0])<<16 | uint64(id[n>>1])<<8 | uint64(id[n-1]), 0
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
