package placement

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
)

// TestAssignmentOwnsItsSlices: a caller that sorts, appends to or writes
// into an Assignment's Read and Shard changes no other caller's answers,
// and AppendLocate follows the append convention.
func TestAssignmentOwnsItsSlices(t *testing.T) {
	m := mustParse(t, `{"version": 1, "shardSize": 3, "cells": [{"id": "a", "zone": "1"}, {"id": "b", "zone": "2"}, {"id": "c", "zone": "3"}, {"id": "d", "zone": "1"}],
		"overrides": {"moving": "a"}, "migrations": [{"key": "moving", "from": "a", "to": "d", "phase": "flipped"}]}`)
	for _, key := range []string{"moving", "tenant-1", "tenant-2"} {
		want, _ := m.Locate(key)
		want.Read, want.Shard = slices.Clone(want.Read), slices.Clone(want.Shard)
		a, _ := m.Locate(key)
		sort.Strings(a.Read)
		slices.Reverse(a.Shard)
		a.Read[0], a.Shard[0] = "x", "y"
		a.Read = append(a.Read, "z")
		if b, _ := m.Locate(key); !reflect.DeepEqual(b, want) {
			t.Errorf("Locate(%q) after a caller edited its answer = %+v; want %+v", key, b, want)
		}
		var buf [8]string
		buf[0] = "kept"
		c, _ := m.AppendLocate(buf[:1], key)
		if buf[0] != "kept" || &c.Read[0] != &buf[1] || !slices.Equal(c.Read, want.Read) || !slices.Equal(c.Shard, want.Shard) {
			t.Errorf("AppendLocate(buf[:1], %q) = %+v; want Read %v and Shard %v in buf after its first element", key, c, want.Read, want.Shard)
		}
		if cap(c.Read) != len(c.Read) {
			t.Errorf("AppendLocate(%q): cap(Read) = %d; want %d, so that appending cannot overwrite Shard", key, cap(c.Read), len(c.Read))
		}
		// Appending to Read leaves Shard alone.
		_ = append(c.Read, "overwrite?")
		if !slices.Equal(c.Shard, want.Shard) {
			t.Errorf("appending to Read changed Shard: %v", c.Shard)
		}
		// A full buffer is grown, not overrun.
		small := make([]string, 0, 1)
		d, _ := m.AppendLocate(small, key)
		if !slices.Equal(d.Read, want.Read) || !slices.Equal(d.Shard, want.Shard) {
			t.Errorf("AppendLocate into a small buffer = %+v", d)
		}
	}
}

// TestDisabledHomeShard: a key homed on a disabled cell gets its Assignment
// and its shard, home first then eligible cells, with a *CellError; the
// golden documents' answers for such keys (which record no shard) are
// pinned here.
func TestDisabledHomeShard(t *testing.T) {
	m := mustParse(t, string(goldenDocs(t)["derived-zones.json"]))
	a, err := m.Locate("key-10")
	var ce *CellError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCellDisabled) || ce.Cell != "euw1-c07" || ce.Key != "key-10" {
		t.Fatalf("Locate(key-10) error = %v; want a *CellError for euw1-c07", err)
	}
	want := []string{"euw1-c07", "euw1-c02", "euw1-c06"}
	if a.Cell != "euw1-c07" || !slices.Equal(a.Read, []string{"euw1-c07"}) || !slices.Equal(a.Shard, want) || a.Reason != ReasonOverride {
		t.Errorf("Locate(key-10) = %+v; want home euw1-c07 and shard %v", a, want)
	}
	for _, c := range a.Shard[1:] {
		if s, _ := m.CellState(c); s != Active {
			t.Errorf("shard member %s is %v", c, s)
		}
		if !m.OwnsShard(c, "key-10") || m.Owns(c, "key-10") {
			t.Errorf("OwnsShard(%s, key-10) = %v, Owns = %v; want true, false", c, m.OwnsShard(c, "key-10"), m.Owns(c, "key-10"))
		}
	}
	if m.OwnsShard("euw1-c07", "key-10") {
		t.Error("OwnsShard(the disabled home) = true")
	}
	// The shard around a disabled home is the shard ring.ShardFrom gives,
	// for every key of a map where a table home is disabled.
	rm := mustParse(t, rulesDoc)
	for i := range 200 {
		key := fmt.Sprintf("k-%d", i)
		a, err := rm.Locate(key)
		if errors.Is(err, ErrCellDisabled) && (a.Cell != "c3" || len(a.Shard) != 0) {
			t.Errorf("Locate(%s) = %+v (shardSize 1: no shard)", key, a)
		}
	}
}

