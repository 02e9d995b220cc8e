package ring

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
)

// Properties of owners, shards and tables, each asserted with fixed seeds and
// a stated tolerance.

const testSeed = 0x9e3779b97f4a7c15

// keyHash returns the hash of key "tenant-i". The first 400,000 are
// computed once and shared by every test (formatting and hashing them in each
// test cost more, under the race detector, than the properties themselves).
func keyHash(i int) uint64 {
	if hs := keyHashes(); i >= 0 && i < len(hs) {
		return hs[i]
	}
	return Hash(testSeed, "tenant-"+strconv.Itoa(i))
}

var keyHashes = sync.OnceValue(func() []uint64 {
	hs := make([]uint64, 400_000)
	for i := range hs {
		hs[i] = Hash(testSeed, "tenant-"+strconv.Itoa(i))
	}
	return hs
})

func peakOverMean(counts []int) float64 {
	peak, sum := 0, 0
	for _, c := range counts {
		peak = max(peak, c)
		sum += c
	}
	return float64(peak) / (float64(sum) / float64(len(counts)))
}

// TestBalance: 100 equal members, 400,000 keys, peak/mean ≤ 1.05 for owners,
// for a balanced table of 16,384 buckets and for shard slots. (With 4,000
// keys a member the standard deviation is 1.6%; 1.05 is about 3σ.)
func TestBalance(t *testing.T) {
	t.Parallel()
	const keys = 400_000
	r := mustNew(t, equalMembers(100))
	tab, err := NewBalancedTable(r, 16384)
	if err != nil {
		t.Fatal(err)
	}
	zoned := mustNew(t, zonedMembers(100, 4))
	owners, table, slots, zslots := make([]int, 100), make([]int, 100), make([]int, 100), make([]int, 100)
	var buf []int
	for i := range keys {
		h := keyHash(i)
		owners[r.Owner(h)]++
		table[tab.Owner(h)]++
		for _, m := range r.Shard(h, 4, buf) {
			slots[m]++
		}
		buf = zoned.Shard(h, 4, buf)
		for _, m := range buf {
			zslots[m]++
		}
	}
	for _, c := range []struct {
		name   string
		counts []int
	}{{"Owner", owners}, {"balanced table", table}, {"shard slots", slots}, {"shard slots, 4 zones", zslots}} {
		if got := peakOverMean(c.counts); got > 1.05 {
			t.Errorf("%s: peak/mean = %.4f; want ≤ 1.05", c.name, got)
		}
	}
}

// TestTableBalance: a balanced table holds every member within one bucket of
// its weighted share; a rendezvous table has the spread of independent draws.
func TestTableBalance(t *testing.T) {
	t.Parallel()
	ms := equalMembers(100)
	for i := range ms {
		ms[i].Weight = float64(1 + i%4)
	}
	r := mustNew(t, ms)
	tab, err := NewBalancedTable(r, 16384)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range tab.Counts() {
		share := 16384 * r.Member(i).Weight / 250
		if math.Abs(float64(c)-share) >= 1 {
			t.Errorf("member %d (weight %v) owns %d buckets; want within 1 of %.2f", i, r.Member(i).Weight, c, share)
		}
	}
	pure, err := NewTable(mustNew(t, equalMembers(100)), 16384)
	if err != nil {
		t.Fatal(err)
	}
	// Each count is Binomial(16384, 1/100): σ ≈ 12.7 around 163.84, so
	// the spread of 100 counts stays within 2σ..6σ of the mean.
	if got := peakOverMean(pure.Counts()); got < 1.1 || got > 1.5 {
		t.Errorf("rendezvous table peak/mean = %.3f; want in [1.1, 1.5]", got)
	}
}

// TestMovement: adding one member to 100 moves between 0.9 and 1.1 of the
// ideal 1/101 of keys, every one to the new member; removing one moves only
// its keys; changing one weight moves keys only to or from that member. For
// Owner and for the rendezvous table.
func TestMovement(t *testing.T) {
	t.Parallel()
	const keys = 200_000
	base := equalMembers(100)
	added := append(slices.Clone(base), Member{ID: "cell-new", Weight: 1})
	removed := slices.Delete(slices.Clone(base), 37, 38)
	reweighted := slices.Clone(base)
	reweighted[12].Weight = 2.5

	type lookup func(*Ring, uint64) string
	owner := func(r *Ring, h uint64) string { return r.Member(r.Owner(h)).ID }
	tableOf := func(r *Ring) lookup {
		tab, err := NewTable(r, 16384)
		if err != nil {
			t.Fatal(err)
		}
		return func(_ *Ring, h uint64) string { return r.Member(tab.Owner(h)).ID }
	}
	for _, via := range []string{"Owner", "NewTable"} {
		a := mustNew(t, base)
		for _, tc := range []struct {
			name  string
			next  []Member
			allow func(from, to string) bool
			frac  [2]float64 // bounds of the moved fraction
		}{
			{"add", added, func(_, to string) bool { return to == "cell-new" }, [2]float64{0.9 / 101, 1.1 / 101}},
			{"remove", removed, func(from, _ string) bool { return from == "cell-037" }, [2]float64{0.9 / 100, 1.1 / 100}},
			{"reweight", reweighted, func(from, to string) bool { return to == "cell-012" || from == "cell-012" }, [2]float64{0, 1}},
		} {
			b := mustNew(t, tc.next)
			fa, fb := lookup(owner), lookup(owner)
			if via == "NewTable" {
				fa, fb = tableOf(a), tableOf(b)
			}
			moved := 0
			for i := range keys {
				h := keyHash(i)
				if from, to := fa(a, h), fb(b, h); from != to {
					moved++
					if !tc.allow(from, to) {
						t.Fatalf("%s %s: key %d moved %s → %s", via, tc.name, i, from, to)
					}
				}
			}
			if f := float64(moved) / keys; f < tc.frac[0] || f > tc.frac[1] {
				t.Errorf("%s %s: moved %.4f of keys; want in [%.4f, %.4f]", via, tc.name, f, tc.frac[0], tc.frac[1])
			}
		}
	}
}

