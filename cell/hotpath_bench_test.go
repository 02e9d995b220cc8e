package cell_test

import (
	"testing"

	"github.com/cellkit/cellkit/cell"
)

// BenchmarkHotPath measures Resolve and Do(Write) with an empty fn at shard
// size 1 over 100 cells, with ns/op and the process's CPU time per op
// (cpu-ns/op, less sensitive to a shared machine's other load), so that
// binaries before and after a change of the request path compare in
// interleaved runs.
func BenchmarkHotPath(b *testing.B) {
	m := benchMap(b, 100, 1, "http://127.0.0.1:1")
	c := runClient(b, m, cell.Config{Zone: "z1"})
	keys := benchKeys(1024)
	b.Run("Resolve", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		resolveLoop(b, c, keys)
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
	b.Run("Do", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		doLoop(b, c, keys)
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
}

// BenchmarkDoObserved is Do with the Call and Attempt hooks set, as the
// adapters set them (empty hooks here: the cost of the hook points).
func BenchmarkDoObserved(b *testing.B) {
	m := benchMap(b, 100, 1, "http://127.0.0.1:1")
	c := runClient(b, m, cell.Config{Zone: "z1", Observer: cell.Observer{
		Call: func(cell.CallInfo) {}, Attempt: func(cell.AttemptInfo) {},
	}})
	keys := benchKeys(1024)
	b.ReportAllocs()
	cpu := cpuTime()
	doLoop(b, c, keys)
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}
