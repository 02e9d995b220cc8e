package placement

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cellkit/cellkit/ring"
)

// TestKeyMigrationFromHome: the map. tenant-7's table home is on
// one cell; a migration of it from another cell would send its reads where
// none of its data is. Parse refuses it, naming the key, the stated from
// and the actual home; the Builder's Build refuses a draft whose edit moved
// a migrating key's home away from its from.
func TestKeyMigrationFromHome(t *testing.T) {
	base := `{"version": 1, "buckets": 4, "cells": [{"id": "c1"}, {"id": "c2"}, {"id": "c3"}],
	  "table": [{"buckets": "0-3", "cell": "c2"}]%s}`
	bad := fmt.Sprintf(base, `, "migrations": [{"key": "tenant-7", "from": "c1", "to": "c3", "phase": "frozen"}]`)
	_, err := Parse([]byte(bad))
	var fe *FieldError
	if !errors.Is(err, ErrMigration) || !errors.As(err, &fe) || fe.Field != "migrations[0].from" {
		t.Fatalf("migration from a cell without the key's data: %v", err)
	}
	for _, want := range []string{`"tenant-7"`, `"c2"`, `"c1"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// From its home, or from its override, it parses.
	for _, ok := range []string{
		`, "migrations": [{"key": "tenant-7", "from": "c2", "to": "c3", "phase": "frozen"}]`,
		`, "overrides": {"tenant-7": "c1"}, "migrations": [{"key": "tenant-7", "from": "c1", "to": "c3", "phase": "flipped"}]`,
	} {
		m, err := Parse([]byte(fmt.Sprintf(base, ok)))
		if err != nil {
			t.Fatalf("%s: %v", ok, err)
		}
		if a, _ := m.Locate("tenant-7"); a.Reason != ReasonMigration {
			t.Errorf("%s: the key's migration does not place it: %+v", ok, a)
		}
	}
	// An override elsewhere than from is refused too.
	if _, err := Parse([]byte(fmt.Sprintf(base, `, "overrides": {"tenant-7": "c3"}, "migrations": [{"key": "tenant-7", "from": "c2", "to": "c1", "phase": "copying"}]`))); !errors.Is(err, ErrMigration) {
		t.Errorf("migration from the table home of a key pinned elsewhere: %v", err)
	}
	// A bucket's migration is the home of its keys.
	if _, err := Parse([]byte(fmt.Sprintf(base, `, "migrations": [{"buckets": "0-3", "from": "c2", "to": "c1", "phase": "flipped"},
	  {"key": "tenant-7", "from": "c2", "to": "c3", "phase": "copying"}]`))); !errors.Is(err, ErrMigration) {
		t.Errorf("key migration from the old cell of its flipped bucket: %v", err)
	}

	// The Builder: a key migrating from its table home (no override), then
	// an edit that moves the table under it.
	m := mustParse(t, fleetDoc(4, `, "buckets": 64`))
	key := "tenant-7"
	home := m.cells[m.home(key)].ID
	to := elsewhere(m, key)
	m = mustParse(t, fleetDoc(4, fmt.Sprintf(`, "buckets": 64, "migrations": [{"key": %q, "from": %q, "to": %q, "phase": "copying"}]`, key, home, to)))
	b := NewBuilder(m)
	if err := b.SetState(home, Draining); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(); !errors.Is(err, ErrMigration) || !strings.Contains(err.Error(), key) {
		t.Errorf("Build of a draft whose table moved a migrating key off its from: %v", err)
	}
	// MigrateKey pins the key to its data: the same edit then builds, and
	// the key still reads from its data.
	b = NewBuilder(mustParse(t, fleetDoc(4, `, "buckets": 64`)))
	if err := b.MigrateKey(key, to); err != nil {
		t.Fatal(err)
	}
	if err := b.SetState(home, Draining); err != nil {
		t.Fatal(err)
	}
	got := mustBuild(t, b)
	if a, _ := got.Locate(key); !slices.Equal(a.Read, []string{home}) {
		t.Errorf("after MigrateKey and a table change, reads go to %v; the data is on %s", a.Read, home)
	}
}

// TestKeyMigrationProperty: random documents with random overrides, bucket
// migrations and key migrations whose from is sometimes the key's home and
// sometimes not. Parse accepts exactly those whose key migrations start
// from the home the key has without them (computed here from the document
// by the package documentation's rule), and every accepted map routes every
// migrating key's reads only to its from and to.
func TestKeyMigrationProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 1))
	accepted, refused := 0, 0
	for range 400 {
		doc, homes := randomMigrationDoc(rng)
		data, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		wantOK := true
		for _, g := range doc.Migrations {
			if g.Key != "" && homes[g.Key] != g.From {
				wantOK = false
			}
		}
		m, err := Parse(data)
		if (err == nil) != wantOK {
			t.Fatalf("Parse = %v; want accepted %v\n%s", err, wantOK, data)
		}
		if err != nil {
			if !errors.Is(err, ErrMigration) {
				t.Fatalf("refused with %v, want ErrMigration", err)
			}
			refused++
			continue
		}
		accepted++
		for _, g := range doc.Migrations {
			if g.Key == "" {
				continue
			}
			a, _ := m.Locate(g.Key)
			for _, c := range a.Read {
				if c != g.From && c != g.To {
					t.Fatalf("key %s migrating %s→%s (%s) reads from %v\n%s", g.Key, g.From, g.To, g.Phase, a.Read, data)
				}
			}
			if a.Reason != ReasonMigration {
				t.Fatalf("key %s: reason %v, want migration", g.Key, a.Reason)
			}
		}
	}
	t.Logf("%d maps accepted, %d refused", accepted, refused)
	if accepted < 100 || refused < 100 {
		t.Errorf("%d accepted, %d refused: the generator explores too little", accepted, refused)
	}
}

// randomMigrationDoc returns a document of 3 to 6 cells over 32 buckets,
// an explicit or derived table, overrides, bucket migrations and key
// migrations, with the home each key has without its own migration.
func randomMigrationDoc(rng *rand.Rand) (*diffDoc, map[string]string) {
	d := &diffDoc{Version: 1, Seed: "0x7", Buckets: 32, ShardSize: 1}
	n := 3 + rng.IntN(4)
	var ids []string
	for i := range n {
		id := fmt.Sprintf("c%d", i)
		ids = append(ids, id)
		d.Cells = append(d.Cells, diffCell{ID: id, Zone: "z", Weight: 1, State: "active"})
	}
	pick := func() string { return ids[rng.IntN(len(ids))] }
	derived, err := Parse(diffMust(json.Marshal(d)))
	if err != nil {
		panic(err)
	}
	table := make([]string, d.Buckets)
	explicit := rng.IntN(2) == 0
	for b := range table {
		table[b], _ = derived.BucketOwner(b)
		if explicit {
			table[b] = pick()
			d.Table = append(d.Table, diffRange{fmt.Sprint(b), table[b]})
		}
	}
	// Bucket migrations (explicit tables only) from each bucket's owner.
	bucketHome := slices.Clone(table)
	if explicit {
		for b := 0; b < d.Buckets; b += 1 + rng.IntN(8) {
			if rng.IntN(2) == 0 {
				continue
			}
			to := pick()
			if to == table[b] {
				continue
			}
			phase := phaseNames[rng.IntN(3)]
			d.Migrations = append(d.Migrations, diffMig{Buckets: fmt.Sprint(b), From: table[b], To: to, Phase: phase})
			if phase == "flipped" {
				bucketHome[b] = to
			}
		}
	}
	d.Overrides = map[string]string{}
	homes := map[string]string{}
	for i := range 24 {
		key := fmt.Sprintf("tenant-%d", i)
		homes[key] = bucketHome[ring.Hash(7, key)%32] // the bucket rule of the package doc
		if rng.IntN(3) == 0 {
			d.Overrides[key] = pick()
			homes[key] = d.Overrides[key]
		}
		if rng.IntN(2) == 0 {
			from := homes[key]
			if rng.IntN(8) == 0 {
				from = pick() // often not the home
			}
			to := pick()
			if to != from {
				d.Migrations = append(d.Migrations, diffMig{Key: key, From: from, To: to, Phase: phaseNames[rng.IntN(3)]})
			}
		}
	}
	return d, homes
}
