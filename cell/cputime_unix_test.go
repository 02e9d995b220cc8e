//go:build unix

package cell_test

import (
	"syscall"
	"testing"
)

// cpuClock returns the CPU time this process has used so far, user and
// system, in nanoseconds.
func cpuClock() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// reportCPU reports cpu-ns/op, the process's CPU time since start (a
// cpuClock reading) per op. On a shared machine it counts only the time this
// benchmark ran, where ns/op also counts the time other jobs had the CPU;
// parallel benchmarks add every goroutine's time.
func reportCPU(b *testing.B, start int64) {
	if b.N > 0 {
		b.ReportMetric(float64(cpuClock()-start)/float64(b.N), "cpu-ns/op")
	}
}
