package ring

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// A fleet is a named member list for the differential tests.
type fleet struct {
	name string
	ms   []Member
}

// sizedMembers returns members in zones of the given sizes, weighted by
// weight(zone, i) where i counts members of every zone.
func sizedMembers(sizes []int, weight func(z, i int) float64) []Member {
	var ms []Member
	for z, n := range sizes {
		for range n {
			i := len(ms)
			ms = append(ms, Member{ID: fmt.Sprintf("m%04d", i), Zone: fmt.Sprintf("zone-%02d", z), Weight: weight(z, i)})
		}
	}
	return ms
}

// differentialFleets covers the shapes the fast path distinguishes: one and
// several zones, equal weights, one weight per zone, weights mixed inside
// zones, zero weights (single members and whole zones), uneven zones, zones
// across the 64-member word boundaries, more zones than any shard takes, and
// random fleets.
func differentialFleets(rng *rand.Rand) []fleet {
	one := func(z, i int) float64 { return 1 }
	perZone := func(z, i int) float64 { return float64(1 + z) }
	mixed := func(z, i int) float64 { return float64(1 + i%4) }
	someZero := func(z, i int) float64 {
		if i%5 == 2 {
			return 0
		}
		return float64(1 + i%3)
	}
	var fs []fleet
	add := func(name string, ms []Member) { fs = append(fs, fleet{name, ms}) }
	for _, n := range []int{1, 2, 3, 5, 8, 10, 17, 33, 63, 64, 65, 100, 127, 128, 129, 200, 1000} {
		add(fmt.Sprintf("one zone/equal/n=%d", n), sizedMembers([]int{n}, one))
	}
	for _, n := range []int{10, 64, 100, 129, 1000} {
		add(fmt.Sprintf("one zone/mixed/n=%d", n), sizedMembers([]int{n}, mixed))
		add(fmt.Sprintf("one zone/zeros/n=%d", n), sizedMembers([]int{n}, someZero))
	}
	for _, sizes := range [][]int{{34, 33, 33}, {4, 3, 3}, {2, 2}, {50, 50}, {64, 65}, {1, 50, 3}, {2, 5, 9}, {64, 1, 65},
		{10, 10, 10, 10, 10}, {1, 1, 1, 1, 1, 1, 1, 1, 1}, {3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
		{334, 333, 333}, {200, 7, 100, 1}} {
		for _, w := range []struct {
			name string
			f    func(z, i int) float64
		}{{"equal", one}, {"per zone", perZone}, {"mixed", mixed}, {"zeros", someZero}} {
			add(fmt.Sprintf("zones %v/%s", sizes, w.name), sizedMembers(sizes, w.f))
		}
	}
	// Whole zones of weight 0, and a zone of one member among large ones.
	add("zero zone", sizedMembers([]int{20, 20, 20}, func(z, i int) float64 { return float64(z % 2) }))
	add("zero zones", sizedMembers([]int{5, 30, 5, 30}, func(z, i int) float64 { return float64(z % 2 * (1 + i%2)) }))
	add("extreme weights", sizedMembers([]int{40, 40}, func(z, i int) float64 { return []float64{1e-300, 1e-3, 1, 7, 1e6, 1e300}[i%6] }))
	add("random weights", sizedMembers([]int{70, 40, 3}, func(z, i int) float64 { return rng.Float64() * 10 }))
	add("many zones", zonedMembers(120, 60))
	add("a zone each", zonedMembers(90, 90))
	// More zones than the zone sieve's cut, some of several members and
	// mixed weights: shards of up to maxSpreadK take one member a zone.
	add("a zone each, wide", zonedMembers(100, 100))
	add("many zones, wide", sizedMembers(append(slices.Repeat([]int{1}, 70), 3, 7, 2, 5), mixed))
	for i := range 60 {
		add(fmt.Sprintf("random %d", i), randomMembers(rng))
	}
	for i := range 10 {
		n, zones := 50+rng.IntN(250), 1+rng.IntN(8)
		ms := randomMembers(rng)
		for len(ms) < n {
			ms = append(ms, Member{ID: fmt.Sprintf("r%d-%d", i, len(ms)), Zone: fmt.Sprintf("z%d", rng.IntN(zones)), Weight: float64(rng.IntN(4))})
		}
		add(fmt.Sprintf("random large %d", i), ms)
	}
	return fs
}

// checkFast compares Owner, Shard and ShardFrom of r with the reference for
// hash h: Shard for every k in ks, ShardFrom for every k in ks around home.
func checkFast(t *testing.T, name string, r *Ring, h uint64, ks []int, homes []int) {
	t.Helper()
	if got, want := r.Owner(h), refOwner(r, h); got != want {
		t.Fatalf("%s: Owner(%#x) = %d; want %d", name, h, got, want)
	}
	var got, want []int
	for _, k := range ks {
		got, want = r.Shard(h, k, got), refShardOf(r, h, k, want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: Shard(%#x, %d) = %v; want %v", name, h, k, got, want)
		}
		for _, home := range homes {
			got, _ = r.ShardFrom(h, home, k, got)
			want = refShardFrom(r, h, home, k, want)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: ShardFrom(%#x, %d, %d) = %v; want %v", name, h, home, k, got, want)
			}
		}
	}
}

// TestSieveDifferential checks the fast path of Owner, Shard and ShardFrom
// bit for bit against the code it replaced (ref_test.go) on every fleet of
// differentialFleets: k from 0 past the number of members, ShardFrom around
// every member (weight 0 included) for some keys, and around a random one
// for the others. CELLKIT_FULL=1 runs it at full size.
func TestSieveDifferential(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 22))
	// Every branch below runs at either size: keys 0 and 1 sweep every
	// home, 2 to 5 every k. CELLKIT_FULL=1 runs 100 keys a fleet.
	keys := 100
	switch {
	case fullSize():
	case testing.Short() || raceEnabled:
		keys = 12
	default:
		keys = 40
	}
	for _, f := range differentialFleets(rng) {
		r := mustNew(t, f.ms)
		n := r.Len()
		var ks []int
		for k := 0; k <= min(n, 2*maxFastK+1)+2; k++ {
			ks = append(ks, k)
		}
		if n > maxSpreadK {
			ks = append(ks, maxSpreadK-1, maxSpreadK, maxSpreadK+1)
		}
		// small leaves out the long shards, which cost the reference most.
		small := ks
		if n > 2*maxFastK {
			ks = append(slices.Clip(ks), n/2, n-1, n, n+1)
		}
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		for q := range keys {
			h := rng.Uint64()
			switch {
			case q < 2 && n <= 200: // every home
				checkFast(t, f.name, r, h, ks[:min(len(ks), maxFastK+3)], all)
			case q < 1:
				checkFast(t, f.name, r, h, []int{1, 2, 3, 4, 8, 16, 17}, all)
			case q < 3 || q < 6 && (n <= 200 || fullSize()): // every k
				checkFast(t, f.name, r, h, ks, []int{rng.IntN(n)})
			case q < 6:
				checkFast(t, f.name, r, h, small, []int{rng.IntN(n)})
			case n <= 200: // the long shards cost the reference most
				checkFast(t, f.name, r, h, small, []int{rng.IntN(n)})
			default:
				checkFast(t, f.name, r, h, []int{0, 1, 2, 3, 4, 5, 8, 16, 17}, []int{rng.IntN(n)})
			}
		}
	}
}

