package cell_test

import (
	"context"
	"testing"

	"github.com/cellkit/cellkit/cell"
)

//go:noinline
func doLimitLoop(b *testing.B, c *cell.Client, keys []string) {
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if err := c.Do(ctx, keys[i&1023], cell.Write, nop); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDoOverload measures Do's admission and release: without a
// limit (one atomic load for the pushback's hold), with a fixed bulkhead
// (MaxInFlight) and with the adaptive limit (a sample per success). It
// reports cpu-ns/op, the process's CPU time per call (cpuTime), beside
// ns/op.
func BenchmarkDoOverload(b *testing.B) {
	m := benchMap(b, 100, 1, "http://127.0.0.1:1")
	keys := benchKeys(1024)
	for _, v := range []struct {
		name string
		cfg  cell.Config
	}{
		{"none", cell.Config{Zone: "z1"}},
		{"fixed", cell.Config{Zone: "z1", MaxInFlight: 100}},
		{"adaptive", cell.Config{Zone: "z1", Limit: cell.Limit{Max: 1000}}},
	} {
		c := runClient(b, m, v.cfg)
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			t0 := cpuTime()
			doLimitLoop(b, c, keys)
			b.ReportMetric(float64(cpuTime()-t0)/float64(b.N), "cpu-ns/op")
		})
	}
}