// TestShardZoneBalance: per-zone counts in a shard differ by at most one
// whenever every zone has enough members, for Shard and ShardFrom.
func TestShardZoneBalance(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	for _, sizes := range [][]int{{10, 10, 10}, {2, 5, 9}, {4, 4}, {3, 3, 3, 3, 3}} {
		var ms []Member
		for z, n := range sizes {
			for i := range n {
				ms = append(ms, Member{ID: fmt.Sprintf("z%d-m%d", z, i), Zone: fmt.Sprintf("z%d", z), Weight: 1 + float64(i%3)})
			}
		}
		r := mustNew(t, ms)
		enough := len(sizes) * slices.Min(sizes) // k ≤ this leaves no zone short
		for q := 0; q < 3000; q++ {
			h := rng.Uint64()
			k := 1 + rng.IntN(enough)
			home := rng.IntN(r.Len())
			from, _ := r.ShardFrom(h, home, k, nil)
			for name, shard := range map[string][]int{"Shard": r.Shard(h, k, nil), "ShardFrom": from} {
				per := map[string]int{}
				for _, m := range shard {
					per[r.Member(m).Zone]++
				}
				lo, hi := k, 0
				for z := range sizes {
					c := per[fmt.Sprintf("z%d", z)]
					lo, hi = min(lo, c), max(hi, c)
				}
				if hi-lo > 1 {
					t.Fatalf("sizes %v: %s(%#x, %d) per zone %v", sizes, name, h, k, per)
				}
			}
		}
	}
}

// TestShardPrefix: Shard(h, k) is a prefix of Shard(h, k+1), for every k.
func TestShardPrefix(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 14))
	for range 30 {
		ms := randomMembers(rng)
		r := mustNew(t, ms)
		for q := 0; q < 50; q++ {
			h := rng.Uint64()
			home := rng.IntN(r.Len())
			full := r.Shard(h, r.Len()+1, nil)
			fullFrom, _ := r.ShardFrom(h, home, r.Len()+1, nil)
			for k := 0; k <= r.Len(); k++ {
				if got := r.Shard(h, k, nil); !slices.Equal(got, full[:min(k, len(full))]) {
					t.Fatalf("Shard(%#x, %d) = %v is not a prefix of %v", h, k, got, full)
				}
				if got, _ := r.ShardFrom(h, home, k, nil); !slices.Equal(got, fullFrom[:min(k, len(fullFrom))]) {
					t.Fatalf("ShardFrom(%#x, %d, %d) = %v is not a prefix of %v", h, home, k, got, fullFrom)
				}
			}
			if len(full) == 0 || full[0] != r.Owner(h) {
				t.Fatalf("Shard(%#x) = %v does not start with Owner = %d", h, full, r.Owner(h))
			}
		}
	}
}

// changed counts the members of a not in b.
func changed(ra *Ring, a []int, rb *Ring, b []int) int {
	n := 0
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y int) bool { return rb.Member(y).ID == ra.Member(x).ID }) {
			n++
		}
	}
	return n
}

