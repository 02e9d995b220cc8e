package cell_test

import (
	"strconv"
	"testing"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
)

// verdictDoc has a frozen, a flipped and a copying key migration from a to
// b, and shard size 2 so that a stateless cell accepts its shard's keys.
const verdictDoc = `{"version": 5, "seed": "1", "buckets": 64, "shardSize": 2,
 "cells": [{"id": "a", "zone": "z"}, {"id": "b", "zone": "z"}, {"id": "c", "zone": "z"}],
 "table": [{"buckets": "0-31", "cell": "a"}, {"buckets": "32-63", "cell": "b"}],
 "migrations": [{"key": "frozen-key", "from": "a", "to": "b", "phase": "frozen"},
  {"key": "flipped-key", "from": "a", "to": "b", "phase": "flipped"},
  {"key": "copying-key", "from": "a", "to": "b", "phase": "copying"}]}`

// keyOf returns the first key "k<i>" whose home is cell home and, when
// member is not "", whose shard holds member.
func keyOf(t *testing.T, m *placement.Map, home, member string) string {
	t.Helper()
	for i := range 100_000 {
		k := "k" + strconv.Itoa(i)
		a, err := m.Locate(k)
		if err != nil || a.Cell != home {
			continue
		}
		if member == "" {
			return k
		}
		for _, s := range a.Shard {
			if s == member {
				return k
			}
		}
	}
	t.Fatalf("no key with home %s and %q in its shard", home, member)
	return ""
}

// Judge's table: every branch of the one ownership rule both Guards use.
func TestJudge(t *testing.T) {
	m, err := placement.Parse([]byte(verdictDoc))
	if err != nil {
		t.Fatal(err)
	}
	keyA := keyOf(t, m, "a", "")
	keyBShardC := keyOf(t, m, "b", "c") // home b, c in its shard
	const (
		read, write = false, true
	)
	owned := cell.Verdict{Owned: true, Version: 5}
	moved := func(to string) cell.Verdict { return cell.Verdict{Owner: to, Version: 5} }
	refused := func(err error) cell.Verdict { return cell.Verdict{Refused: err, Version: 5} }
	for _, tc := range []struct {
		name      string
		m         *placement.Map
		self, key string
		write     bool
		stateless bool
		theirs    uint64
		want      cell.Verdict
	}{
		{"no map", nil, "a", keyA, read, false, 0, cell.Verdict{Refused: cell.ErrCellBehind}},
		{"no map stateless", nil, "a", keyA, write, true, 9, cell.Verdict{Refused: cell.ErrCellBehind}},
		{"home read", m, "a", keyA, read, false, 0, owned},
		{"home write", m, "a", keyA, write, false, 7, owned},
		{"other read", m, "c", keyA, read, false, 0, moved("a")},
		{"other write same version", m, "c", keyA, write, false, 5, moved("a")},
		{"older caller", m, "c", keyA, write, false, 4, moved("a")},
		{"newer caller", m, "c", keyA, read, false, 6, refused(cell.ErrCellBehind)},
		{"frozen write at home", m, "a", "frozen-key", write, false, 0, refused(cell.ErrFrozen)},
		{"frozen write elsewhere, newer caller", m, "b", "frozen-key", write, false, 9, refused(cell.ErrFrozen)},
		{"frozen read at home", m, "a", "frozen-key", read, false, 0, owned},
		{"frozen read elsewhere", m, "b", "frozen-key", read, false, 0, moved("a")},
		{"frozen stateless write", m, "a", "frozen-key", write, true, 0, owned},
		{"flipped read at old cell", m, "a", "flipped-key", read, false, 0, owned},
		{"flipped write at old cell", m, "a", "flipped-key", write, false, 0, moved("b")},
		{"flipped read elsewhere names the first read cell", m, "c", "flipped-key", read, false, 0, moved("b")},
		{"copying write at new cell", m, "b", "copying-key", write, false, 0, moved("a")},
		{"stateless shard member", m, "c", keyBShardC, write, true, 0, owned},
		{"stateful shard member", m, "c", keyBShardC, write, false, 0, moved("b")},
		{"stateless outside the shard, newer caller", m, "a", keyBShardC, read, true, 6, refused(cell.ErrCellBehind)},
	} {
		if got := cell.Judge(tc.m, tc.self, tc.key, tc.write, tc.stateless, tc.theirs); got != tc.want {
			t.Errorf("%s: Judge(%s, %s, write %v, stateless %v, theirs %d) = %+v; want %+v",
				tc.name, tc.self, tc.key, tc.write, tc.stateless, tc.theirs, got, tc.want)
		}
	}
}

// Judge runs on every request a cell serves: it must not allocate.
func TestJudgeAllocs(t *testing.T) {
	m, err := placement.Parse([]byte(verdictDoc))
	if err != nil {
		t.Fatal(err)
	}
	keyA := keyOf(t, m, "a", "")
	var sink cell.Verdict
	allocs := testing.AllocsPerRun(100, func() {
		sink = cell.Judge(m, "c", keyA, false, false, 0)
		sink = cell.Judge(m, "b", "flipped-key", false, false, 0)
		sink = cell.Judge(m, "a", "frozen-key", true, false, 0)
		sink = cell.Judge(m, "c", keyA, true, true, 9)
	})
	if allocs != 0 {
		t.Fatalf("Judge allocates %v times per run; want 0", allocs)
	}
	_ = sink
}