// TestOwnsShard: OwnsShard is true where Owns is, and for the members of the
// key's shard, and false elsewhere.
func TestOwnsShard(t *testing.T) {
	m, err := Parse(docWith(12, 50, 3))
	if err != nil {
		t.Fatal(err)
	}
	one := mustParse(t, rulesDoc)
	for i := range 2000 {
		key := fmt.Sprintf("tenant-o-%07d", i) // some are pinned
		a, _ := m.Locate(key)
		for _, c := range m.AppendCellIDs(nil) {
			want := slices.Contains(a.Shard, c) || m.Owns(c, key)
			if got := m.OwnsShard(c, key); got != want {
				t.Fatalf("OwnsShard(%s, %s) = %v; want %v (shard %v)", c, key, got, want, a.Shard)
			}
		}
		for _, c := range one.AppendCellIDs(nil) {
			if one.OwnsShard(c, key) != one.Owns(c, key) {
				t.Fatalf("shardSize 1: OwnsShard(%s, %s) != Owns", c, key)
			}
		}
	}
	for _, c := range []string{"c1", "c5"} {
		if !one.OwnsShard(c, "moving-flipped") {
			t.Errorf("OwnsShard(%s, moving-flipped) = false; Owns is true", c)
		}
	}
}

// TestNoKey: the empty key has no cell.
func TestNoKey(t *testing.T) {
	m := mustParse(t, rulesDoc)
	if a, err := m.Locate(""); !errors.Is(err, ErrNoKey) || a.Cell != "" {
		t.Errorf(`Locate("") = %+v, %v; want ErrNoKey`, a, err)
	}
	var buf [4]string
	if _, err := m.AppendLocate(buf[:0], ""); !errors.Is(err, ErrNoKey) {
		t.Errorf(`AppendLocate("") = %v; want ErrNoKey`, err)
	}
	if m.Owns("c1", "") || m.OwnsWrite("c1", "") || m.OwnsShard("c1", "") {
		t.Error(`a cell owns the empty key`)
	}
	if got := Diff(m, m).Moved([]string{""}); len(got) != 0 {
		t.Errorf("Moved(\"\") = %v", got)
	}
}

// TestAccessors: the per-request accessors answer from the map and do not
// allocate.
func TestAccessors(t *testing.T) {
	m := mustParse(t, string(goldenDocs(t)["arch-example.json"]))
	if n := m.NumCells(); n != 3 {
		t.Errorf("NumCells = %d; want 3", n)
	}
	if ids := m.AppendCellIDs([]string{"x"}); !slices.Equal(ids, []string{"x", "use1-c1", "use1-c2", "use1-c3"}) {
		t.Errorf("AppendCellIDs = %v", ids)
	}
	if s, ok := m.CellState("use1-c3"); !ok || s != Canary {
		t.Errorf("CellState(use1-c3) = %v, %v", s, ok)
	}
	if _, ok := m.CellState("nope"); ok {
		t.Error("CellState(nope) found")
	}
	if z, ok := m.CellZone("use1-c2"); !ok || z != "use1-az2" {
		t.Errorf("CellZone(use1-c2) = %q, %v", z, ok)
	}
	if _, ok := m.CellZone("nope"); ok {
		t.Error("CellZone(nope) found")
	}
	eps, ok := m.AppendEndpoints(nil, "use1-c1")
	if !ok || !slices.Equal(eps, []Endpoint{{"https://c1.internal:8443", "use1-az1"}}) {
		t.Errorf("AppendEndpoints(use1-c1) = %v, %v", eps, ok)
	}
	eps[0].URL = "changed"
	if again, _ := m.AppendEndpoints(nil, "use1-c1"); again[0].URL != "https://c1.internal:8443" {
		t.Error("AppendEndpoints returned the map's memory")
	}
	if _, ok := m.AppendEndpoints(nil, "nope"); ok {
		t.Error("AppendEndpoints(nope) found")
	}
	ids := make([]string, 0, 8)
	epBuf := make([]Endpoint, 0, 8)
	for name, f := range map[string]func(){
		"NumCells":        func() { m.NumCells() },
		"AppendCellIDs":   func() { m.AppendCellIDs(ids[:0]) },
		"CellState":       func() { m.CellState("use1-c2") },
		"CellZone":        func() { m.CellZone("use1-c2") },
		"AppendEndpoints": func() { m.AppendEndpoints(epBuf[:0], "use1-c2") },
		"Owns":            func() { m.Owns("use1-c1", "tenant-1") },
		"OwnsShard":       func() { m.OwnsShard("use1-c1", "tenant-1") },
	} {
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("%s: %v allocations; want 0", name, a)
		}
	}
}

