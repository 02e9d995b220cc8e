package breaker

import (
	"strconv"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time this process has used, user and system: on a
// shared machine it counts the work of the benchmark, not the wait for a
// core, which ns/op does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTableAvailable measures Available on a closed breaker for cell
// names of each length class of the shared cell-ID table (internal/idtable):
// 1-3, 4-7, 8-16 and over 16 bytes, among 100 cells named alike. It reports
// cpu-ns/op beside ns/op.
func BenchmarkTableAvailable(b *testing.B) {
	for _, prefix := range []string{"", "cel-", "use1-cell-", "a-fleet-wide-cell-"} {
		names := make([]string, 100)
		for i := range names {
			names[i] = prefix + strconv.Itoa(100 + i)[1:]
		}
		s, err := New(Config{})
		if err != nil {
			b.Fatal(err)
		}
		s.Sync(names)
		cell := names[len(names)/2]
		b.Run("len="+strconv.Itoa(len(cell)), func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime()
			loopAvailable(b, s, cell)
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}
