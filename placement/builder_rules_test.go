package placement

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestRollbackRestoresPin: rolling back, before the flip, the migration of
// a key that was pinned pins it again to the cell that holds its data, in
// the builder that started the migration and in a later one.
func TestRollbackRestoresPin(t *testing.T) {
	base := mustParse(t, fleetDoc(4, `, "overrides": {"vip": "c01"}`))
	g := Migration{Key: "vip"}
	for _, phase := range []Phase{Copying, Frozen} {
		b := NewBuilder(base)
		if err := b.MigrateKey("vip", "c02"); err != nil {
			t.Fatal(err)
		}
		if phase == Frozen {
			b.Advance(g)
		}
		started := mustBuild(t, b)
		if cell, pinned := started.Override("vip"); !pinned || cell != "c01" || started.Migrations()[0].From != "c01" {
			t.Fatalf("MigrateKey of a pinned key: override %q, From %q; want both c01, where the key's data is", cell, started.Migrations()[0].From)
		}
		for name, rb := range map[string]*Builder{"same builder": b, "next version": NewBuilder(started)} {
			if err := rb.Rollback(g); err != nil {
				t.Fatal(err)
			}
			m := mustBuild(t, rb)
			a, _ := m.Locate("vip")
			if cell, ok := m.Override("vip"); !ok || cell != "c01" || a.Cell != "c01" || a.Reason != ReasonOverride || len(m.Migrations()) != 0 {
				t.Errorf("%v, %s: after Rollback Override(vip) = %q, %v, Locate = %+v; want pinned to c01 again", phase, name, cell, ok, a)
			}
		}
	}
	// A key of a derived table whose table home changes while it migrates
	// stays on the cell that holds its data when the migration is rolled
	// back.
	b := NewBuilder(base)
	a, _ := base.Locate("tenant-3")
	to := "c00"
	if a.Cell == to {
		to = "c01"
	}
	if err := b.MigrateKey("tenant-3", to); err != nil {
		t.Fatal(err)
	}
	if err := b.SetState(a.Cell, Draining); err != nil { // tenant-3's table home moves
		t.Fatal(err)
	}
	if err := b.Rollback(Migration{Key: "tenant-3"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := mustBuild(t, b).Locate("tenant-3"); got.Cell != a.Cell {
		t.Errorf("after Rollback tenant-3 is on %s; want %s, where its data is", got.Cell, a.Cell)
	}
}

// TestMigrateKeyAfterBucketFlip: MigrateKey takes From from what Locate
// answers now, which after the flip of the key's bucket is the new cell.
func TestMigrateKeyAfterBucketFlip(t *testing.T) {
	b := NewBuilder(mustParse(t, fleetDoc(4, "")))
	if err := b.FreezeTable(); err != nil {
		t.Fatal(err)
	}
	m := mustBuild(t, b)
	key := "tenant-5"
	bucket, _ := m.bucketOf(key)
	owner, _ := m.BucketOwner(bucket)
	next, third := "c00", "c01"
	for _, c := range []string{"c00", "c01", "c02"} {
		if c != owner {
			next, third = third, c
		}
	}
	if err := b.MigrateBuckets(Range{bucket, bucket}, next); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		phase Phase
		from  string
	}{{Copying, owner}, {Frozen, owner}, {Flipped, next}} {
		if tc.phase > Copying {
			b.Advance(Migration{Buckets: Range{bucket, bucket}})
		}
		now, _ := mustBuild(t, b).Locate(key)
		kb := NewBuilder(mustBuild(t, b))
		if err := kb.MigrateKey(key, third); err != nil {
			t.Fatal(err)
		}
		after := mustBuild(t, kb)
		g := after.Migrations()[0]
		if g.Key != key || g.From != tc.from || g.From != now.Cell {
			t.Errorf("bucket migration %v: MigrateKey From = %q; want %q, Locate's answer", tc.phase, g.From, tc.from)
		}
		if a, _ := after.Locate(key); a.Cell != now.Cell || a.Reason != ReasonMigration || a.Phase != Copying {
			t.Errorf("bucket migration %v: key migration starts at %+v; want home %s", tc.phase, a, now.Cell)
		}
	}
}

// manyCells returns a builder of a first map of n cells over 64 buckets.
func manyCells(t *testing.T, n int, lim Limits) *Builder {
	b := NewBuilderWith(nil, lim)
	if err := b.SetBuckets(64); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := b.AddCell(Cell{ID: fmt.Sprintf("c%05d", i), Weight: 1}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestBuildLimits: Build applies the Builder's limits, the defaults or those
// given, so that whatever Build accepts Parse with the same limits accepts.
func TestBuildLimits(t *testing.T) {
	if _, err := manyCells(t, 10_001, Limits{}).Build(); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "MaxCells") {
		t.Errorf("Build of 10,001 cells: %v; want ErrLimit", err)
	}
	if _, err := manyCells(t, 10_000, Limits{}).Build(); err != nil {
		t.Errorf("Build of 10,000 cells: %v", err)
	}
	wide := Limits{MaxCells: 20_000}
	m, err := manyCells(t, 10_001, wide).Build()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(m.Bytes()); !errors.Is(err, ErrLimit) {
		t.Errorf("Parse with the default limits of a map of 10,001 cells: %v; want ErrLimit", err)
	}
	if _, err := ParseWith(m.Bytes(), Options{Limits: wide}); err != nil {
		t.Errorf("ParseWith the builder's limits: %v", err)
	}
	// A map parsed with wider limits does not build under the defaults.
	if _, err := NewBuilder(m).Build(); !errors.Is(err, ErrLimit) {
		t.Errorf("NewBuilder(10,001 cells).Build: %v; want ErrLimit", err)
	}
	// Each limit, in Build and in Parse alike.
	base := mustParse(t, fleetDoc(3, ""))
	for _, tc := range []struct {
		name string
		lim  Limits
		edit func(b *Builder) error
	}{
		{"overrides", Limits{MaxOverrides: 2}, func(b *Builder) error {
			return errors.Join(b.Pin("a", "c00"), b.Pin("b", "c00"), b.Pin("c", "c00"))
		}},
		{"migrations", Limits{MaxMigrations: 1}, func(b *Builder) error {
			return errors.Join(b.MigrateKey("a", elsewhere(base, "a")), b.MigrateKey("b", elsewhere(base, "b")))
		}},
		{"key bytes", Limits{MaxKeyBytes: 4}, func(b *Builder) error { return b.Pin("abcde", "c00") }},
		{"endpoints", Limits{MaxEndpoints: 1}, func(b *Builder) error {
			return b.SetEndpoints("c00", []Endpoint{{URL: "https://a"}, {URL: "https://b"}})
		}},
		{"labels", Limits{MaxLabelBytes: 4}, func(b *Builder) error { return b.SetLabels("c00", map[string]string{"key": "value"}) }},
		{"shard size", Limits{MaxShardSize: 2}, func(b *Builder) error { return b.SetShardSize(3) }},
		{"table work", Limits{MaxTableWork: 1000}, func(b *Builder) error { return nil }},
	} {
		b := NewBuilderWith(base, tc.lim)
		err := tc.edit(b)
		if err == nil {
			_, err = b.Build()
		}
		if !errors.Is(err, ErrLimit) {
			t.Errorf("%s: edits and Build: %v; want ErrLimit", tc.name, err)
		}
		// Parse with the same limits refuses the same document.
		loose := NewBuilder(base)
		if tc.edit(loose) != nil {
			continue
		}
		doc := mustBuild(t, loose).Bytes()
		if _, err := ParseWith(doc, Options{Limits: tc.lim}); !errors.Is(err, ErrLimit) {
			t.Errorf("%s: ParseWith the same limits: %v; want ErrLimit", tc.name, err)
		}
	}
}

// elsewhere returns a cell of m other than key's home.
func elsewhere(m *Map, key string) string {
	a, _ := m.Locate(key)
	for _, id := range m.AppendCellIDs(nil) {
		if id != a.Cell {
			return id
		}
	}
	return ""
}

// TestBuildVersionOverflow: the next version of version 2⁶⁴−1 cannot be
// written: Build says so.
func TestBuildVersionOverflow(t *testing.T) {
	m := mustParse(t, fmt.Sprintf(`{"version": %d, "cells": [{"id": "c1"}]}`, uint64(math.MaxUint64)))
	b := NewBuilder(m)
	if err := b.Pin("k", "c1"); err != nil {
		t.Fatal(err)
	}
	_, err := b.Build()
	var fe *FieldError
	if !errors.Is(err, ErrVersion) || !errors.As(err, &fe) || fe.Field != "version" || !strings.Contains(err.Error(), "cannot grow") {
		t.Errorf("Build after version 2⁶⁴−1: %v; want ErrVersion saying the version cannot grow", err)
	}
	before := mustParse(t, fmt.Sprintf(`{"version": %d, "cells": [{"id": "c1"}]}`, uint64(math.MaxUint64-1)))
	if next := mustBuild(t, NewBuilder(before)); next.Version() != math.MaxUint64 {
		t.Errorf("next of 2⁶⁴−2 = %d", next.Version())
	}
}

// TestDisabledCellRule: the one rule for disabled cells, in Parse and the
// Builder: overrides and migrations may name them (a suspended tenant, a
// cell disabled in the middle of a move, a new cell filled before it is
// enabled), and the keys homed there fail fast.
func TestDisabledCellRule(t *testing.T) {
	doc := `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2", "state": "disabled"}],
		"overrides": {"suspended": "c2", "filling": "c1"}, "migrations": [{"key": "filling", "from": "c1", "to": "c2", "phase": "copying"}]}`
	parsed := mustParse(t, doc)
	b := NewBuilder(mustParse(t, `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}]}`))
	if err := errors.Join(b.SetState("c2", Disabled), b.Pin("suspended", "c2"), b.MigrateKey("filling", "c2")); err != nil {
		t.Fatalf("Builder refuses what Parse accepts: %v", err)
	}
	built := mustBuild(t, b)
	if p, q := string(mustBuild(t, NewBuilder(parsed)).Bytes()), string(built.Bytes()); p != q {
		t.Errorf("Parse and the Builder disagree:\n%s\n%s", p, q)
	}
	for _, m := range []*Map{parsed, built} {
		if _, err := m.Locate("suspended"); !errors.Is(err, ErrCellDisabled) {
			t.Errorf("Locate(suspended) = %v; want ErrCellDisabled", err)
		}
		if a, err := m.Locate("filling"); err != nil || a.Cell != "c1" {
			t.Errorf("Locate(filling) = %+v, %v; want c1", a, err)
		}
	}
	// Disabling a cell keeps the keys pinned to it, and Quarantine may pin to
	// a disabled cell too.
	q := NewBuilder(mustParse(t, `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}], "overrides": {"k": "c2"}}`))
	if err := errors.Join(q.SetState("c2", Disabled), q.Quarantine("poison", "c2")); err != nil {
		t.Fatal(err)
	}
	if m := mustBuild(t, q); m.Overrides() != 2 {
		t.Errorf("Overrides = %d; want 2", m.Overrides())
	}
}

// TestFirstMap: NewBuilder(nil) builds version 1 from Go values.
func TestFirstMap(t *testing.T) {
	b := NewBuilder(nil)
	if _, err := b.Build(); !errors.Is(err, ErrNoEligible) {
		t.Errorf("Build of nothing: %v; want ErrNoEligible", err)
	}
	b.SetSeed(0x9e3779b97f4a7c15)
	if err := errors.Join(b.SetBuckets(1024), b.SetShardSize(2)); err != nil {
		t.Fatal(err)
	}
	if err := b.AddCell(Cell{ID: "a", Zone: "z1", Weight: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(); !errors.Is(err, ErrShardSize) {
		t.Errorf("Build of one cell with shardSize 2: %v; want ErrShardSize", err)
	}
	for _, c := range []Cell{{ID: "b", Zone: "z2", Weight: 2}, {ID: "c", Zone: "z3", Weight: 1, State: Draining,
		Endpoints: []Endpoint{{URL: "https://c.internal:8443/api", Zone: "z3"}}, Labels: map[string]string{"wave": "1"}}} {
		if err := b.AddCell(c); err != nil {
			t.Fatal(err)
		}
	}
	m := mustBuild(t, b)
	if m.Version() != 1 || m.Seed() != 0x9e3779b97f4a7c15 || m.Buckets() != 1024 || m.ShardSize() != 2 || m.NumCells() != 3 || m.Explicit() {
		t.Errorf("first map: version %d seed %#x buckets %d shardSize %d cells %d", m.Version(), m.Seed(), m.Buckets(), m.ShardSize(), m.NumCells())
	}
	p, err := Parse(m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustMarshal(t, p), mustMarshal(t, m); a != b || !Diff(p, m).Empty() {
		t.Errorf("Parse(Bytes) differs from the built map:\n%s\n%s", a, b)
	}
}

func mustMarshal(t testing.TB, m *Map) string {
	t.Helper()
	data, err := m.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestZeroBuilder: the zero Builder builds a first map.
func TestZeroBuilder(t *testing.T) {
	var b Builder
	if err := errors.Join(b.AddCell(Cell{ID: "c1", Weight: 1}), b.Pin("k", "c1")); err != nil {
		t.Fatal(err)
	}
	m := mustBuild(t, &b)
	if c, _ := m.Override("k"); m.Version() != 1 || c != "c1" || m.Buckets() != DefaultBuckets {
		t.Errorf("zero Builder: version %d, override %q, buckets %d", m.Version(), c, m.Buckets())
	}
	var z Builder
	if _, err := z.Build(); !errors.Is(err, ErrNoEligible) {
		t.Errorf("zero Builder, Build: %v; want ErrNoEligible", err)
	}
}
