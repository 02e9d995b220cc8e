//go:build !unix

package bench

// cpuClock is not measured on this platform: cpu-ns/op is then absent and
// the ratios use ns/op.
func cpuClock() int64 { return 0 }
