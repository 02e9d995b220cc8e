package placement

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func fleetDoc(n int, extra string) string {
	var cells []string
	for i := range n {
		cells = append(cells, fmt.Sprintf(`{"id": "c%02d", "zone": "az%d"}`, i, i%3))
	}
	return fmt.Sprintf(`{"version": 1, "seed": "0x9e3779b97f4a7c15", "cells": [%s]%s}`, strings.Join(cells, ", "), extra)
}

func mustBuild(t testing.TB, b *Builder) *Map {
	t.Helper()
	m, err := b.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return m
}

func homes(t testing.TB, m *Map, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = m.cells[m.home(fmt.Sprintf("tenant-%d", i))].ID
	}
	return out
}

// TestBuilderRefusals: every refused edit returns its sentinel and leaves the
// builder as it was: the built map is byte for byte the unedited one.
func TestBuilderRefusals(t *testing.T) {
	base := mustParse(t, fleetDoc(5, `, "overrides": {"pinned": "c01", "moving": "c00"}, "migrations": [{"key": "moving", "from": "c00", "to": "c02", "phase": "flipped"}]`))
	b := NewBuilder(base)
	want := mustBuild(t, NewBuilder(base)).Bytes()
	if err := b.SetState("c04", Canary); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func() error
		err  error
	}{
		{"add duplicate", func() error { return b.AddCell(Cell{ID: "c00", Weight: 1}) }, ErrDuplicateCell},
		{"add bad ID", func() error { return b.AddCell(Cell{ID: "", Weight: 1}) }, ErrCellID},
		{"add ID with a slash", func() error { return b.AddCell(Cell{ID: "a/b", Weight: 1}) }, ErrCellID},
		{"add bad weight", func() error { return b.AddCell(Cell{ID: "x", Weight: -2}) }, ErrWeight},
		{"add tiny weight", func() error { return b.AddCell(Cell{ID: "x", Weight: 1e-300}) }, ErrWeight},
		{"add bad state", func() error { return b.AddCell(Cell{ID: "x", Weight: 1, State: 9}) }, ErrState},
		{"add bad zone", func() error { return b.AddCell(Cell{ID: "x", Weight: 1, Zone: "z\xff"}) }, ErrUTF8},
		{"add bad endpoint", func() error { return b.AddCell(Cell{ID: "x", Weight: 1, Endpoints: []Endpoint{{URL: "nope"}}}) }, ErrEndpoint},
		{"add endpoint with query", func() error {
			return b.AddCell(Cell{ID: "x", Weight: 1, Endpoints: []Endpoint{{URL: "https://x.internal?a=1"}}})
		}, ErrEndpoint},
		{"add bad label", func() error { return b.AddCell(Cell{ID: "x", Weight: 1, Labels: map[string]string{"k": "\xfe"}}) }, ErrUTF8},
		{"remove unknown", func() error { return b.RemoveCell("zz") }, ErrUnknownCell},
		{"remove pinned target", func() error { return b.RemoveCell("c01") }, ErrEdit},
		{"remove migrating", func() error { return b.RemoveCell("c02") }, ErrEdit},
		{"state unknown cell", func() error { return b.SetState("zz", Draining) }, ErrUnknownCell},
		{"state out of range", func() error { return b.SetState("c00", 7) }, ErrState},
		{"weight NaN", func() error { return b.SetWeight("c00", nan()) }, ErrWeight},
		{"weight huge", func() error { return b.SetWeight("c00", 1e307) }, ErrWeight},
		{"endpoints bad", func() error { return b.SetEndpoints("c00", []Endpoint{{URL: "ftp://x"}}) }, ErrEndpoint},
		{"labels bad", func() error { return b.SetLabels("c00", map[string]string{"\xff": "v"}) }, ErrUTF8},
		{"zone bad", func() error { return b.SetZone("c00", "\xff") }, ErrUTF8},
		{"pin unknown cell", func() error { return b.Pin("k", "zz") }, ErrUnknownCell},
		{"pin migrating key", func() error { return b.Pin("moving", "c03") }, ErrConflict},
		{"pin empty key", func() error { return b.Pin("", "c03") }, ErrKey},
		{"pin long key", func() error { return b.Pin(strings.Repeat("k", 1025), "c03") }, ErrLimit},
		{"pin bad key", func() error { return b.Pin("k\xff", "c03") }, ErrUTF8},
		{"quarantine unknown cell", func() error { return b.Quarantine("k", "zz") }, ErrUnknownCell},
		{"unpin unknown", func() error { return b.Unpin("nobody") }, ErrNotFound},
		{"migrate twice", func() error { return b.MigrateKey("moving", "c03") }, ErrConflict},
		{"migrate to unknown", func() error { return b.MigrateKey("k", "zz") }, ErrUnknownCell},
		{"migrate to a canary", func() error { return b.MigrateKey("k", "c04") }, ErrCellUse},
		{"migrate long key", func() error { return b.MigrateKey(strings.Repeat("k", 1025), "c03") }, ErrLimit},
		{"migrate empty key", func() error { return b.MigrateKey("", "c03") }, ErrKey},
		{"migrate to its home", func() error { return b.MigrateKey("pinned", "c01") }, ErrMigration},
		{"migrate buckets, derived", func() error { return b.MigrateBuckets(Range{0, 9}, "c03") }, ErrEdit},
		{"advance unknown", func() error { return b.Advance(Migration{Key: "nobody"}) }, ErrNotFound},
		{"rollback unknown", func() error { return b.Rollback(Migration{Key: "nobody"}) }, ErrNotFound},
		{"rebalance derived", func() error { _, err := b.Rebalance(); return err }, ErrEdit},
		{"buckets out of range", func() error { return b.SetBuckets(0) }, ErrBuckets},
		{"shard size 0", func() error { return b.SetShardSize(0) }, ErrShardSize},
		{"shard size over the limit", func() error { return b.SetShardSize(65) }, ErrLimit},
	} {
		if err := tc.edit(); !errors.Is(err, tc.err) {
			t.Errorf("%s: error %v; want %v", tc.name, err, tc.err)
		}
	}
	if err := b.SetState("c04", Active); err != nil {
		t.Fatal(err)
	}
	if got := mustBuild(t, b).Bytes(); string(got) != string(want) {
		t.Errorf("refused edits changed the map:\n%s\nwant\n%s", got, want)
	}
	// An explicit table keeps its bucket count, and refuses bucket ranges
	// out of it or that overlap a migration.
	e := NewBuilder(base)
	if err := e.FreezeTable(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func() error
		err  error
	}{
		{"buckets of an explicit table", func() error { return e.SetBuckets(64) }, ErrEdit},
		{"range out of the table", func() error { return e.MigrateBuckets(Range{16000, 16384}, "c03") }, ErrMigration},
		{"range backwards", func() error { return e.MigrateBuckets(Range{9, 2}, "c03") }, ErrMigration},
		{"second freeze", func() error { return e.FreezeTable() }, ErrEdit},
		{"overlapping migrations", func() error {
			if err := e.MigrateBuckets(Range{0, 99}, "c03"); err != nil {
				return err
			}
			return e.MigrateBuckets(Range{50, 60}, "c04")
		}, ErrConflict},
		{"remove a table owner", func() error { return e.RemoveCell("c00") }, ErrEdit},
	} {
		if err := tc.edit(); !errors.Is(err, tc.err) {
			t.Errorf("%s: error %v; want %v", tc.name, err, tc.err)
		}
	}
}

