package idtable

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

type val struct{ id string }

// check compares the table built from members with a Go map, for every ID
// in probe and every member.
func check(t *testing.T, seed uint64, members, probe []string) {
	t.Helper()
	want := make(map[string]*val)
	tab := New[val](seed, len(members)/2) // half the room: Add grows it
	for _, id := range members {
		v := &val{id}
		_, dup := want[id]
		if added := tab.Add(id, v); added == dup {
			t.Fatalf("Add(%q) = %v with the ID already present = %v", id, added, dup)
		}
		if !dup {
			want[id] = v
		}
	}
	if tab.Len() != len(want) {
		t.Fatalf("Len() = %d; want %d", tab.Len(), len(want))
	}
	if tab.Seed() != seed {
		t.Fatalf("Seed() = %#x; want %#x", tab.Seed(), seed)
	}
	for _, id := range append(probe, members...) {
		if got := tab.Get(id); got != want[id] {
			t.Fatalf("Get(%q) = %v; want %v", id, got, want[id])
		}
	}
}

// randomIDs returns n IDs of 0 to 39 bytes over a four-letter alphabet, so
// that IDs share prefixes and suffixes and fall on both sides of every
// boundary of Words (4, 8 and 16 bytes).
func randomIDs(r *rand.Rand, n int) []string {
	const alphabet = "ab-0"
	ids := make([]string, n)
	for i := range ids {
		b := make([]byte, r.IntN(40))
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		ids[i] = string(b)
	}
	return ids
}

// TestMatchesMap is the differential test of the table against a Go map.
func TestMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		check(t, r.Uint64(), randomIDs(r, r.IntN(64)), randomIDs(r, 64))
	}
	check(t, 0, nil, []string{"", "x"})
	check(t, 0, []string{""}, []string{"\x00", "a"})
	var fleet []string
	for i := range 1000 {
		fleet = append(fleet, "cell-"+strconv.Itoa(i))
	}
	check(t, 0, fleet, []string{"cell-1000", "cell-"})
}

// TestShortIDs covers each length class of Words exhaustively over a small
// alphabet, members and misses alike: every ID of 1 to 3 bytes, and IDs of
// 4 to 7 bytes that differ only inside the overlap of their first and last
// four bytes, or only outside it.
func TestShortIDs(t *testing.T) {
	var all []string
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		if n == 0 {
			all = append(all, prefix)
			return
		}
		for _, c := range "ab\x00" {
			gen(prefix+string(c), n-1)
		}
	}
	for n := range 8 {
		gen("", n) // 3^0 + ... + 3^7 = 3280 IDs
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		members := make([]string, 0, len(all)/2)
		var misses []string
		for _, id := range all {
			if r.IntN(2) == 0 {
				members = append(members, id)
			} else {
				misses = append(misses, id)
			}
		}
		check(t, r.Uint64(), members, misses)
	}
}

// TestWordsInjective checks that Words with the length tells apart any two
// IDs of up to 16 bytes that differ in one byte, at every position and
// length (the property Get relies on when it compares words, not bytes).
func TestWordsInjective(t *testing.T) {
	base := []byte("0123456789abcdef")
	for n := 1; n <= 16; n++ {
		id := string(base[:n])
		a, b := Words(id)
		for i := range n {
			other := []byte(id)
			other[i] ^= 0x40
			if a2, b2 := Words(string(other)); a2 == a && b2 == b {
				t.Fatalf("Words(%q) = Words(%q)", id, other)
			}
		}
	}
}

// TestZeroTable: the zero Table is empty and takes IDs.
func TestZeroTable(t *testing.T) {
	var tab Table[val]
	if tab.Get("c1") != nil || tab.Get(strings.Repeat("c", 20)) != nil || tab.Len() != 0 {
		t.Fatal("the zero Table is not empty")
	}
	v := &val{"c1"}
	if !tab.Add("c1", v) || tab.Get("c1") != v || tab.Add("c1", v) || tab.Add("c2", nil) {
		t.Fatal("the zero Table does not take IDs")
	}
}

// FuzzLookup is the differential fuzz target of the table: a comma-separated
// list of members and one of probes, under any seed.
func FuzzLookup(f *testing.F) {
	f.Add(uint64(0), "cell-00,cell-01,cell-02", "cell-03")
	f.Add(uint64(7), ",a,\x00,aaaaaaaaaaaaaaaaa,aaaaaaaaaaaaaaaab", "aaaaaaaaaaaaaaaa")
	f.Add(uint64(3), "c1,c2,cel-1,abcd,abcde,abcdef,abcdefg", "abce,abcdf,bbcdefg,c3")
	f.Fuzz(func(t *testing.T, seed uint64, members, probe string) {
		check(t, seed, strings.Split(members, ","), strings.Split(probe, ","))
	})
}

// TestSpreadsSimilarIDs guards the hash against IDs that differ in a byte or
// two, which a weak finish maps to a handful of slots for some seeds.
func TestSpreadsSimilarIDs(t *testing.T) {
	for _, prefix := range []string{"", "c", "cell-", "use1-az1-cell-"} {
		ids := make([]string, 100)
		for i := range ids {
			ids[i] = prefix + strconv.Itoa(100 + i)[1:]
		}
		r := rand.New(rand.NewPCG(3, 4))
		for range 500 {
			tab := New[val](r.Uint64(), len(ids))
			homes := make(map[uint64]bool)
			for _, id := range ids {
				a, b := Words(id)
				homes[tab.home(a, b, len(id))] = true
			}
			// 100 IDs thrown at random into 256 slots land in about 83.
			if len(homes) < 65 {
				t.Fatalf("prefix %q, seed %#x: 100 IDs have %d distinct home slots of %d; want at least 65",
					prefix, tab.Seed(), len(homes), len(tab.slots))
			}
		}
	}
}
