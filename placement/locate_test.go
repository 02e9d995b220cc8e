package placement

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func mustParse(t testing.TB, doc string) *Map {
	t.Helper()
	m, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return m
}

// keyIn returns a key that hashes to bucket b of m.
func keyIn(t testing.TB, m *Map, b int) string {
	t.Helper()
	for i := range 1_000_000 {
		k := fmt.Sprintf("k%d", i)
		if bucket, _ := m.bucketOf(k); bucket == b {
			return k
		}
	}
	t.Fatalf("no key in bucket %d", b)
	return ""
}

// A four-bucket explicit map: bucket 0 on c1, 1 on c2 (draining), 2 on c3
// (disabled), 3 on c1, with a canary c4 and an active c5.
const rulesDoc = `{
	"version": 9, "seed": "0x1", "buckets": 4,
	"cells": [
		{"id": "c1", "zone": "a"}, {"id": "c2", "zone": "b", "state": "draining"},
		{"id": "c3", "zone": "c", "state": "disabled"}, {"id": "c4", "zone": "a", "state": "canary"},
		{"id": "c5", "zone": "b"}
	],
	"table": [{"buckets": "0", "cell": "c1"}, {"buckets": "1", "cell": "c2"}, {"buckets": "2", "cell": "c3"}, {"buckets": "3", "cell": "c1"}],
	"overrides": {"pinned": "c5", "canary-tenant": "c4", "pinned-dead": "c3",
		"moving-copy": "c1", "moving-frozen": "c1", "moving-flipped": "c1", "moving-to-dead": "c1"},
	"migrations": [
		{"key": "moving-copy", "from": "c1", "to": "c5", "phase": "copying"},
		{"key": "moving-frozen", "from": "c1", "to": "c5", "phase": "frozen"},
		{"key": "moving-flipped", "from": "c1", "to": "c5", "phase": "flipped"},
		{"key": "moving-to-dead", "from": "c1", "to": "c3", "phase": "flipped"},
		{"buckets": "3", "from": "c1", "to": "c2", "phase": "frozen"}
	]
}`

func TestLocateRules(t *testing.T) {
	m := mustParse(t, rulesDoc)
	for _, tc := range []struct {
		key      string
		cell     string
		read     []string
		writable bool
		reason   Reason
		phase    Phase
		err      error
	}{
		{keyIn(t, m, 0), "c1", []string{"c1"}, true, ReasonTable, 0, nil},
		{keyIn(t, m, 1), "c2", []string{"c2"}, true, ReasonTable, 0, nil}, // draining keeps table keys
		{keyIn(t, m, 2), "c3", []string{"c3"}, true, ReasonTable, 0, ErrCellDisabled},
		{keyIn(t, m, 3), "c1", []string{"c1"}, false, ReasonMigration, Frozen, nil}, // bucket migration
		{"pinned", "c5", []string{"c5"}, true, ReasonOverride, 0, nil},
		{"canary-tenant", "c4", []string{"c4"}, true, ReasonOverride, 0, nil},
		{"pinned-dead", "c3", []string{"c3"}, true, ReasonOverride, 0, ErrCellDisabled},
		{"moving-copy", "c1", []string{"c1"}, true, ReasonMigration, Copying, nil},
		{"moving-frozen", "c1", []string{"c1"}, false, ReasonMigration, Frozen, nil},
		{"moving-flipped", "c5", []string{"c5", "c1"}, true, ReasonMigration, Flipped, nil},
		{"moving-to-dead", "c3", []string{"c3", "c1"}, true, ReasonMigration, Flipped, ErrCellDisabled},
	} {
		a, err := m.Locate(tc.key)
		if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("Locate(%q) error = %v; want %v", tc.key, err, tc.err)
		}
		if a.Key != tc.key || a.Cell != tc.cell || !slices.Equal(a.Read, tc.read) || a.Writable != tc.writable ||
			a.Reason != tc.reason || (a.Reason == ReasonMigration && a.Phase != tc.phase) || a.Version != 9 {
			t.Errorf("Locate(%q) = %+v; want cell %s read %v writable %v reason %v phase %v", tc.key, a, tc.cell, tc.read, tc.writable, tc.reason, tc.phase)
		}
	}
	var ce *CellError
	_, err := m.Locate("pinned-dead")
	if !errors.As(err, &ce) || ce.Cell != "c3" || ce.Key != "pinned-dead" {
		t.Errorf("Locate(pinned-dead) error = %v; want a *CellError for c3", err)
	}
	if got := ReasonOverride.String() + ReasonMigration.String() + ReasonTable.String(); got != "overridemigrationtable" {
		t.Errorf("Reason names = %q", got)
	}
}

