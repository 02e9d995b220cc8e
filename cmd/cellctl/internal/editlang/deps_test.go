package editlang

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestLinksOnlyPlacement keeps this package's test binary small: go test
// -fuzz instruments every package it links, and FuzzEdit ran ~15 times
// fewer executions beside cellctl's etcd and HTTP dependencies
// (docs/DESIGN.md, Invariants).
func TestLinksOnlyPlacement(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{
		"github.com/cellkit/cellkit/cmd/cellctl/internal/editlang",
		"github.com/cellkit/cellkit/placement",
		"github.com/cellkit/cellkit/ring",
		"github.com/cespare/xxhash/v2",
	}
	var extra []string
	for line := range strings.Lines(string(out)) {
		// The test variants are "P [P.test]" and "P.test".
		p, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		p = strings.TrimSuffix(p, ".test")
		if slices.Contains(allowed, p) {
			continue
		}
		extra = append(extra, p)
	}
	if len(extra) > 0 {
		t.Errorf("the test of editlang links %d packages beyond the standard library and placement (%q); it may link only those", len(extra), extra[:min(len(extra), 5)])
	}
}