// TestSieveFallbacks forces each fallback of the fast path and checks its
// answers: sieves that keep nobody (the retry, then the general rank),
// score bounds that no member reaches, and exact ties between two members'
// draws, which only the general rank orders (a doctored ring where two
// members share a seed, as two IDs with the same hash would). CELLKIT_FULL=1
// runs it at full size.
func TestSieveFallbacks(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(23, 24))
	shapes := []fleet{
		{"one zone", zonedMembers(100, 1)},
		{"three zones", zonedMembers(100, 3)},
		{"mixed", weightedMembers(100, 3, false)},
		{"per zone", weightedMembers(100, 3, true)},
		{"many zones", zonedMembers(40, 20)},
		{"a zone each", zonedMembers(90, 90)},
		{"wide zones", weightedMembers(1200, 2, true)},
		{"wide mixed", weightedMembers(1200, 2, false)},
	}
	doctor := []struct {
		name string
		f    func(r *Ring)
	}{
		{"nobody survives", func(r *Ring) {
			for i := range r.thr {
				r.thr[i] = math.MaxUint64 &^ (1<<33 - 1)
			}
			for i := range r.zoneQ {
				r.zoneQ[i] = 0
			}
			for i := range r.ownThr {
				r.ownThr[i] = [2]uint64{math.MaxUint64 &^ (1<<33 - 1), math.MaxUint64 &^ (1<<33 - 1)}
			}
			r.allThr = r.ownThr[0]
			for i := range r.zoneThr {
				r.zoneThr[i] = [2]uint64{math.MaxUint64 &^ (1<<33 - 1), math.MaxUint64 &^ (1<<33 - 1)}
			}
		}},
		{"first level keeps nobody", func(r *Ring) {
			for z := range r.zones {
				for _, t := range firstLevel[1:] {
					for g := r.zones[z].glo; g < r.zones[z].ghi; g++ {
						r.thr[int(g)*ladder+int(t)] = math.MaxUint64 &^ (1<<33 - 1)
					}
					r.zoneQ[z*ladder+int(t)] = 0
				}
			}
			for i := range r.ownThr {
				r.ownThr[i][0] = math.MaxUint64 &^ (1<<33 - 1)
			}
			r.allThr[0] = math.MaxUint64 &^ (1<<33 - 1)
			for i := range r.zoneThr {
				r.zoneThr[i][0] = math.MaxUint64 &^ (1<<33 - 1)
			}
		}},
		{"everybody survives", func(r *Ring) {
			clear(r.thr)
			for i := range r.zoneQ {
				r.zoneQ[i] = math.Inf(1)
			}
			clear(r.ownThr)
			r.allThr = [2]uint64{}
			clear(r.zoneThr)
		}},
		{"tied seeds", func(r *Ring) {
			// Members at positions 1, 2 and the last of every group draw
			// alike: the tie on x goes to the smaller index.
			for _, g := range r.groups {
				if g.hi-g.lo < 3 {
					continue
				}
				for _, p := range []int32{g.lo + 2, g.hi - 1} {
					r.eSeed[p] = r.eSeed[g.lo+1]
					r.pre[p] = r.pre[g.lo+1]
				}
			}
			// And zones 2 and the last rank alike: the tie goes to the
			// smaller zone index.
			if len(r.live) > 3 {
				for _, i := range []int{2, len(r.live) - 1} {
					r.zones[r.live[i]].seed = r.zones[r.live[1]].seed
					if r.zpre != nil {
						r.zpre[i] = r.zpre[1]
					}
				}
			}
		}},
	}
	keys := 300 // a shape and a doctor; CELLKIT_FULL=1 runs 300
	if !fullSize() {
		keys = 60
	}
	for _, s := range shapes {
		for _, d := range doctor {
			r := mustNew(t, s.ms)
			d.f(r)
			name := s.name + "/" + d.name
			for range keys {
				h := rng.Uint64()
				checkFast(t, name, r, h, []int{1, 2, 3, 4, 5, 8, 16, 17, maxSpreadK}, []int{rng.IntN(r.Len())})
			}
		}
	}
}

