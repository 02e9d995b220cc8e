package placement_test

import (
	"fmt"

	"github.com/cellkit/cellkit/placement"
)

// A control plane's dry run: what adding a fourth cell to a derived table,
// and pinning one tenant to it, would change.
func ExampleDiff() {
	old, err := placement.Parse([]byte(`{"version": 41, "seed": "0x9e3779b97f4a7c15", "cells": [
		{"id": "c1", "zone": "az1"}, {"id": "c2", "zone": "az2"}, {"id": "c3", "zone": "az3"}]}`))
	if err != nil {
		panic(err)
	}
	next, err := placement.Parse([]byte(`{"version": 42, "seed": "0x9e3779b97f4a7c15", "cells": [
		{"id": "c1", "zone": "az1"}, {"id": "c2", "zone": "az2"}, {"id": "c3", "zone": "az3"},
		{"id": "c4", "zone": "az1"}],
		"overrides": {"tenant-42": "c1"}}`))
	if err != nil {
		panic(err)
	}
	c := placement.Diff(old, next)
	fmt.Println(c)
	for _, mv := range c.Moves {
		fmt.Printf("%s → %s: %d buckets\n", mv.From, mv.To, mv.Count)
	}
	for _, km := range c.Moved([]string{"tenant-1", "tenant-2", "tenant-3", "tenant-4", "tenant-5", "tenant-42"}) {
		fmt.Printf("%s: %s → %s\n", km.Key, km.From, km.To)
	}
	// Output:
	// v41→v42: +1 cell, 4017 buckets moved, 24.52% of keys change home, +1 override
	// c1 → c4: 1357 buckets
	// c2 → c4: 1336 buckets
	// c3 → c4: 1324 buckets
	// tenant-2: c2 → c4
	// tenant-42: c2 → c1
}