// TestOwns checks both cells of a migration in every phase, and plain keys.
func TestOwns(t *testing.T) {
	m := mustParse(t, rulesDoc)
	for _, tc := range []struct {
		key                  string
		readers, writers     []string
		notReaders, nonWrite []string
	}{
		{"moving-copy", []string{"c1"}, []string{"c1"}, []string{"c5"}, []string{"c5"}},
		{"moving-frozen", []string{"c1"}, nil, []string{"c5"}, []string{"c1", "c5"}},
		{"moving-flipped", []string{"c5", "c1"}, []string{"c5"}, nil, []string{"c1"}},
		{"pinned", []string{"c5"}, []string{"c5"}, []string{"c1"}, []string{"c1"}},
		{"pinned-dead", nil, nil, []string{"c3", "c1"}, []string{"c3"}},
		{keyIn(t, m, 0), []string{"c1"}, []string{"c1"}, []string{"c2", "c5"}, []string{"c2"}},
		{keyIn(t, m, 3), []string{"c1"}, nil, []string{"c2"}, []string{"c1", "c2"}},
	} {
		for _, c := range tc.readers {
			if !m.Owns(c, tc.key) {
				t.Errorf("Owns(%s, %s) = false; want true", c, tc.key)
			}
		}
		for _, c := range tc.notReaders {
			if m.Owns(c, tc.key) {
				t.Errorf("Owns(%s, %s) = true; want false", c, tc.key)
			}
		}
		for _, c := range tc.writers {
			if !m.OwnsWrite(c, tc.key) {
				t.Errorf("OwnsWrite(%s, %s) = false; want true", c, tc.key)
			}
		}
		for _, c := range tc.nonWrite {
			if m.OwnsWrite(c, tc.key) {
				t.Errorf("OwnsWrite(%s, %s) = true; want false", c, tc.key)
			}
		}
	}
}

// TestDerivedStates: derived buckets and shards use active cells with
// positive weight only; draining, disabled, canary and weight-0 cells get
// none.
func TestDerivedStates(t *testing.T) {
	m := mustParse(t, `{"version": 1, "shardSize": 3, "cells": [
		{"id": "a1", "zone": "a"}, {"id": "a2", "zone": "a"}, {"id": "b1", "zone": "b"}, {"id": "b2", "zone": "b", "weight": 2},
		{"id": "dr", "zone": "a", "state": "draining"}, {"id": "di", "zone": "b", "state": "disabled"},
		{"id": "ca", "zone": "a", "state": "canary"}, {"id": "w0", "zone": "b", "weight": 0}]}`)
	eligible := []string{"a1", "a2", "b1", "b2"}
	var buf [8]string
	for i := range 5000 {
		a, err := m.AppendLocate(buf[:0], fmt.Sprintf("tenant-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(eligible, a.Cell) || len(a.Shard) != 3 || a.Shard[0] != a.Cell {
			t.Fatalf("Locate(tenant-%d) = %+v", i, a)
		}
		for _, c := range a.Shard {
			if !slices.Contains(eligible, c) {
				t.Fatalf("shard %v holds %s", a.Shard, c)
			}
		}
		zones := map[byte]int{}
		for _, c := range a.Shard {
			zones[c[0]]++
		}
		if zones['a'] == 0 || zones['b'] == 0 {
			t.Fatalf("shard %v does not span both zones", a.Shard)
		}
	}
}

func TestLocateAllocs(t *testing.T) {
	m := mustParse(t, rulesDoc)
	big := mustParse(t, `{"version": 1, "shardSize": 4, "cells": [{"id": "c1", "zone": "a"}, {"id": "c2", "zone": "b"}, {"id": "c3", "zone": "a"}, {"id": "c4", "zone": "b"}, {"id": "c5", "zone": "c"}]}`)
	var buf [8]string
	for name, f := range map[string]func(){
		"table":     func() { m.AppendLocate(buf[:0], "tenant-1") },
		"override":  func() { m.AppendLocate(buf[:0], "pinned") },
		"migration": func() { m.AppendLocate(buf[:0], "moving-flipped") },
		"owns":      func() { m.Owns("c1", "moving-frozen") },
		"ownsWrite": func() { m.OwnsWrite("c1", "moving-frozen") },
		"shard":     func() { big.AppendLocate(buf[:0], "tenant-1") },
		"ownsShard": func() { big.OwnsShard("c3", "tenant-1") },
	} {
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("%s: %v allocations; want 0", name, a)
		}
	}
	// A disabled home costs the *CellError, and nothing else.
	if a := testing.AllocsPerRun(100, func() { m.AppendLocate(buf[:0], "pinned-dead") }); a != 1 {
		t.Errorf("disabled: %v allocations; want 1, the *CellError", a)
	}
}
