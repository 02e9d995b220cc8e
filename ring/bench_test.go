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
			start := cpuClock()
			for b.Loop() {
				h += Hash(testSeed, key)
			}
			reportCPU(b, start)
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
			start := cpuClock()
			for b.Loop() {
				h = lcg(h)
				sink += r.Owner(h)
			}
			reportCPU(b, start)
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
					start := cpuClock()
					for b.Loop() {
						h = lcg(h)
						dst = r.Shard(h, k, dst)
					}
					reportCPU(b, start)
					sink += len(dst)
				})
			}
		}
	}
}

// weightedMembers returns n members over zones zones (member i in zone
// i mod zones) whose weights are mixed inside each zone (1 + i mod 4) or,
// with perZone, equal inside a zone and different across zones (zone z
// weighs z+1).
func weightedMembers(n, zones int, perZone bool) []Member {
	ms := zonedMembers(n, zones)
	for i := range ms {
		ms[i].Weight = float64(1 + i%4)
		if perZone {
			ms[i].Weight = float64(1 + i%zones)
		}
	}
	return ms
}

// BenchmarkShardWeighted is Shard(k=4) with weights mixed inside each of
// three zones, and with one weight per zone.
func BenchmarkShardWeighted(b *testing.B) {
	for _, kind := range []string{"mixed", "perzone"} {
		for _, n := range []int{100, 1000} {
			r := mustNew(b, weightedMembers(n, 3, kind == "perzone"))
			b.Run(fmt.Sprintf("%s/zones=3/n=%d/k=4", kind, n), func(b *testing.B) {
				b.ReportAllocs()
				dst := make([]int, 0, 4)
				h := uint64(1)
				start := cpuClock()
				for b.Loop() {
					h = lcg(h)
					dst = r.Shard(h, 4, dst)
				}
				reportCPU(b, start)
				sink += len(dst)
			})
		}
	}
}

// BenchmarkOwnerWeighted is Owner with weights mixed inside three zones.
func BenchmarkOwnerWeighted(b *testing.B) {
	r := mustNew(b, weightedMembers(100, 3, false))
	b.Run("mixed/zones=3/n=100", func(b *testing.B) {
		b.ReportAllocs()
		h := uint64(1)
		start := cpuClock()
		for b.Loop() {
			h = lcg(h)
			sink += r.Owner(h)
		}
		reportCPU(b, start)
	})
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
			start := cpuClock()
			for b.Loop() {
				h = lcg(h)
				dst, _ = r.ShardFrom(h, int(h%uint64(n)), 4, dst)
			}
			reportCPU(b, start)
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
			start := cpuClock()
			for b.Loop() {
				sink += tab.Owner(Hash(testSeed, keys[i&1023]))
				i++
			}
			reportCPU(b, start)
		})
	}
}

func BenchmarkNewTable(b *testing.B) {
	for _, n := range []int{10, 100} {
		r := mustNew(b, equalMembers(n))
		b.Run(fmt.Sprintf("n=%d/buckets=16384", n), func(b *testing.B) {
			b.ReportAllocs()
			start := cpuClock()
			for b.Loop() {
				if _, err := NewBalancedTable(r, 16384); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, start)
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
	start := cpuClock()
	for b.Loop() {
		if _, _, err := tab.Rebalance(next); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
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
