//go:build unix

package bench

import "syscall"

// cpuClock returns the CPU time this process has used so far, user and
// system, in nanoseconds.
func cpuClock() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
