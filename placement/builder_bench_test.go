package placement

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The fleet of the issue: 10,000 cells and 1,000,000 overrides, built once
// per test binary.
var bigFleet = sync.OnceValues(func() ([]byte, error) {
	m, err := Parse(docWith(10_000, 1_000_000, 1))
	if err != nil {
		return nil, err
	}
	return m.Bytes(), nil // canonical, as a control plane keeps it
})

// cpuTime is the process's CPU time, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCPU runs op b.N times, reporting cpu-ns/op (process CPU time, which
// a loaded machine inflates less than wall time), the bytes one op
// allocates (a bound of its peak heap growth) and the bytes its result
// keeps alive, both in multiples of the document's size.
func benchCPU(b *testing.B, doc []byte, op func(i int) any) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := cpuTime()
	i := 0
	for b.Loop() {
		runtime.KeepAlive(op(i))
		i++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	runtime.ReadMemStats(&after)
	// Bytes allocated by one op, a bound of its peak heap growth.
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(len(doc)), "alloc/doc")
	b.ReportMetric(float64(retained(b, func() any { return op(-1) }))/float64(len(doc)), "kept/doc")
}

// BenchmarkEditVsParse: one Builder edit (a Pin) plus Build on the
// 10,000-cell, 1,000,000-override map, beside Parse of the built map's
// document, in the same run: the target is Edit ≤ 1.0 × Parse.
// Compare with benchstat over -count 6; the ratio is cpu-ns/op of
// Edit / Parse.
func BenchmarkEditVsParse(b *testing.B) {
	doc, err := bigFleet()
	if err != nil {
		b.Fatal(err)
	}
	base, err := Parse(doc)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Edit", func(b *testing.B) {
		benchCPU(b, doc, func(i int) any { return editOnce(b, base, i) })
	})
	b.Run("Parse", func(b *testing.B) {
		benchCPU(b, doc, func(int) any { return parseOnce(b, doc) })
	})
}

//go:noinline
func editOnce(b *testing.B, base *Map, i int) *Map {
	bl := NewBuilder(base)
	if err := bl.Pin(fmt.Sprintf("tenant-new-%d", i), "cell-042"); err != nil {
		b.Fatal(err)
	}
	m, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	return m
}

//go:noinline
func parseOnce(b *testing.B, doc []byte) *Map {
	m, err := Parse(doc)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkParseNext: a follower's parse of the next version of a
// 10,000-cell map whose cells did not change (a new override), with and
// without the previous map: ParseNext shares its derived table, Parse
// derives it again.
func BenchmarkParseNext(b *testing.B) {
	prev, err := Parse(docWith(10_000, 0, 1))
	if err != nil {
		b.Fatal(err)
	}
	bl := NewBuilder(prev)
	if err := bl.Pin("tenant-1", "cell-001"); err != nil {
		b.Fatal(err)
	}
	next, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	doc := next.Bytes()
	b.Run("Parse", func(b *testing.B) {
		benchCPU(b, doc, func(int) any { return parseOnce(b, doc) })
	})
	b.Run("ParseNext", func(b *testing.B) {
		benchCPU(b, doc, func(int) any { return parseNextOnce(b, prev, doc) })
	})
}

//go:noinline
func parseNextOnce(b *testing.B, prev *Map, doc []byte) *Map {
	m, err := ParseNext(prev, doc, nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return m
}
