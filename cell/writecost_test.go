package cell_test

import (
	"context"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
)

// TestWriteComputesNoShard is Why bullet 10: a Write and a Read do not
// compute the key's shard. With shards of 64 cells a computed shard does
// not fit Do's stack buffer and allocates (as a Stateless call shows), so a
// Write and a Read that allocate nothing computed none.
func TestWriteComputesNoShard(t *testing.T) {
	m := benchMap(t, 200, 64, "http://127.0.0.1:1")
	c := runClient(t, m, cell.Config{Zone: "z1"})
	ctx := context.Background()
	fn := func(context.Context, cell.Route) error { return nil }
	for _, class := range []cell.Class{cell.Write, cell.Read} {
		if n := testing.AllocsPerRun(200, func() { c.Do(ctx, "tenant-7", class, fn) }); n != 0 {
			t.Errorf("Do(%v) at shard size 64 allocates %v times; want 0: no shard computed", class, n)
		}
	}
	if n := testing.AllocsPerRun(200, func() { c.Do(ctx, "tenant-7", cell.Stateless, fn) }); n == 0 {
		t.Errorf("Do(Stateless) at shard size 64 allocates nothing: the test cannot see a shard computed")
	}
}

// cpuTime is the process's CPU time, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDoWriteMapSize compares Do(Write) on a map at the default
// limits (10,000 cells, shard size 64) with a small one (100 cells, shard
// size 1): a Write computes no shard, so the two cost about the same.
//
//	go test -run '^$' -bench DoWriteMapSize -count 6 ./cell/ | benchstat -col /map -
//
// Run it beside BenchmarkDo (same run, interleaved -count) to compare.
func BenchmarkDoWriteMapSize(b *testing.B) {
	keys := benchKeys(1024)
	sizes := []struct {
		name         string
		cells, shard int
		c            *cell.Client
	}{{name: "small", cells: 100, shard: 1}, {name: "large", cells: 10000, shard: 64}}
	for i := range sizes { // both maps first: no GC of one's building in the other's run
		sizes[i].c = runClient(b, benchMap(b, sizes[i].cells, sizes[i].shard, "http://127.0.0.1:1"), cell.Config{Zone: "z1"})
	}
	// keys=1024 spreads the calls over about as many cells of the large
	// map, whose working set then leaves the caches; keys=64 touches as
	// few cells in both, and compares the computation alone.
	for _, nk := range []int{64, 1024} {
		ks := keys[:nk]
		for len(ks) < 1024 {
			ks = append(ks, keys[:nk]...)
		}
		for _, size := range sizes {
			c := size.c
			b.Run("keys="+strconv.Itoa(nk)+"/map="+size.name, func(b *testing.B) {
				b.ReportAllocs()
				runtime.GC()
				start := cpuTime()
				doLoop(b, c, ks)
				b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
