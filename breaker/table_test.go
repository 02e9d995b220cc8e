package breaker

import (
	"math/rand/v2"
	"testing"
)

// checkTable compares the table built from members with a map, for every
// name in probe.
func checkTable(t *testing.T, seed uint64, members, probe []string) {
	t.Helper()
	want := make(map[string]*cellBreaker)
	var cells []*cellBreaker
	for _, name := range members {
		if _, dup := want[name]; dup {
			continue
		}
		c := &cellBreaker{name: name}
		if len(cells)%2 == 1 { // alternate available and forced open
			c.word.Store(packWord(1, ForcedOpen, Open))
		}
		want[name] = c
		cells = append(cells, c)
	}
	tab := newTable(seed, cells)
	for _, name := range append(probe, members...) {
		c := want[name]
		if got := tab.get(name); got != c {
			t.Fatalf("get(%q) = %v; want %v", name, got, c)
		}
		if got, want := tab.available(name), c != nil && c.word.Load() == 0; got != want {
			t.Fatalf("available(%q) = %v; want %v", name, got, want)
		}
	}
}

// TestTableMatchesMap is the differential test of the breaker's use of the
// lookup table (internal/idtable fuzzes the table itself): names of every
// length around the 4-, 8- and 16-byte boundaries, sharing prefixes and
// suffixes, as members and as misses.
func TestTableMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	randomName := func() string {
		const alphabet = "ab-0"
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 200 {
		members := make([]string, r.IntN(64))
		for i := range members {
			members[i] = randomName()
		}
		probe := make([]string, 64)
		for i := range probe {
			probe[i] = randomName()
		}
		checkTable(t, r.Uint64(), members, probe)
	}
	checkTable(t, 0, nil, []string{"", "x"})
	checkTable(t, 0, []string{""}, []string{"\x00", "a"})
	checkTable(t, 0, cellNames(1000), []string{"cell-1000", "cell-"})
}