func nan() float64 { var z float64; return z / z }

// TestBuilderDocumentRules: the rules that concern the whole document are
// Build's, and Build refuses a draft with the error Parse gives the same
// document, under the same limits.
func TestBuilderDocumentRules(t *testing.T) {
	base := mustParse(t, fleetDoc(3, ""))
	frozen := NewBuilder(base)
	if err := frozen.FreezeTable(); err != nil {
		t.Fatal(err)
	}
	explicit := mustBuild(t, frozen)
	for _, tc := range []struct {
		name  string
		base  *Map
		edit  func(b *Builder) error
		err   error
		field string
	}{
		{"last active cell drained", base, func(b *Builder) error {
			return errors.Join(b.SetState("c00", Draining), b.SetState("c01", Disabled), b.SetWeight("c02", 0))
		}, ErrNoEligible, "cells"},
		{"shard over the eligible cells", base, func(b *Builder) error {
			return errors.Join(b.SetShardSize(3), b.SetState("c01", Draining))
		}, ErrShardSize, "shardSize"},
		{"canary in the table", explicit, func(b *Builder) error { return b.SetState("c01", Canary) }, ErrCellUse, ".cell"},
		{"canary in a migration", base, func(b *Builder) error {
			return errors.Join(b.MigrateKey("tenant-1", "c02"), b.SetState("c02", Canary))
		}, ErrCellUse, "migrations[0]"},
	} {
		b := NewBuilder(tc.base)
		if err := tc.edit(b); err != nil {
			t.Fatalf("%s: edits refused: %v", tc.name, err)
		}
		_, err := b.Build()
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Build error %v; want %v naming %s", tc.name, err, tc.err, tc.field)
		}
		// The same document, written out by hand, is refused by Parse alike.
		data, merr := b.cellsDocument()
		if merr != nil {
			t.Fatal(merr)
		}
		if _, perr := Parse(data); perr == nil || perr.Error() != err.Error() {
			t.Errorf("%s: Parse error %v; Build error %v", tc.name, perr, err)
		}
	}
}

