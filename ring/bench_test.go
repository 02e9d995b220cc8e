package ring

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

var sink int

// Keys of 16 bytes, hashed in the benchmarks that include the key hash.
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("tenant-%09d", i)
	}
	return keys
}

func BenchmarkHash(b *testing.B) {
	for _, n := range []int{16, 64, 1024} {
		key := strings.Repeat("k", n)
		b.Run(fmt.Sprintf("bytes=%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var h uint64
			for b.Loop() {
				h += Hash(testSeed, key)
			}
			sink = int(h)
		})
	}
}

// lcg steps the hash fed to the owner and shard benchmarks: cheap, and a new
// uniform value every iteration.
func lcg(h uint64) uint64 { return h*6364136223846793005 + 1442695040888963407 }

func BenchmarkOwner(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		r := mustNew(b, equalMembers(n))
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			h := uint64(1)
			for b.Loop() {
				h = lcg(h)
				sink += r.Owner(h)
			}
		})
	}
}

func BenchmarkShard(b *testing.B) {
	for _, zones := range []int{1, 3} {
		for _, n := range []int{10, 100, 1000} {
			r := mustNew(b, zonedMembers(n, zones))
			for _, k := range []int{2, 4, 8} {
				b.Run(fmt.Sprintf("zones=%d/n=%d/k=%d", zones, n, k), func(b *testing.B) {
					b.ReportAllocs()
					dst := make([]int, 0, k)
					h := uint64(1)
					for b.Loop() {
						h = lcg(h)
						dst = r.Shard(h, k, dst)
					}
					sink += len(dst)
				})
			}
		}
	}
}

// BenchmarkShardFrom is the shard of a key whose home is known, as placement
// computes it for table buckets.
func BenchmarkShardFrom(b *testing.B) {
	for _, n := range []int{100, 1000} {
		r := mustNew(b, zonedMembers(n, 3))
		b.Run(fmt.Sprintf("zones=3/n=%d/k=4", n), func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]int, 0, 4)
			h := uint64(1)
			for b.Loop() {
				h = lcg(h)
				dst, _ = r.ShardFrom(h, int(h%uint64(n)), 4, dst)
			}
			sink += len(dst)
		})
	}
}

// BenchmarkTableOwner includes the hash of a 16-byte key.
func BenchmarkTableOwner(b *testing.B) {
	keys := benchKeys(1024)
	r := mustNew(b, equalMembers(100))
	for _, buckets := range []int{16384, MaxBuckets} {
		tab, err := NewBalancedTable(r, buckets)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("buckets=%d", buckets), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				sink += tab.Owner(Hash(testSeed, keys[i&1023]))
				i++
			}
		})
	}
}

func BenchmarkNewTable(b *testing.B) {
	for _, n := range []int{10, 100} {
		r := mustNew(b, equalMembers(n))
		b.Run(fmt.Sprintf("n=%d/buckets=16384", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NewBalancedTable(r, 16384); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRebalance plans the addition of one member to 100.
func BenchmarkRebalance(b *testing.B) {
	base := equalMembers(100)
	tab, err := NewBalancedTable(mustNew(b, base), 16384)
	if err != nil {
		b.Fatal(err)
	}
	next := mustNew(b, append(slices.Clone(base), Member{ID: "new", Weight: 1}))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tab.Rebalance(next); err != nil {
			b.Fatal(err)
		}
	}
}

func TestShardAllocs(t *testing.T) {
	for _, zones := range []int{1, 3} {
		r := mustNew(t, zonedMembers(100, zones))
		for _, k := range []int{1, 2, 4, 8, 32} {
			if k > 8 && raceEnabled {
				continue // the race detector drops pooled scratch on purpose
			}
			dst := make([]int, 0, k)
			h := uint64(1)
			r.Shard(h, k, dst) // warm the pool
			a := testing.AllocsPerRun(200, func() {
				h = lcg(h)
				dst = r.Shard(h, k, dst)
				dst, _ = r.ShardFrom(h, int(h%100), k, dst)
				sink += r.Owner(h)
			})
			if a != 0 {
				t.Errorf("zones=%d k=%d: %v allocations; want 0", zones, k, a)
			}
		}
	}
}

// BenchmarkFloor measures what any exact rendezvous shard must do, on this
// machine and in the same run as BenchmarkShard: hash every member (hash),
// and hash every member keeping the best four in the simplest loop (top4,
// equal weights, one zone, no bookkeeping). Shard's cost is best read
// against these.
func BenchmarkFloor(b *testing.B) {
	seeds := mustNew(b, equalMembers(100)).eSeed
	b.Run("hash/n=100", func(b *testing.B) {
		h := uint64(1)
		for b.Loop() {
			h = lcg(h)
			var acc uint64
			for _, s := range seeds {
				acc += mix(h ^ s)
			}
			sink += int(acc)
		}
	})
	b.Run("top4/n=100", func(b *testing.B) {
		h := uint64(1)
		for b.Loop() {
			h = lcg(h)
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
			sink += is[0] + is[3]
		}
	})
}
