//go:build !unix

package placement

import "testing"

// cpuClock is not measured on this platform.
func cpuClock() int64 { return 0 }

// reportCPU reports nothing on this platform.
func reportCPU(*testing.B, int64) {}
