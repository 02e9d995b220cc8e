package placement

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// docWith returns a document of n cells in 3 zones and the given overrides
// (tenant-o-%d pinned round robin), with shardSize k.
func docWith(n, overrides, k int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"version": 1, "seed": "0x9e3779b97f4a7c15", "shardSize": %d, "cells": [`, k)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `{"id": "cell-%03d", "zone": "az%d", "endpoints": [{"url": "https://cell-%03d.internal:8443", "zone": "az%d"}]}`, i, i%3, i, i%3)
	}
	b.WriteString("]")
	if overrides > 0 {
		b.WriteString(`, "overrides": {`)
		for i := range overrides {
			if i > 0 {
				b.WriteString(",\n")
			}
			fmt.Fprintf(&b, `"tenant-o-%07d": "cell-%03d"`, i, i%n)
		}
		b.WriteString("}")
	}
	b.WriteString("}")
	return []byte(b.String())
}

// 16-byte keys.
func keys16(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("tenant-%09d", i)
	}
	return out
}

// BenchmarkLocate: the routing hot path, AppendLocate into a caller's
// buffer, over 100 cells with shardSize 1.
func BenchmarkLocate(b *testing.B) {
	m, err := Parse(docWith(100, 0, 1))
	if err != nil {
		b.Fatal(err)
	}
	keys := keys16(1024)
	b.ReportAllocs()
	var buf [8]string
	i := 0
	start := cpuClock()
	for b.Loop() {
		a, _ := m.AppendLocate(buf[:0], keys[i&1023])
		i += len(a.Cell) // keep a alive
	}
	reportCPU(b, start)
}

// BenchmarkLocateAlloc: Locate, which allocates the Assignment's Read.
func BenchmarkLocateAlloc(b *testing.B) {
	m, err := Parse(docWith(100, 0, 1))
	if err != nil {
		b.Fatal(err)
	}
	keys := keys16(1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i += locateLoop(m, keys, i)
	}
}

//go:noinline
func locateLoop(m *Map, keys []string, i int) int {
	a, _ := m.Locate(keys[i&1023])
	return len(a.Cell)
}

// BenchmarkOwns: a cell's ownership guard, Owns and OwnsShard.
func BenchmarkOwns(b *testing.B) {
	m, err := Parse(docWith(100, 0, 4))
	if err != nil {
		b.Fatal(err)
	}
	keys := keys16(1024)
	b.Run("Owns", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i += ownsLoop(m, keys, i)
		}
	})
	b.Run("OwnsShard", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i += ownsShardLoop(m, keys, i)
		}
	})
}

//go:noinline
func ownsLoop(m *Map, keys []string, i int) int {
	if m.Owns("cell-007", keys[i&1023]) {
		return 2
	}
	return 1
}

//go:noinline
func ownsShardLoop(m *Map, keys []string, i int) int {
	if m.OwnsShard("cell-007", keys[i&1023]) {
		return 2
	}
	return 1
}

var million = sync.OnceValues(func() (*Map, error) { return Parse(docWith(100, 1_000_000, 1)) })

// BenchmarkLocateOverrides: a map of 1,000,000 overrides, for keys that are
// not overridden and keys that are.
func BenchmarkLocateOverrides(b *testing.B) {
	m, err := million()
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		keys []string
	}{
		{"miss", keys16(1024)},
		{"hit", func() []string {
			out := make([]string, 1024)
			for i := range out {
				out[i] = fmt.Sprintf("tenant-o-%07d", i*977)
			}
			return out
		}()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			var buf [8]string
			for b.Loop() {
				a, _ := m.AppendLocate(buf[:0], tc.keys[i&1023])
				i += len(a.Cell)
			}
		})
	}
}

// BenchmarkLocateShard: shards of 4 over 100 cells in 3 zones, into a
// caller's buffer.
func BenchmarkLocateShard(b *testing.B) {
	m, err := Parse(docWith(100, 0, 4))
	if err != nil {
		b.Fatal(err)
	}
	keys := keys16(1024)
	b.ReportAllocs()
	var buf [8]string
	i := 0
	start := cpuClock()
	for b.Loop() {
		a, _ := m.AppendLocate(buf[:0], keys[i&1023])
		i += len(a.Shard)
	}
	reportCPU(b, start)
}

// BenchmarkParse: 100 cells and 100,000 overrides. It reports the bytes the
// parsed map keeps (map-bytes), measured after a collection, with the
// document itself kept alive on both sides so that only the map counts.
func BenchmarkParse(b *testing.B) {
	doc := docWith(100, 100_000, 1)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	start := cpuClock()
	for b.Loop() {
		if _, err := Parse(doc); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
	b.ReportMetric(float64(parseRetained(b, doc)), "map-bytes")
}

// retained returns the heap kept alive by what f returns: the heap grown
// across f, after a GC on either side.
func retained(t testing.TB, f func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}

// parseRetained returns the heap the map parsed from doc keeps: doc stays
// alive across the measurement, so that its bytes are counted neither way.
func parseRetained(t testing.TB, doc []byte) uint64 {
	n := retained(t, func() any {
		m, err := Parse(doc)
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
	runtime.KeepAlive(doc)
	return n
}

// TestParseMemory: parsing 100 cells and 100,000 overrides allocates at most
// 64 MiB in all, so its peak heap is below that too.
func TestParseMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	doc := docWith(100, 100_000, 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := Parse(doc)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if total := after.TotalAlloc - before.TotalAlloc; total > 64<<20 {
		t.Errorf("Parse allocated %d MiB; want at most 64", total>>20)
	}
	t.Logf("Parse allocated %.1f MiB for a %.1f MiB document; the map keeps %.1f MiB",
		float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), float64(len(doc))/(1<<20),
		float64(parseRetained(t, doc))/(1<<20))
	runtime.KeepAlive(m)
}

// docZones returns a document of n cells spread round robin over the given
// number of zones, with shardSize k.
func docZones(n, zones, k int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"version": 1, "seed": "0x9e3779b97f4a7c15", "shardSize": %d, "cells": [`, k)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `{"id": "cell-%05d", "zone": "z%05d"}`, i, i%zones)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// BenchmarkLocateLarge: AppendLocate on the largest maps: 10,000 cells in 3
// zones with shardSize 4, and the worst the default Limits admit, 10,000
// cells each in its own zone with shardSize 64 (Limits.MaxShardSize states
// these costs).
func BenchmarkLocateLarge(b *testing.B) {
	for _, c := range []struct{ n, zones, k int }{{1000, 3, 4}, {10000, 3, 4}, {10000, 10000, 4}, {10000, 10000, 64}} {
		b.Run(fmt.Sprintf("cells=%d/zones=%d/k=%d", c.n, c.zones, c.k), func(b *testing.B) {
			m, err := Parse(docZones(c.n, c.zones, c.k))
			if err != nil {
				b.Fatal(err)
			}
			keys := keys16(1024)
			b.ReportAllocs()
			buf := make([]string, 0, c.k+2)
			start := cpuClock()
			locateLargeLoop(b, m, keys, buf)
			reportCPU(b, start)
		})
	}
}

//go:noinline
func locateLargeLoop(b *testing.B, m *Map, keys []string, buf []string) {
	i := 0
	for b.Loop() {
		a, _ := m.AppendLocate(buf[:0], keys[i&1023])
		i += len(a.Shard)
	}
}
