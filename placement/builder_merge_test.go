package placement

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
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

// TestEditCostsAParse: one Pin and Build on a map of 100,000 overrides
// reuses the base map's derived table, and allocates at most 2.5 times the
// document (the old Builder copied every override into a map, sorted them
// all twice and wrote the canonical form twice: about 7 times).
func TestEditCostsAParse(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	base := mustParse(t, string(docWith(100, 100_000, 1)))
	doc := base.Bytes()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b := NewBuilder(base)
	if err := b.Pin("tenant-new", "cell-007"); err != nil {
		t.Fatal(err)
	}
	m := mustBuild(t, b)
	runtime.ReadMemStats(&after)
	if m.table != base.table {
		t.Error("Build derived the table again; the cells did not change")
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("an edit allocated %.2f times the document (%d bytes)", float64(alloc)/float64(len(doc)), len(doc))
	if alloc > uint64(len(doc))*5/2 {
		t.Errorf("an edit allocated %d bytes, %.1f times the document; want at most 2.5", alloc, float64(alloc)/float64(len(doc)))
	}
}

// TestBuildMaxBytes: Build refuses a map whose document Parse would refuse
// for its size, as it refuses any other the client would.
func TestBuildMaxBytes(t *testing.T) {
	b := NewBuilderWith(nil, Limits{MaxBytes: 300})
	for i := range 3 {
		if err := b.AddCell(Cell{ID: fmt.Sprintf("cell-%d", i), Zone: "zone-a", Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	m := mustBuild(t, b)
	if _, err := ParseWith(m.Bytes(), Options{Limits: Limits{MaxBytes: 300}}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := b.Pin(fmt.Sprintf("tenant-%d", i), "cell-0"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Build(); !errors.Is(err, ErrLimit) {
		t.Errorf("Build of a document over MaxBytes: %v; want ErrLimit", err)
	}
	if _, err := b.Build(); !errors.Is(err, ErrLimit) {
		t.Errorf("second Build of a document over MaxBytes: %v; want ErrLimit", err)
	}
}