// TestShardStability: when one member joins or leaves, a key whose owner did
// not change sees at most one member of its shard change (Infima's sharder
// changes 3.24 of 4), in an existing zone or a new one; ShardFrom with an
// unchanged home likewise. The test also reports the mean change.
func TestShardStability(t *testing.T) {
	t.Parallel()
	base := zonedMembers(30, 3)
	for i := range base {
		base[i].Weight = float64(1 + i%2)
	}
	withSolo := append(slices.Clone(base), Member{ID: "solo", Zone: "az7", Weight: 1})
	for _, tc := range []struct {
		name       string
		prev, next []Member
	}{
		{"join existing zone", base, append(slices.Clone(base), Member{ID: "joiner", Zone: "az1", Weight: 1})},
		{"join new zone", base, withSolo},
		{"leave", base, slices.Delete(slices.Clone(base), 4, 5)},
		{"leave zone", withSolo, base},
	} {
		name, prev, next := tc.name, tc.prev, tc.next
		a, b := mustNew(t, prev), mustNew(t, next)
		for _, k := range []int{2, 4, 5, 8} {
			total, keys := 0, 0
			for i := 0; i < 20000; i++ {
				h := keyHash(i)
				oa, ob := a.Member(a.Owner(h)).ID, b.Member(b.Owner(h)).ID
				if oa != ob {
					continue
				}
				sa, sb := a.Shard(h, k, nil), b.Shard(h, k, nil)
				c := changed(a, sa, b, sb)
				if c > 1 {
					t.Fatalf("%s, k=%d: key %d changed %d members: %v → %v", name, k, i, c, ids(a, sa), ids(b, sb))
				}
				// The same home through ShardFrom.
				hb, _ := b.Index(oa)
				fa, _ := a.ShardFrom(h, a.Owner(h), k, nil)
				fb, _ := b.ShardFrom(h, hb, k, nil)
				if c := changed(a, fa, b, fb); c > 1 {
					t.Fatalf("%s, k=%d: ShardFrom key %d changed %d members", name, k, i, c)
				}
				total += c
				keys++
			}
			t.Logf("%s, k=%d: %.3f members changed per key", name, k, float64(total)/float64(keys))
		}
	}
}

// TestOverlapLaw: on one zone of equal weights the overlap of two random
// keys' shards follows the hypergeometric law: a chi-square test over 200,000
// pairs for n=20, k=4 (4 degrees of freedom; 18.47 is the 0.1% critical
// value), and at most 2 full overlaps in 10⁶ pairs for n=100, k=5.
func TestOverlapLaw(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(15, 16))
	overlap := func(a, b []int) int {
		n := 0
		for _, x := range a {
			if slices.Contains(b, x) {
				n++
			}
		}
		return n
	}
	r := mustNew(t, equalMembers(20))
	const pairs = 200_000
	var hist [5]int
	var a, b []int
	for range pairs {
		a = r.Shard(rng.Uint64(), 4, a)
		b = r.Shard(rng.Uint64(), 4, b)
		hist[overlap(a, b)]++
	}
	chi := 0.0
	for o, got := range hist {
		want := pairs * Overlap(20, 4, o)
		chi += (float64(got) - want) * (float64(got) - want) / want
	}
	if chi > 18.47 {
		t.Errorf("overlap histogram %v: chi-square %.2f; want ≤ 18.47", hist, chi)
	}
	t.Logf("n=20 k=4 overlap histogram %v, chi-square %.2f", hist, chi)

	big := mustNew(t, equalMembers(100))
	pairs2 := 1_000_000
	if testing.Short() {
		pairs2 = 200_000
	}
	full := 0
	for range pairs2 {
		a = big.Shard(rng.Uint64(), 5, a)
		b = big.Shard(rng.Uint64(), 5, b)
		if overlap(a, b) == 5 {
			full++
		}
	}
	if full > 2 {
		t.Errorf("n=100 k=5: %d full overlaps in %d pairs; want ≤ 2 (expected %.3f)", full, pairs2, float64(pairs2)/75287520)
	}
}

// TestWeightLaw pins the weight law. Owner picks member i with probability
// wᵢ/Σw; within a zone, shard members follow in Plackett–Luce order: each
// next one is drawn from those left with probability proportional to weight.
// With weights 1, 2, 3 the ordered pair (a, b) leads a shard with probability
// wₐ/6 · w_b/(6−wₐ). Tolerance: 0.5 percentage points over 300,000 keys
// (about 7σ for the rarest pair).
func TestWeightLaw(t *testing.T) {
	t.Parallel()
	r := mustNew(t, []Member{{ID: "a", Weight: 1}, {ID: "b", Weight: 2}, {ID: "c", Weight: 3}})
	const keys = 300_000
	pairs := map[[2]int]int{}
	var buf []int
	for i := range keys {
		buf = r.Shard(keyHash(i), 2, buf)
		pairs[[2]int{buf[0], buf[1]}]++
	}
	w := []float64{1, 2, 3}
	for x := range 3 {
		for y := range 3 {
			if x == y {
				continue
			}
			want := w[x] / 6 * w[y] / (6 - w[x])
			got := float64(pairs[[2]int{x, y}]) / keys
			if math.Abs(got-want) > 0.005 {
				t.Errorf("P(shard starts %d, %d) = %.4f; want %.4f", x, y, got, want)
			}
		}
	}
	// Shard slots grow with weight on a larger ring.
	ms := equalMembers(40)
	for i := range ms {
		ms[i].Weight = float64(1 + i%4)
	}
	big := mustNew(t, ms)
	slots := make([]float64, 5)
	for i := range 100_000 {
		for _, m := range big.Shard(keyHash(i), 4, buf) {
			slots[int(big.Member(m).Weight)]++
		}
	}
	for wgt := 2; wgt <= 4; wgt++ {
		if slots[wgt] <= slots[wgt-1] {
			t.Errorf("weight %d members hold %v shard slots, weight %d %v; want more", wgt, slots[wgt], wgt-1, slots[wgt-1])
		}
	}
}
