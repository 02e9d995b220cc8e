package cell_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
)

// TestRouteTableLookup checks the client's routing table, which finds a
// cell's route by a hash of its ID's first and last bytes, on IDs made to
// look alike: every length from 1 to placement.MaxCellID, IDs that share
// their first and last eight bytes and differ in the middle, prefixes of
// one another. Every key resolves to the cell and endpoint the map names,
// and each cell's counters are its own.
func TestRouteTableLookup(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	alphabet := "ab0-"
	seen := map[string]bool{}
	var ids []string
	add := func(id string) {
		if !seen[id] && placement.CheckCellID(id) == nil {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for n := 1; n <= placement.MaxCellID; n++ {
		add(strings.Repeat("a", n)) // prefixes of one another
		add("b" + strings.Repeat("a", n-1))
		add(strings.Repeat("a", n-1) + "b")
		for range 2 {
			var b strings.Builder
			b.WriteByte("ab0"[rng.IntN(3)])
			for b.Len() < n {
				b.WriteByte(alphabet[rng.IntN(len(alphabet))])
			}
			add(b.String())
		}
		if n > 16 { // the same first and last eight bytes, another middle
			mid := []byte(strings.Repeat("a", n-16))
			mid[rng.IntN(len(mid))] = 'b'
			add("head0000" + string(mid) + "0000tail")
			add("head0000" + strings.Repeat("a", n-16) + "0000tail")
		}
	}
	var cells []string
	url := map[string]string{}
	for i, id := range ids {
		url[id] = "http://e" + strconv.Itoa(i) + ".test"
		cells = append(cells, fmt.Sprintf("%s/z%d/active/%s", id, i%3, url[id]))
	}
	m := mapOf(t, 1, `, "buckets": 4096`, cells...)
	c := startClient(t, m, cell.Config{})

	ctx := context.Background()
	hits := map[string]int{}
	for i := range 40000 {
		key := "key-" + strconv.Itoa(i)
		a, err := m.Locate(key)
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Resolve(ctx, key)
		if err != nil || r.Cell != a.Cell || r.Endpoint != url[a.Cell] {
			t.Fatalf("Resolve(%q) = %s at %s, %v; the map says %s at %s", key, r.Cell, r.Endpoint, err, a.Cell, url[a.Cell])
		}
		if i%10 == 0 {
			err := c.Do(ctx, key, cell.Write, func(ctx context.Context, r cell.Route) error {
				if r.Cell != a.Cell || r.Endpoint != url[a.Cell] {
					return fmt.Errorf("fn called for %s at %s", r.Cell, r.Endpoint)
				}
				hits[r.Cell]++
				return nil
			})
			if err != nil {
				t.Fatalf("Do(%q): %v", key, err)
			}
		}
	}
	st := c.Stats()
	if len(st.Cells) != len(ids) {
		t.Fatalf("Stats lists %d cells; the map has %d", len(st.Cells), len(ids))
	}
	reached := 0
	for _, cs := range st.Cells {
		if cs.Attempts != uint64(hits[cs.Cell]) {
			t.Fatalf("cell %q counts %d attempts; fn was called %d times there", cs.Cell, cs.Attempts, hits[cs.Cell])
		}
		if hits[cs.Cell] > 0 {
			reached++
		}
	}
	if reached < len(ids)*9/10 {
		t.Fatalf("only %d of %d cells were reached; the test should reach nearly all", reached, len(ids))
	}
}
