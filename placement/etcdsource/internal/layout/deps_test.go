package layout

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksOnlyStd keeps this package's test binary small: go test -fuzz
// instruments every package it links, and FuzzParseManifest ran ~50 times
// fewer executions beside the etcd client (docs/DESIGN.md, Invariants).
func TestLinksOnlyStd(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const self = "github.com/cellkit/cellkit/placement/etcdsource/internal/layout"
	var extra []string
	for line := range strings.Lines(string(out)) {
		// The test variants are "P [P.test]" and "P.test".
		p, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if p = strings.TrimSuffix(p, ".test"); p != self {
			extra = append(extra, p)
		}
	}
	if len(extra) > 0 {
		t.Errorf("the test of %s links %d packages beyond the standard library (%q); it may link only the standard library", self, len(extra), extra[:min(len(extra), 5)])
	}
}
