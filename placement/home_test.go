package placement_test

import (
	"strconv"
	"testing"

	"github.com/cellkit/cellkit/placement"
)

// HomeOf is AppendLocate's Cell and Writable, for every key of a map with
// bucket migrations in every phase, a disabled cell and an override; and it does not allocate.
func TestHomeOfMatchesLocate(t *testing.T) {
	m, err := placement.Parse([]byte(`{"version": 3, "seed": "7", "buckets": 64,
 "cells": [{"id": "a", "zone": "z"}, {"id": "b", "zone": "z"}, {"id": "c", "zone": "z", "state": "disabled"}],
 "table": [{"buckets": "0-20", "cell": "a"}, {"buckets": "21-40", "cell": "b"}, {"buckets": "41-63", "cell": "c"}],
 "overrides": {"pinned": "b"},
 "migrations": [{"buckets": "0-5", "from": "a", "to": "b", "phase": "flipped"},
  {"buckets": "21-25", "from": "b", "to": "a", "phase": "frozen"},
  {"buckets": "26-30", "from": "b", "to": "a", "phase": "copying"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"pinned"}
	frozen := 0
	for i := range 2000 {
		keys = append(keys, "k"+strconv.Itoa(i+3))
	}
	for _, k := range keys {
		a, _ := m.Locate(k)
		home, writable, ok := m.HomeOf(k)
		if !ok || home != a.Cell || writable != a.Writable {
			t.Fatalf("HomeOf(%q) = %q, %v, %v; Locate says %q, writable %v", k, home, writable, ok, a.Cell, a.Writable)
		}
		if !writable {
			frozen++
		}
	}
	if frozen == 0 {
		t.Fatal("no key in a frozen migration: the test checks nothing of Writable")
	}
	if _, _, ok := m.HomeOf(""); ok {
		t.Errorf("HomeOf(\"\") is ok")
	}
	var nilMap *placement.Map
	if _, _, ok := nilMap.HomeOf("k"); ok {
		t.Errorf("HomeOf on a nil map is ok")
	}
	if n := testing.AllocsPerRun(100, func() { m.HomeOf("pinned"); m.HomeOf("k7") }); n != 0 {
		t.Errorf("HomeOf allocates %v times", n)
	}
}