// TestNoMap: every method of a nil or zero *Map gives its documented answer
// and none panics.
func TestNoMap(t *testing.T) {
	for name, m := range map[string]*Map{"nil": nil, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			if _, err := m.Locate("k"); !errors.Is(err, ErrNoMap) {
				t.Errorf("Locate: %v; want ErrNoMap", err)
			}
			if _, err := m.AppendLocate(nil, "k"); !errors.Is(err, ErrNoMap) {
				t.Errorf("AppendLocate: %v; want ErrNoMap", err)
			}
			if _, err := m.MarshalJSON(); !errors.Is(err, ErrNoMap) {
				t.Errorf("MarshalJSON: %v; want ErrNoMap", err)
			}
			if m.Owns("c", "k") || m.OwnsWrite("c", "k") || m.OwnsShard("c", "k") || m.Explicit() {
				t.Error("a missing map owns something")
			}
			if m.Version() != 0 || m.Seed() != 0 || m.Buckets() != 0 || m.ShardSize() != 0 || m.NumCells() != 0 || m.Overrides() != 0 {
				t.Error("a missing map has a size")
			}
			if m.Cells() != nil || m.Migrations() != nil || m.Bytes() != nil || m.Signature() != nil || m.Table() != nil {
				t.Error("a missing map has contents")
			}
			if ids := m.AppendCellIDs([]string{"x"}); !slices.Equal(ids, []string{"x"}) {
				t.Errorf("AppendCellIDs = %v", ids)
			}
			if _, ok := m.Cell("c"); ok {
				t.Error("Cell found")
			}
			if _, ok := m.CellState("c"); ok {
				t.Error("CellState found")
			}
			if _, ok := m.CellZone("c"); ok {
				t.Error("CellZone found")
			}
			if _, ok := m.AppendEndpoints(nil, "c"); ok {
				t.Error("AppendEndpoints found")
			}
			if _, ok := m.BucketOwner(0); ok {
				t.Error("BucketOwner found")
			}
			if _, ok := m.Override("k"); ok {
				t.Error("Override found")
			}
			if c := Diff(m, m); !c.Empty() || c.String() != "none→none: no changes" {
				t.Errorf("Diff = %v", c)
			}
			if moved := Diff(m, mustParse(t, rulesDoc)).Moved([]string{"k"}); len(moved) != 1 || moved[0].From != "" {
				t.Errorf("Moved = %v", moved)
			}
			b := NewBuilder(m)
			if err := b.AddCell(Cell{ID: "c", Weight: 1}); err != nil {
				t.Fatal(err)
			}
			if first := mustBuild(t, b); first.Version() != 1 {
				t.Errorf("NewBuilder of no map: version %d; want 1", first.Version())
			}
		})
	}
}

// TestNoMapEveryMethod calls every exported method of *Map, with zero
// arguments, on a nil and on a zero Map: none may panic, so that a method
// added later is held to the rule too.
func TestNoMapEveryMethod(t *testing.T) {
	typ := reflect.TypeFor[*Map]()
	for i := range typ.NumMethod() {
		meth := typ.Method(i)
		for name, m := range map[string]*Map{"nil": nil, "zero": {}} {
			args := []reflect.Value{reflect.ValueOf(m)}
			for j := 1; j < meth.Type.NumIn(); j++ {
				args = append(args, reflect.Zero(meth.Type.In(j)))
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s Map: %s panics: %v", name, meth.Name, r)
					}
				}()
				meth.Func.Call(args)
			}()
		}
	}
	if typ.NumMethod() < 25 {
		t.Errorf("*Map has %d methods; the test expected at least 25", typ.NumMethod())
	}
}
