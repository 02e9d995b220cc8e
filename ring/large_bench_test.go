package ring

import (
	"fmt"
	"testing"
)

// BenchmarkShardLarge is ShardFrom as placement calls it on the largest maps
// the default limits admit: 10,000 members in 3 zones with k = 4, and the
// worst, 10,000 members each in its own zone with k = 64.
func BenchmarkShardLarge(b *testing.B) {
	for _, c := range []struct{ n, zones, k int }{{10000, 3, 4}, {10000, 10000, 64}, {10000, 10000, 4}, {1000, 1000, 64}} {
		r := mustNew(b, zonedMembers(c.n, c.zones))
		b.Run(fmt.Sprintf("n=%d/zones=%d/k=%d", c.n, c.zones, c.k), func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]int, 0, c.k)
			h := uint64(1)
			start := cpuClock()
			for b.Loop() {
				h = lcg(h)
				dst, _ = r.ShardFrom(h, int(h%uint64(c.n)), c.k, dst)
			}
			reportCPU(b, start)
			sink += len(dst)
		})
	}
}
