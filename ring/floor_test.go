package ring

import (
	"fmt"
	"math/bits"
	"testing"
)

// The floor of an exact shard on this machine, measured in the same run as
// the real thing. Each measured loop is in its own non-inlined function: in
// Go 1.26 a variable assigned inside a b.Loop body lives in memory, which
// would add a store and a load to every step of a loop written there.

// hashAll is the hashing every exact rendezvous shard must do: mix(h ^ s)
// for every member.
//
//go:noinline
func hashAll(seeds []uint64, h uint64) uint64 {
	var acc uint64
	for _, s := range seeds {
		acc += mix(h ^ s)
	}
	return acc
}

// sieveAll is the sieve of Shard's fast path over every member: hashAll
// with a compare instead of the last step, bits instead of a sum.
//
//go:noinline
func sieveAll(pre []uint64, h, t uint64) uint64 {
	hp := h ^ h>>30
	var acc uint64
	for base := 0; base < len(pre); base += 64 {
		acc += sieve(pre[base:min(base+64, len(pre))], hp, t, mixM1, mixM2)
	}
	return acc
}

// rankSurvivors is the rank of the fast path alone: the survivors of a
// sieve, given as masks, recomputed and offered to a top-t network.
//
//go:noinline
func rankSurvivors(pre []uint64, h uint64, masks []uint64, t int) uint64 {
	hp := h ^ h>>30
	var buf [maxFastK + 1]uint64
	net := buf[:netSize(t)]
	var keys [64]uint64
	for w, m := range masks {
		c := 0
		for ; m != 0; m &= m - 1 {
			p := w*64 + bits.TrailingZeros64(m)
			keys[c&63] = mixTail(hp^pre[p])&^127 | uint64(p)
			c++
		}
		offer(net, keys[:c])
	}
	return net[0] ^ net[t-1]
}

// top4Branchy is the branchy loop the old BenchmarkFloor/top4 measured:
// hash every member and keep the best four by insertion.
//
//go:noinline
func top4Branchy(seeds []uint64, h uint64) int {
	var xs [4]uint64
	var is [4]int
	for p, s := range seeds {
		x := mix(h ^ s)
		if x <= xs[3] {
			continue
		}
		n := 3
		for ; n > 0 && x > xs[n-1]; n-- {
			xs[n], is[n] = xs[n-1], is[n-1]
		}
		xs[n], is[n] = x, p
	}
	return is[0] + is[3]
}

// BenchmarkFloor measures, on one zone of 100 equal members and k = 4, what
// any exact shard must do and what the fast path's parts cost: hashing every
// member (hash), the sieve (sieve; it computes no final step and keeps bits),
// ranking the ~9 survivors of that sieve (rank), and the old branchy top-4
// loop (top4). Shard's cost is best read against hash, and against sieve +
// rank.
func BenchmarkFloor(b *testing.B) {
	r := mustNew(b, equalMembers(100))
	t := r.thr[int(r.zones[0].glo)*ladder+int(firstLevel[4])]
	b.Run("hash/n=100", func(b *testing.B) {
		h := uint64(1)
		for b.Loop() {
			h = lcg(h)
			sink += int(hashAll(r.eSeed, h))
		}
	})
	b.Run("sieve/n=100", func(b *testing.B) {
		h := uint64(1)
		for b.Loop() {
			h = lcg(h)
			sink += int(sieveAll(r.pre, h, t))
		}
	})
	// The survivors of 1024 hashes, sieved beforehand.
	const keys = 1024
	hs := make([]uint64, keys)
	masks := make([][2]uint64, keys)
	survivors := 0
	for i := range hs {
		hs[i] = lcg(uint64(i) + 1)
		hp := hs[i] ^ hs[i]>>30
		masks[i] = [2]uint64{sieve(r.pre[:64], hp, t, mixM1, mixM2), sieve(r.pre[64:], hp, t, mixM1, mixM2)}
		survivors += bits.OnesCount64(masks[i][0]) + bits.OnesCount64(masks[i][1])
	}
	b.Run("rank/n=100", func(b *testing.B) {
		i := 0
		for b.Loop() {
			sink += int(rankSurvivors(r.pre, hs[i%keys], masks[i%keys][:], 4))
			i++
		}
		b.ReportMetric(float64(survivors)/keys, "survivors/op")
	})
	b.Run("top4/n=100", func(b *testing.B) {
		h := uint64(1)
		for b.Loop() {
			h = lcg(h)
			sink += top4Branchy(r.eSeed, h)
		}
	})
}

// BenchmarkSieveVsRef runs the fast path (new) and the code it replaced
// (ref, kept in ref_test.go) side by side on the same fleets, for ratios
// from one run.
func BenchmarkSieveVsRef(b *testing.B) {
	type impl struct {
		name  string
		shard func(r *Ring, h uint64, k int, dst []int) []int
		from  func(r *Ring, h uint64, home, k int, dst []int) []int
		owner func(r *Ring, h uint64) int
	}
	impls := []impl{
		{"new", (*Ring).Shard, func(r *Ring, h uint64, home, k int, dst []int) []int {
			dst, _ = r.ShardFrom(h, home, k, dst)
			return dst
		}, (*Ring).Owner},
		{"ref", refShardOf, refShardFrom, refOwner},
	}
	fleets := []struct {
		name string
		ms   []Member
	}{
		{"zones=1/n=100", zonedMembers(100, 1)},
		{"zones=3/n=100", zonedMembers(100, 3)},
		{"mixed/zones=3/n=100", weightedMembers(100, 3, false)},
		{"perzone/zones=3/n=100", weightedMembers(100, 3, true)},
		{"zones=1/n=1000", zonedMembers(1000, 1)},
		{"zones=3/n=1000", zonedMembers(1000, 3)},
	}
	for _, f := range fleets {
		r := mustNew(b, f.ms)
		for _, im := range impls {
			b.Run(fmt.Sprintf("Shard/%s/k=4/%s", f.name, im.name), func(b *testing.B) {
				b.ReportAllocs()
				dst := make([]int, 0, 4)
				h := uint64(1)
				for b.Loop() {
					h = lcg(h)
					dst = im.shard(r, h, 4, dst)
				}
				sink += len(dst)
			})
		}
	}
	r := mustNew(b, zonedMembers(100, 3))
	for _, im := range impls {
		b.Run("ShardFrom/zones=3/n=100/k=4/"+im.name, func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]int, 0, 4)
			h := uint64(1)
			for b.Loop() {
				h = lcg(h)
				dst = im.from(r, h, int(h%100), 4, dst)
			}
			sink += len(dst)
		})
	}
	r = mustNew(b, equalMembers(100))
	for _, im := range impls {
		b.Run("Owner/n=100/"+im.name, func(b *testing.B) {
			b.ReportAllocs()
			h := uint64(1)
			for b.Loop() {
				h = lcg(h)
				sink += im.owner(r, h)
			}
		})
	}
}
