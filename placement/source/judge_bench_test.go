//go:build unix

package source

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's CPU time, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkJudge measures what a Guard on a Follower adds to each request:
// Judge and Done, alone and from every core at once (the count is shared
// by the requests judged on one map).
func BenchmarkJudge(b *testing.B) {
	f := benchFollower(b)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			judgeOnce(f)
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				judgeOnce(f)
			}
		})
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
}

//go:noinline
func judgeOnce(f *Follower) {
	j := f.Judge()
	if j.Map() == nil {
		panic("no map")
	}
	j.Done()
}

// benchFollower returns a Follower with a map in force.
func benchFollower(tb testing.TB) *Follower {
	src := newScript()
	f, err := NewFollower(FollowerConfig{Source: src})
	if err != nil {
		tb.Fatal(err)
	}
	f.swap(srcMap(tb, 1))
	return f
}

// TestJudgeAllocs: the request path of a Guard on a Follower allocates
// nothing.
func TestJudgeAllocs(t *testing.T) {
	f := benchFollower(t)
	if n := testing.AllocsPerRun(1000, func() { judgeOnce(f) }); n != 0 {
		t.Errorf("Judge and Done allocate %v times; want 0", n)
	}
}
