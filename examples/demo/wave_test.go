package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
)

// group makes a cell.Group of ok successes at okLat and failed failures.
func group(ok, failed uint64, okLat time.Duration) cell.Group {
	var g cell.Group
	for i := range cell.LatencyBuckets {
		if cell.LatencyBound(i+1) > okLat {
			g.Success.Buckets[i] = ok
			break
		}
	}
	g.Failure.Buckets[0] = failed
	g.Attempts, g.Failures = ok+failed, failed
	return g
}

// TestJudgeWave checks the bake-time gate's rule: hold on an error ratio
// over the rest's plus the margin, on a p99 over twice the rest's plus the
// slack, and on too few attempts to judge; pass otherwise.
func TestJudgeWave(t *testing.T) {
	rest := group(1000, 0, 2*time.Millisecond)
	for _, c := range []struct {
		name string
		wave cell.Group
		hold bool
		why  string
	}{
		{"healthy", group(200, 2, 2*time.Millisecond), false, "within the margins"},
		{"errors", group(160, 40, 2*time.Millisecond), true, "error ratio"},
		{"errors at the margin", group(196, 4, 2*time.Millisecond), false, "within the margins"},
		{"slow", group(200, 0, 40*time.Millisecond), true, "p99"},
		{"too few to judge", group(10, 0, 2*time.Millisecond), true, "only 10 attempts judged"},
	} {
		v := judgeWave(c.wave, rest)
		if v.hold != c.hold || !strings.Contains(v.why, c.why) {
			t.Errorf("%s: hold %v (%s); want %v (%q)", c.name, v.hold, v.why, c.hold, c.why)
		}
	}
}
