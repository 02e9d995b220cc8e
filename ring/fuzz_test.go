package ring

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// decodeMembers turns fuzz bytes into members: 10 bytes a member, one byte of
// ID, one of zone, eight of weight bits (NaN, ±Inf, negatives and subnormals
// included).
func decodeMembers(data []byte) []Member {
	var ms []Member
	for len(data) >= 10 {
		ms = append(ms, Member{
			ID:     fmt.Sprintf("m%d", data[0]%64),
			Zone:   fmt.Sprintf("z%d", data[1]%5),
			Weight: math.Float64frombits(binary.LittleEndian.Uint64(data[2:10])),
		})
		data = data[10:]
	}
	return ms
}

func FuzzRing(f *testing.F) {
	one := binary.LittleEndian.AppendUint64(nil, math.Float64bits(1))
	f.Add([]byte{}, uint64(0), 3, 0)
	f.Add(append([]byte{1, 1}, one...), uint64(7), 1, 0)
	seed := []byte{}
	for i := range 12 {
		seed = append(seed, byte(i), byte(i%3))
		seed = binary.LittleEndian.AppendUint64(seed, math.Float64bits(float64(i%4)))
	}
	f.Add(seed, uint64(42), 5, 3)
	nan := binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.NaN()))
	f.Add(append(append([]byte{1, 1}, one...), append([]byte{2, 1}, nan...)...), uint64(1), 2, 1)
	f.Fuzz(func(t *testing.T, data []byte, h uint64, k, home int) {
		ms := decodeMembers(data)
		r, err := New(ms)
		if err != nil {
			return
		}
		owner := r.Owner(h)
		if owner < 0 || owner >= r.Len() || r.Member(owner).Weight <= 0 {
			t.Fatalf("Owner(%#x) = %d", h, owner)
		}
		k = k % (r.Len() + 3)
		shard := r.Shard(h, k, nil)
		want := min(max(k, 0), r.Eligible())
		if len(shard) != want || (want > 0 && shard[0] != owner) {
			t.Fatalf("Shard(%#x, %d) = %v; want %d members led by %d", h, k, shard, want, owner)
		}
		seen := map[int]bool{}
		for _, m := range shard {
			if seen[m] || r.Member(m).Weight <= 0 {
				t.Fatalf("Shard(%#x, %d) = %v repeats or holds weight 0", h, k, shard)
			}
			seen[m] = true
		}
		if got, want := ids(r, shard), naiveShard(ms, h, nil, k); !slices.Equal(got, want) {
			t.Fatalf("Shard(%#x, %d) = %v; naive %v", h, k, got, want)
		}
		from, err := r.ShardFrom(h, home, k, nil)
		if home < 0 || home >= r.Len() {
			if err == nil {
				t.Fatalf("ShardFrom(home %d) accepted", home)
			}
			return
		}
		hm := r.Member(home)
		if got, want := ids(r, from), naiveShard(ms, h, &hm, k); !slices.Equal(got, want) {
			t.Fatalf("ShardFrom(%#x, %d, %d) = %v; naive %v", h, home, k, got, want)
		}
	})
}

// FuzzRebalance runs random add, remove and reweight sequences and checks the
// planner's contract after every step. Tables have at most 256 buckets
// and walks at most 6 steps, so that each execution is short and the
// fuzzer explores (tens of thousands of executions in 10 s); large tables
// are the unit tests'.
func FuzzRebalance(f *testing.F) {
	f.Add(uint64(1), uint16(100), uint8(5))
	f.Add(uint64(99), uint16(1), uint8(20))
	f.Add(uint64(7), uint16(256), uint8(3))
	f.Fuzz(func(t *testing.T, seed uint64, buckets uint16, steps uint8) {
		buckets %= 257
		rng := rand.New(rand.NewPCG(seed, seed>>32))
		ms := equalMembers(1 + rng.IntN(20))
		tab, err := NewTable(mustNew(t, ms), int(buckets))
		if buckets == 0 {
			if err == nil {
				t.Fatal("NewTable(0) accepted")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		rebalanceWalk(t, rng, tab, ms, int(steps%7), 0)
	})
}