// TestSieve checks the sieve against the draws it stands for, at
// thresholds 0, random multiples of 2³³ and the largest one, for every
// length up to 64.
func TestSieve(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	seeds := make([]uint64, 64)
	pre := make([]uint64, 64)
	for i := range seeds {
		seeds[i] = rng.Uint64()
		pre[i] = seeds[i] ^ seeds[i]>>30
	}
	for q := range 2000 {
		h := rng.Uint64()
		thr := rng.Uint64() &^ (1<<33 - 1)
		switch q % 10 {
		case 0:
			thr = 0
		case 1:
			thr = math.MaxUint64 &^ (1<<33 - 1)
		}
		n := q % 65
		var want uint64
		for i := range n {
			if mix(h^seeds[i]) >= thr {
				want |= 1 << i
			}
			if got := mixTail((h ^ h>>30) ^ pre[i]); got != mix(h^seeds[i]) {
				t.Fatalf("mixTail = %#x; want mix = %#x", got, mix(h^seeds[i]))
			}
		}
		if got := sieve(pre[:n], h^h>>30, thr, mixM1, mixM2); got != want {
			t.Fatalf("sieve(n=%d, h=%#x, t=%#x) = %#x; want %#x", n, h, thr, got, want)
		}
	}
}

// TestTopNetworks checks every network size against a sort.
func TestTopNetworks(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	for q := range 3000 {
		size := netSize(1 + q%maxFastK)
		keys := make([]uint64, rng.IntN(40))
		for i := range keys {
			keys[i] = rng.Uint64() >> rng.IntN(64)
		}
		net := make([]uint64, size)
		offer(net, keys[:len(keys)/2])
		offer(net, keys[len(keys)/2:])
		want := append(slices.Clone(keys), make([]uint64, size)...)
		sort.Slice(want, func(i, j int) bool { return want[i] > want[j] })
		if !slices.Equal(net, want[:size]) {
			t.Fatalf("top %d of %v = %v; want %v", size, keys, net, want[:size])
		}
	}
}

