package placement_test

import (
	"errors"
	"fmt"

	"github.com/cellkit/cellkit/placement"
)

const doc = `{
  "version": 42,
  "seed": "0x9e3779b97f4a7c15",
  "cells": [
    {"id": "use1-c1", "zone": "use1-az1", "endpoints": [{"url": "https://c1.internal:8443", "zone": "use1-az1"}]},
    {"id": "use1-c2", "zone": "use1-az2", "endpoints": [{"url": "https://c2.internal:8443", "zone": "use1-az2"}]},
    {"id": "use1-c3", "zone": "use1-az3", "state": "canary"}
  ],
  "overrides": {"tenant-42": "use1-c3"},
  "migrations": [{"key": "tenant-7", "from": "use1-c2", "to": "use1-c1", "phase": "frozen"}]
}`

func ExampleParse() {
	m, err := placement.Parse([]byte(doc))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, key := range []string{"tenant-1", "tenant-42", "tenant-7"} {
		a, err := m.Locate(key)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s → %s (%s, writable %v, v%d)\n", key, a.Cell, a.Reason, a.Writable, a.Version)
	}

	_, err = placement.Parse([]byte(`{"version": 1, "cells": [{"id": "c1"}], "overrides": {"tenant-9": "c9"}}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, placement.ErrUnknownCell))
	// Output:
	// tenant-1 → use1-c1 (table, writable true, v42)
	// tenant-42 → use1-c3 (override, writable true, v42)
	// tenant-7 → use1-c2 (migration, writable false, v42)
	// placement: overrides["tenant-9"]: cell "c9" is not defined
	// true
}

func ExampleBuilder() {
	m, _ := placement.Parse([]byte(doc))
	b := placement.NewBuilder(m)
	// Move tenant-1 to use1-c2: copy, freeze, flip, done.
	if err := b.MigrateKey("tenant-1", "use1-c2"); err != nil {
		fmt.Println(err)
		return
	}
	for step := range 4 {
		next, err := b.Build()
		if err != nil {
			fmt.Println(err)
			return
		}
		a, _ := next.Locate("tenant-1")
		fmt.Printf("v%d: reads %v, writes to %s: %v\n", next.Version(), a.Read, a.Cell, a.Writable)
		if step < 3 {
			b.Advance(placement.Migration{Key: "tenant-1"})
		}
	}
	err := b.Advance(placement.Migration{Key: "tenant-1"})
	fmt.Println(errors.Is(err, placement.ErrNotFound))
	// Output:
	// v43: reads [use1-c1], writes to use1-c1: true
	// v43: reads [use1-c1], writes to use1-c1: false
	// v43: reads [use1-c2 use1-c1], writes to use1-c2: true
	// v43: reads [use1-c2], writes to use1-c2: true
	// true
}

// The routing hot path: AppendLocate into a buffer on the stack does not
// allocate, and the Assignment's slices are the caller's own.
func ExampleMap_AppendLocate() {
	m, err := placement.Parse([]byte(`{"version": 42, "seed": "0x9e3779b97f4a7c15", "shardSize": 2,
	  "cells": [{"id": "use1-c1", "zone": "use1-az1"}, {"id": "use1-c2", "zone": "use1-az2"},
	            {"id": "use1-c3", "zone": "use1-az3", "weight": 2}],
	  "overrides": {"tenant-42": "use1-c3"}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	var buf [8]string // on the stack: no allocation
	a, err := m.AppendLocate(buf[:0], "tenant-7")
	if errors.Is(err, placement.ErrCellDisabled) {
		return // fail fast: the key's home is disabled (a.Shard[1:] may take stateless calls)
	}
	fmt.Println(a.Cell, a.Shard, a.Reason, a.Version)
	// Cells reject misrouted keys with the same map:
	fmt.Println(m.OwnsWrite("use1-c3", "tenant-42"), m.OwnsShard(a.Shard[1], "tenant-7"))
	_, err = m.AppendLocate(buf[:0], "")
	fmt.Println(err)
	// Output:
	// use1-c3 [use1-c3 use1-c1] table 42
	// true true
	// placement: empty key
}

// A control plane builds a first map from Go values.
func ExampleNewBuilder() {
	b := placement.NewBuilder(nil)
	b.SetSeed(0x9e3779b97f4a7c15)
	if err := b.SetBuckets(1024); err != nil {
		fmt.Println(err)
		return
	}
	for _, id := range []string{"use1-c1", "use1-c2", "use1-c3"} {
		err := b.AddCell(placement.Cell{ID: id, Zone: "use1-az" + id[len(id)-1:], Weight: 1,
			Endpoints: []placement.Endpoint{{URL: "https://" + id + ".internal:8443"}}})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := b.Pin("tenant-42", "use1-c3"); err != nil {
		fmt.Println(err)
		return
	}
	m, err := b.Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	again, err := placement.Parse(m.Bytes()) // what every client reads
	fmt.Println(m.Version(), m.NumCells(), m.Overrides(), err, placement.Diff(m, again).Empty())

	err = b.AddCell(placement.Cell{ID: "use1/c4", Weight: 1})
	fmt.Println(err)
	// Output:
	// 1 3 1 <nil> true
	// placement: cells["use1/c4"].id: a cell ID is 1 to 63 ASCII letters, digits, '.', '_' and '-', starting with a letter or digit: "use1/c4"
}