// cellsDocument writes the builder's draft as a JSON document with
// encoding/json, bypassing build: what a control plane that skipped the
// Builder's checks would publish.
func (b *Builder) cellsDocument() ([]byte, error) {
	overrides := map[string]string{}
	if base := b.baseOver; base != nil {
		for i, k := range base.overrides.key {
			overrides[k] = base.cells[base.overrides.cell[i]].ID
		}
	}
	for k, c := range b.pins {
		if c == "" {
			delete(overrides, k)
		} else {
			overrides[k] = c
		}
	}
	d := &diffDoc{Version: b.next, Seed: fmt.Sprintf("%#x", b.seed), Buckets: b.buckets, ShardSize: b.shardSize, Overrides: overrides}
	for _, c := range b.cells {
		dc := diffCell{ID: c.ID, Zone: c.Zone, Weight: c.Weight, State: c.State.String(), Labels: c.Labels}
		for _, e := range c.Endpoints {
			dc.Endpoints = append(dc.Endpoints, diffEndpoint(e))
		}
		d.Cells = append(d.Cells, dc)
	}
	for _, r := range b.document(b.next).table {
		d.Table = append(d.Table, diffRange{r.Range.String(), r.Cell})
	}
	for _, g := range b.migs {
		dm := diffMig{Key: g.Key, From: g.From, To: g.To, Phase: g.Phase.String()}
		if g.Key == "" {
			dm.Buckets = g.Buckets.String()
		}
		d.Migrations = append(d.Migrations, dm)
	}
	return json.Marshal(d)
}