// TestThresholds checks the key-independent thresholds: a draw threshold
// keeps about its target of members, and a score threshold T is safe (every
// draw below T scores above the bound) and nearly the largest safe one.
func TestThresholds(t *testing.T) {
	for _, size := range []int{3, 10, 100, 1000} {
		for _, s := range sieveTarget {
			thr := drawThreshold(size, s)
			if thr&(1<<33-1) != 0 {
				t.Fatalf("drawThreshold(%d, %v) = %#x; not a multiple of 2³³", size, s, thr)
			}
			if s >= float64(size) {
				if thr != 0 {
					t.Errorf("drawThreshold(%d, %v) = %#x; want 0", size, s, thr)
				}
				continue
			}
			kept := float64(size) * (1 - float64(thr)/0x1p64)
			if math.Abs(kept-s) > 1e-6*s+float64(size)*0x1p-31 {
				t.Errorf("drawThreshold(%d, %v) keeps %v members on average", size, s, kept)
			}
		}
	}
	rng := rand.New(rand.NewPCG(29, 30))
	for range 3000 {
		q := math.Exp(rng.Float64()*80 - 60)
		w := math.Exp(rng.Float64()*80 - 40)
		thr := scoreThreshold(q, w)
		if thr&(1<<33-1) != 0 {
			t.Fatalf("scoreThreshold(%v, %v) = %#x; not a multiple of 2³³", q, w, thr)
		}
		if thr > 0 && !(expScore(thr-1)/w > q) {
			t.Fatalf("scoreThreshold(%v, %v) = %#x: x = T−1 scores %v ≤ %v", q, w, thr, expScore(thr-1)/w, q)
		}
		if next := thr + 1<<33; next != 0 && expScore(next-1)/w > q && thr+5<<33 > thr && expScore(thr+5<<33-1)/w > q {
			t.Fatalf("scoreThreshold(%v, %v) = %#x is not nearly the largest safe threshold", q, w, thr)
		}
	}
	if got := scoreThreshold(math.Inf(1), 1); got != 0 {
		t.Errorf("scoreThreshold(+Inf, 1) = %#x; want 0", got)
	}
}

