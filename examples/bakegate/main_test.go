package main

import (
	"bytes"
	"strings"
	"testing"
	"testing/synctest"
)

// runBubble runs the example in a synctest bubble: the bake's clock is
// synctest's, so latencies are the knobs' and the verdicts repeatable.
func runBubble(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	synctest.Test(t, func(t *testing.T) {
		args = append([]string{"-workers", "8", "-bake", "2s", "-window", "1s"}, args...)
		if err := run(args, &out); err != nil {
			t.Fatal(err)
		}
	})
	t.Log("\n" + out.String())
	return out.String()
}

func verdicts(text string) []string {
	var v []string
	for _, l := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(l, "  -> "); ok {
			v = append(v, rest)
		}
	}
	return v
}

// A bad build on wave 2 (errors and latency): wave 1 passes, wave 2 is held
// on both counts, wave 3 never gets the build.
func TestBadWaveHeld(t *testing.T) {
	text := runBubble(t)
	v := verdicts(text)
	if len(v) != 2 || v[0] != "PASS" || !strings.HasPrefix(v[1], "HOLD") ||
		!strings.Contains(v[1], "error ratio") || !strings.Contains(v[1], "p99") {
		t.Fatalf("verdicts %q; want PASS, then HOLD on error ratio and p99", v)
	}
	if !strings.Contains(text, "rollout held at wave 2") || strings.Contains(text, "wave 3:") {
		t.Fatalf("wave 3 was deployed:\n%s", text)
	}
}

// A build that is only slow is held on its p99 alone.
func TestSlowWaveHeld(t *testing.T) {
	v := verdicts(runBubble(t, "-bad", "3", "-errors", "0", "-slow", "40ms"))
	if len(v) != 3 || v[0] != "PASS" || v[1] != "PASS" || !strings.HasPrefix(v[2], "HOLD") ||
		strings.Contains(v[2], "error ratio") || !strings.Contains(v[2], "p99") {
		t.Fatalf("verdicts %q; want PASS, PASS, HOLD on p99 only", v)
	}
}

// A build that only fails a few percent more than the margin allows is held
// on its error ratio alone; a good rollout completes.
func TestErrorsHeldAndGoodRollout(t *testing.T) {
	v := verdicts(runBubble(t, "-bad", "1", "-errors", "0.08", "-slow", "5ms"))
	if len(v) != 1 || !strings.HasPrefix(v[0], "HOLD") || !strings.Contains(v[0], "error ratio") || strings.Contains(v[0], "p99") {
		t.Fatalf("verdicts %q; want HOLD on the error ratio only", v)
	}
	text := runBubble(t, "-bad", "0")
	if v := verdicts(text); len(v) != 3 || v[0] != "PASS" || v[1] != "PASS" || v[2] != "PASS" || !strings.Contains(text, "rollout complete") {
		t.Fatalf("verdicts %q of a good rollout; want three PASS", v)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-cells", "1"}, {"-waves", "20"}, {"-bad", "9"}, {"-errors", "2"},
		{"-interval", "0s"}, {"-window", "10s"}, {"-max-p99-factor", "0.5"}, {"-workers", "0"},
	} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%q) = nil; want an error", args)
		}
	}
}