// TestKeyMigration walks a key through every phase, checking Locate and Owns
// for both cells at each, then rolls another back before and after its flip.
func TestKeyMigration(t *testing.T) {
	m := mustParse(t, fleetDoc(5, ""))
	a, _ := m.Locate("tenant-7")
	from := a.Cell
	to := "c00"
	if from == to {
		to = "c01"
	}
	b := NewBuilder(m)
	if err := b.MigrateKey("tenant-7", to); err != nil {
		t.Fatal(err)
	}
	g := Migration{Key: "tenant-7"}
	steps := []struct {
		phase          Phase
		home           string
		writable       bool
		ownsFrom, ownT bool
	}{
		{Copying, from, true, true, false},
		{Frozen, from, false, true, false},
		{Flipped, to, true, true, true},
	}
	for i, s := range steps {
		if i > 0 {
			if err := b.Advance(g); err != nil {
				t.Fatal(err)
			}
		}
		m2 := mustBuild(t, b)
		a, err := m2.Locate("tenant-7")
		if err != nil || a.Cell != s.home || a.Writable != s.writable || a.Reason != ReasonMigration || a.Phase != s.phase {
			t.Errorf("%v: Locate = %+v, %v", s.phase, a, err)
		}
		if m2.Owns(from, "tenant-7") != s.ownsFrom || m2.Owns(to, "tenant-7") != s.ownT {
			t.Errorf("%v: Owns(from) = %v, Owns(to) = %v", s.phase, m2.Owns(from, "tenant-7"), m2.Owns(to, "tenant-7"))
		}
		if m2.Version() != 2 {
			t.Errorf("Version = %d; want 2", m2.Version())
		}
	}
	if err := b.Advance(g); err != nil { // done
		t.Fatal(err)
	}
	done := mustBuild(t, b)
	if a, _ := done.Locate("tenant-7"); a.Cell != to || a.Reason != ReasonOverride {
		t.Errorf("after the migration: %+v; want an override to %s", a, to)
	}
	if err := b.Advance(g); !errors.Is(err, ErrNotFound) {
		t.Errorf("advancing a finished migration: %v; want ErrNotFound", err)
	}

	// Rollback before the flip ends the migration and keeps the key on its
	// old cell, pinned; after the flip, it turns around.
	rb := NewBuilder(m)
	rb.MigrateKey("tenant-7", to)
	rb.Advance(g)
	if err := rb.Rollback(g); err != nil {
		t.Fatal(err)
	}
	back := mustBuild(t, rb)
	if a, _ := back.Locate("tenant-7"); len(back.Migrations()) != 0 || a.Cell != from || a.Reason != ReasonOverride {
		t.Errorf("rollback of a frozen migration: %+v, %v; want tenant-7 pinned to %s", a, back.Migrations(), from)
	}
	rb.Unpin("tenant-7")
	rb.MigrateKey("tenant-7", to)
	rb.Advance(g)
	rb.Advance(g)
	if err := rb.Rollback(g); err != nil {
		t.Fatal(err)
	}
	turned := mustBuild(t, rb)
	if got := turned.Migrations(); len(got) != 1 || got[0].From != to || got[0].To != from || got[0].Phase != Copying {
		t.Errorf("rollback after the flip: %+v; want %s → %s copying", got, to, from)
	}
	if a, _ := turned.Locate("tenant-7"); a.Cell != to || !slices.Equal(a.Read, []string{to}) || !a.Writable {
		t.Errorf("after rolling back a flipped migration: %+v; want home %s, where the writes went", a, to)
	}
}

// TestAddCellDerived: adding a cell to a derived map moves only keys to it,
// about 1/(N+1) of them (within 0.8 and 1.2 of that over 50,000 keys).
func TestAddCellDerived(t *testing.T) {
	const keys = 50_000
	m := mustParse(t, fleetDoc(20, ""))
	b := NewBuilder(m)
	if err := b.AddCell(Cell{ID: "new", Zone: "az1", Weight: 1}); err != nil {
		t.Fatal(err)
	}
	m2 := mustBuild(t, b)
	before, after := homes(t, m, keys), homes(t, m2, keys)
	moved := 0
	for i := range before {
		if before[i] != after[i] {
			moved++
			if after[i] != "new" {
				t.Fatalf("tenant-%d moved %s → %s", i, before[i], after[i])
			}
		}
	}
	if f := float64(moved) / keys; f < 0.8/21 || f > 1.2/21 {
		t.Errorf("moved %.4f of keys; want about 1/21", f)
	}
}