// TestSieveSurvivors pins the cost model the thresholds were tuned for: on
// one zone of 100 equal members, the first sieve for k = 4 keeps 8 members
// on average and decides at least 95% of keys (a binomial count of mean 8
// falls below 4 with probability 0.036: those keys pay for a second sieve).
func TestSieveSurvivors(t *testing.T) {
	t.Parallel()
	r := mustNew(t, equalMembers(100))
	l := int(firstLevel[4])
	thr := r.thr[int(r.zones[0].glo)*ladder+l]
	kept, decided := 0, 0
	const keys = 20000
	for i := range keys {
		h := keyHash(i)
		hp := h ^ h>>30
		c := bits.OnesCount64(sieve(r.pre[:64], hp, thr, mixM1, mixM2)) + bits.OnesCount64(sieve(r.pre[64:], hp, thr, mixM1, mixM2))
		kept += c
		var out [4]int32
		var s sift
		if r.sieveZone(&s, h, 0, -1, l, out[:]) {
			decided++
		}
	}
	if mean := float64(kept) / keys; math.Abs(mean-sieveTarget[l]) > 0.2 {
		t.Errorf("first sieve keeps %.2f members on average; want %v ± 0.2", mean, sieveTarget[l])
	}
	if f := float64(decided) / keys; f < 0.95 {
		t.Errorf("first sieve decides %.4f of keys; want ≥ 0.95", f)
	}
}

// TestSieveAllocs: Owner, Shard and ShardFrom allocate nothing on every
// shape of the fast path (and the general path's shards up to 8), with a
// buffer of capacity k.
func TestSieveAllocs(t *testing.T) {
	fleets := []fleet{
		{"one zone", zonedMembers(100, 1)},
		{"three zones", zonedMembers(100, 3)},
		{"mixed", weightedMembers(100, 3, false)},
		{"per zone", weightedMembers(100, 3, true)},
		{"many zones", zonedMembers(60, 30)},
		{"n=1000", weightedMembers(1000, 3, false)},
		{"zeros", sizedMembers([]int{30, 30, 30}, func(z, i int) float64 { return float64(i % 3) })},
	}
	for _, f := range fleets {
		r := mustNew(t, f.ms)
		for _, k := range []int{1, 2, 3, 4, 5, 8, 16} {
			dst := make([]int, 0, k)
			h := uint64(1)
			a := testing.AllocsPerRun(100, func() {
				h = lcg(h)
				dst = r.Shard(h, k, dst)
				dst, _ = r.ShardFrom(h, int(h%uint64(r.Len())), k, dst)
				sink += r.Owner(h)
			})
			if a != 0 {
				t.Errorf("%s, k=%d: %v allocations; want 0", f.name, k, a)
			}
		}
	}
}

// BenchmarkNew is the cost of New, the sieve's thresholds included.
func BenchmarkNew(b *testing.B) {
	for _, f := range []fleet{
		{"zones=3/n=100", zonedMembers(100, 3)},
		{"mixed/zones=3/n=1000", weightedMembers(1000, 3, false)},
	} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(f.ms); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestApproxScore checks the error bounds the fast path relies on:
// approxScore is within 2⁻²² of expScore, relatively, for draws across
// every binade and near each binade's edges; keys that approxApart tells
// apart hold scores more than 1 + 4·approxErr apart; and expScoreFloor,
// the contest's filter, never exceeds expScore by more than rounding.
func TestApproxScore(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	check := func(x uint64) {
		e, a := expScore(x), approxScore(x)
		if math.Abs(a-e) > 0x1p-22*e {
			t.Fatalf("approxScore(%#x) = %v; expScore = %v, off by %.3g", x, a, e, math.Abs(a-e)/e)
		}
		if f := expScoreFloor(x); f > e*(1+0x1p-50) {
			t.Fatalf("expScoreFloor(%#x) = %v > expScore = %v", x, f, e)
		}
	}
	for range 300000 {
		check(rng.Uint64() >> rng.IntN(64))
	}
	for p := 1; p < 53; p++ {
		for _, d := range []int64{-3, -1, 0, 1, 3} {
			n := uint64(int64(1)<<p + d)
			check(n >> 1 << 12)
		}
	}
	check(math.MaxUint64)
	check(0)
	for range 300000 {
		qa := math.Exp(rng.Float64()*1380 - 690)
		qb := qa * (1 + rng.Float64()*0x1p-15)
		ka := ^math.Float64bits(qa) &^ (1<<25 - 1) // positions in the low 25 bits, the widest
		kb := ^math.Float64bits(qb) | (1<<25 - 1)
		if approxApart(ka, kb) && qb <= qa*(1+4*approxErr) {
			t.Fatalf("approxApart says %v and %v are apart", qa, qb)
		}
	}
}
