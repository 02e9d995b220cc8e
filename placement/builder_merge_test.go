package placement

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// TestBuilderMergesOverrides: Build merges a Builder's pins into the base
// map's override index. Over random pins, unpins and re-pins of a map of
// 5,000 overrides, with cells added (other cell indexes) and sometimes a
// new seed (the index then made afresh), the built map is the map Parse
// makes of its bytes, its key order is the sorted one, and its override
// keys live in its own text, none in the base's.
func TestBuilderMergesOverrides(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 19))
	base := mustParse(t, string(docWith(20, 5000, 1)))
	if base.overrides.byKey == nil {
		t.Fatal("a document with its keys in order has no key order")
	}
	for round := range 30 {
		b := NewBuilder(base)
		for range 1 + rng.IntN(50) {
			key := fmt.Sprintf("tenant-o-%07d", rng.IntN(6000)) // pinned or not
			if rng.IntN(3) == 0 {
				key = fmt.Sprintf("new-%d\n\"", rng.IntN(100)) // written escaped
			}
			switch rng.IntN(3) {
			case 0:
				b.Unpin(key) // ErrNotFound when not pinned
			default:
				if err := b.Pin(key, fmt.Sprintf("cell-%03d", rng.IntN(20))); err != nil {
					t.Fatal(err)
				}
			}
		}
		if rng.IntN(3) == 0 {
			if err := b.AddCell(Cell{ID: fmt.Sprintf("a%02d", round), Weight: 1}); err != nil {
				t.Fatal(err)
			}
		}
		reseeded := rng.IntN(6) == 0
		if reseeded {
			b.SetSeed(rng.Uint64())
		}
		m := mustBuild(t, b)
		p := mustParse(t, string(m.Bytes()))
		if mustMarshal(t, m) != string(m.Bytes()) || mustMarshal(t, p) != string(m.Bytes()) || !Diff(p, m).Empty() {
			t.Fatalf("round %d: the built map is not Parse of its bytes", round)
		}
		x := &m.overrides
		if x.byKey == nil && base.overrides.byKey != nil && !reseeded {
			t.Fatalf("round %d: the merge lost the key order", round)
		}
		if x.byKey != nil {
			if !slices.IsSortedFunc(x.byKey, func(a, b int32) int { return strings.Compare(x.key[a], x.key[b]) }) || len(x.byKey) != x.len() {
				t.Fatalf("round %d: key order is not sorted", round)
			}
		}
		for i, k := range x.key {
			if got, _ := m.Override(k); got != m.cells[x.cell[i]].ID {
				t.Fatalf("round %d: Override(%q) = %q", round, k, got)
			}
			if !strings.ContainsAny(k, "\n\"") && !within(k, m.raw) {
				t.Fatalf("round %d: key %q is not in the map's text", round, k)
			}
		}
		base = m
	}
}

// within reports whether s's bytes are part of text's.
func within(s, text string) bool {
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(text)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(text))
}