// TestRebalanceExplicit: freezing keeps every key; a rebalance after adding a
// cell creates migrations only and moves no key until they advance; then the
// table is within one bucket of every share.
func TestRebalanceExplicit(t *testing.T) {
	const keys = 20_000
	m := mustParse(t, fleetDoc(10, ""))
	b := NewBuilder(m)
	if err := b.FreezeTable(); err != nil {
		t.Fatal(err)
	}
	frozen := mustBuild(t, b)
	if !frozen.Explicit() {
		t.Fatal("FreezeTable left the table derived")
	}
	if got, want := homes(t, frozen, keys), homes(t, m, keys); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatal("FreezeTable moved keys")
	}
	if err := b.FreezeTable(); !errors.Is(err, ErrEdit) {
		t.Errorf("second FreezeTable: %v; want ErrEdit", err)
	}
	b.AddCell(Cell{ID: "new", Zone: "az0", Weight: 1})
	n, err := b.Rebalance()
	if err != nil {
		t.Fatal(err)
	}
	planned := mustBuild(t, b)
	if len(planned.Migrations()) == 0 || n < 16384/11*9/10 {
		t.Fatalf("Rebalance planned %d buckets in %d migrations", n, len(planned.Migrations()))
	}
	for _, g := range planned.Migrations() {
		if g.Key != "" || g.To != "new" || g.Phase != Copying {
			t.Fatalf("migration %+v; want buckets to new, copying", g)
		}
	}
	// No key moves while the migrations copy.
	base := homes(t, frozen, keys)
	if got := homes(t, planned, keys); strings.Join(got, ",") != strings.Join(base, ",") {
		t.Fatal("planned migrations moved keys before advancing")
	}
	if _, err := b.Rebalance(); !errors.Is(err, ErrConflict) {
		t.Errorf("Rebalance with bucket migrations under way: %v; want ErrConflict", err)
	}
	for _, g := range planned.Migrations() {
		for range 3 {
			if err := b.Advance(g); err != nil {
				t.Fatal(err)
			}
		}
	}
	done := mustBuild(t, b)
	if len(done.Migrations()) != 0 {
		t.Fatalf("%d migrations left", len(done.Migrations()))
	}
	counts := map[string]int{}
	for i := range done.Buckets() {
		c, _ := done.BucketOwner(i)
		counts[c]++
	}
	for c, n := range counts {
		if share := 16384.0 / 11; float64(n) < share-1 || float64(n) > share+1 {
			t.Errorf("cell %s owns %d buckets; want %.1f ± 1", c, n, share)
		}
	}
	moved := 0
	for i, h := range homes(t, done, keys) {
		if h != base[i] {
			moved++
			if h != "new" {
				t.Fatalf("tenant-%d moved %s → %s", i, base[i], h)
			}
		}
	}
	t.Logf("rebalance moved %d of %d keys (ideal 1/11 = %.0f)", moved, keys, keys/11.0)
}

func TestBuilderEdits(t *testing.T) {
	m := mustParse(t, fleetDoc(3, ""))
	b := NewBuilder(m)
	steps := []error{
		b.AddCell(Cell{ID: "c09", Zone: "az9", Weight: 2, State: Draining, Labels: map[string]string{"wave": "2"}}),
		b.SetEndpoints("c09", []Endpoint{{URL: "https://c9.internal:8443", Zone: "az9"}}),
		b.SetLabels("c00", map[string]string{"tier": "gold"}),
		b.SetWeight("c01", 0.5),
		b.SetState("c09", Active),
		b.Pin("vip", "c09"),
		b.Quarantine("noisy", "c02"),
		b.Unpin("vip"),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	m2 := mustBuild(t, b)
	c, _ := m2.Cell("c09")
	if c.State != Active || c.Weight != 2 || c.Labels["wave"] != "2" || len(c.Endpoints) != 1 {
		t.Errorf("Cell(c09) = %+v", c)
	}
	if c, _ := m2.Cell("c01"); c.Weight != 0.5 {
		t.Errorf("c01 weight %v", c.Weight)
	}
	if _, ok := m2.Override("vip"); ok {
		t.Error("vip still pinned")
	}
	if cell, ok := m2.Override("noisy"); !ok || cell != "c02" {
		t.Errorf("noisy pinned to %q", cell)
	}
	if err := b.RemoveCell("c09"); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustBuild(t, b).Cell("c09"); ok {
		t.Error("c09 not removed")
	}
	// Quarantine drops a migration of the key.
	q := NewBuilder(m)
	q.MigrateKey("tenant-1", "c02")
	if err := q.Quarantine("tenant-1", "c00"); err != nil {
		t.Fatal(err)
	}
	if mm := mustBuild(t, q); len(mm.Migrations()) != 0 {
		t.Error("Quarantine kept the migration")
	}
}
