package placement

import (
	"errors"
	"strings"
	"testing"
)

// TestParseNextReusesTable: a document whose cells, weights, seed and
// buckets are those of the map it replaces shares that map's derived table;
// one that changes any input of the derivation gets a table of its own, and
// every answer is ParseSigned's.
func TestParseNextReusesTable(t *testing.T) {
	base := `{"version": %V, "seed": "0x9e3779b97f4a7c15", "buckets": 256, "cells": [
	 {"id": "c1", "zone": "z1"}, {"id": "c2", "zone": "z2", "weight": 2}, {"id": "c3", "zone": "z3"}]%X}`
	doc := func(v, extra string) []byte {
		return []byte(strings.NewReplacer("%V", v, "%X", extra).Replace(base))
	}
	prev, err := Parse(doc("1", ""))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		doc   string
		reuse bool
	}{
		{"overrides only", string(doc("2", `, "overrides": {"tenant-1": "c3"}`)), true},
		{"endpoints and labels", strings.Replace(string(doc("2", "")), `{"id": "c1", "zone": "z1"}`,
			`{"id": "c1", "zone": "z1", "labels": {"a": "b"}, "endpoints": [{"url": "https://c1.internal"}]}`, 1), true},
		// Zones are no input of the table, but the table names its ring:
		// the owners are copied onto the new ring, not derived.
		{"zone", strings.Replace(string(doc("2", "")), `"zone": "z3"`, `"zone": "z1"`, 1), false},
		{"weight", strings.Replace(string(doc("2", "")), `"weight": 2`, `"weight": 3`, 1), false},
		{"state", strings.Replace(string(doc("2", "")), `{"id": "c3", "zone": "z3"}`, `{"id": "c3", "zone": "z3", "state": "draining"}`, 1), false},
		{"weight 0 cell added", strings.Replace(string(doc("2", "")), `]`, `, {"id": "c0", "weight": 0}]`, 1), false},
		{"cell renamed", strings.Replace(string(doc("2", "")), `"c3"`, `"c4"`, 1), false},
		{"seed", strings.Replace(string(doc("2", "")), `0x9e3779b97f4a7c15`, `0x9e3779b97f4a7c16`, 1), false},
		{"buckets", strings.Replace(string(doc("2", "")), `"buckets": 256`, `"buckets": 255`, 1), false},
	}
	for _, c := range cases {
		got, err := ParseNext(prev, []byte(c.doc), nil, Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want, err := Parse([]byte(c.doc))
		if err != nil {
			t.Fatal(err)
		}
		if reused := got.table == prev.table; reused != c.reuse {
			t.Errorf("%s: table reused = %v, want %v", c.name, reused, c.reuse)
		}
		if got.table.Ring() != got.ring {
			t.Errorf("%s: the table's ring is not the map's", c.name)
		}
		if mustMarshal(t, got) != mustMarshal(t, want) || !Diff(got, want).Empty() || !sameOwners(got, want) {
			t.Errorf("%s: ParseNext and Parse differ", c.name)
		}
		for _, k := range keys16(2000) {
			if a, b := locateAnswer(got, k), locateAnswer(want, k); a.Cell != b.Cell || strings.Join(a.Shard, ",") != strings.Join(b.Shard, ",") {
				t.Fatalf("%s: Locate(%q) = %+v, Parse gives %+v", c.name, k, a, b)
			}
		}
	}
	// The zone edit keeps the owners, on a ring of its own.
	z, _ := ParseNext(prev, []byte(cases[2].doc), nil, Options{})
	if z.ring == prev.ring {
		t.Error("zone change: the ring of the old zones was reused")
	}

	// Errors and limits are ParseSigned's, prev or not.
	if _, err := ParseNext(prev, doc("2", `, "overrides": {"k": "c9"}`), nil, Options{}); !errors.Is(err, ErrUnknownCell) {
		t.Errorf("bad document: %v", err)
	}
	if _, err := ParseNext(prev, doc("2", ""), nil, Options{Limits: Limits{MaxTableWork: 100}}); !errors.Is(err, ErrLimit) {
		t.Errorf("table work over the limit with a reusable table: %v", err)
	}
	// A nil or explicit prev is no table to reuse.
	if m, err := ParseNext(nil, doc("2", ""), nil, Options{}); err != nil || m.table == prev.table {
		t.Errorf("nil prev: %v", err)
	}
}

func sameOwners(a, b *Map) bool {
	if a.buckets != b.buckets {
		return false
	}
	for i := range a.buckets {
		x, _ := a.BucketOwner(i)
		y, _ := b.BucketOwner(i)
		if x != y {
			return false
		}
	}
	return true
}
