package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run([]string{"-tenant", "acme", "-to", "c3", "-dir", dir}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	// Where acme goes in each version, in order.
	want := []string{
		"v1  acme: writes → c1, reads → [c1]  (table)",
		"v2  acme: writes → c1, reads → [c1]  (migration copying)",
		"v3  acme: writes → refused (frozen), reads → [c1]  (migration frozen)",
		"home of acme: c1 → c3",
		"v4  acme: writes → c3, reads → [c3 c1]  (migration flipped)",
		"v5  acme: writes → c3, reads → [c3]  (override)",
		"moving acme to c3 again: placement:",
	}
	at := 0
	for _, w := range want {
		i := strings.Index(text[at:], w)
		if i < 0 {
			t.Fatalf("output lacks %q after offset %d:\n%s", w, at, text)
		}
		at += i + len(w)
	}
	for v := 1; v < 5; v++ {
		if d := fmt.Sprintf("v%d→v%d:", v, v+1); !strings.Contains(text, d) {
			t.Errorf("output lacks the Diff %q", d)
		}
	}
	// The last version published is the one a file-following client loads.
	m, err := source.LoadFile(filepath.Join(dir, "map.json"), placement.Options{})
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	if a, err := m.Locate("acme"); m.Version() != 5 || err != nil || a.Cell != "c3" {
		t.Errorf("published map v%d: Locate(acme) = %s, %v; want v5, c3", m.Version(), a.Cell, err)
	}
}

func TestRunErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-to", "c9"},   // no such cell
		{"-tenant", ""}, // no key
		{"extra"},
	} {
		var out bytes.Buffer
		if err := run(args, &out); err == nil {
			t.Errorf("run(%q) = nil; want an error\n%s", args, out.String())
		}
	}
}
