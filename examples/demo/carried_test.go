package main

import (
	"strings"
	"testing"

	"github.com/cellkit/cellkit/placement"
)

// TestCarriedOver checks that a scene's starting state names what earlier
// scenes left in the map: the shard size, a drained zone, labels.
func TestCarriedOver(t *testing.T) {
	b := placement.NewBuilder(nil)
	for i, z := range []string{"az1", "az1", "az2", "az2"} {
		id := []string{"c1", "c2", "c3", "c4"}[i]
		if err := b.AddCell(placement.Cell{ID: id, Zone: z, Weight: 1, Endpoints: []placement.Endpoint{{URL: "http://" + id + ".test", Zone: z}}}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if got := carriedOver(m); !strings.Contains(got, "shard size 1") || !strings.Contains(got, "every cell at weight 1") {
		t.Errorf("carriedOver(first map) = %q", got)
	}
	b = placement.NewBuilder(m)
	for _, edit := range []func() error{
		func() error { return b.SetShardSize(2) },
		func() error { return b.SetWeight("c3", 0) },
		func() error { return b.SetWeight("c4", 0) },
		func() error { return b.SetLabels("c1", map[string]string{"wave": "1"}) },
	} {
		if err := edit(); err != nil {
			t.Fatal(err)
		}
	}
	if m, err = b.Build(); err != nil {
		t.Fatal(err)
	}
	got := carriedOver(m)
	for _, want := range []string{"shard size 2", "az2 at weight 0 (drained)", "wave=1: c1"} {
		if !strings.Contains(got, want) {
			t.Errorf("carriedOver = %q; want it to say %q", got, want)
		}
	}
}
