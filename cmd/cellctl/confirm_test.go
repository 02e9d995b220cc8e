package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// fakeCell answers at source.ConfirmedPath the way a cell's
// source.ConfirmHandler does, with a confirmed version the test sets, and
// counts the requests.
type fakeCell struct {
	id        string
	confirmed atomic.Uint64
	asked     atomic.Int32
	srv       *httptest.Server
}

func newFakeCell(t *testing.T, id string) *fakeCell {
	c := &fakeCell{id: id}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != source.ConfirmedPath {
			http.NotFound(w, r)
			return
		}
		c.asked.Add(1)
		v := c.confirmed.Load()
		json.NewEncoder(w).Encode(source.Confirmation{Cell: c.id, Version: v, Confirmed: v})
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestAwaitConfirmed walks a key migration through its phases with
// --await-confirmed, against fake cells over HTTP: each phase is published
// (or written, for edit) only once the migration's two cells have confirmed
// the version in force; a cell that has not is named when the wait times
// out, and nothing is published; a cell the migration does not concern is
// never asked.
func TestAwaitConfirmed(t *testing.T) {
	dir := t.TempDir()
	cells := map[string]*fakeCell{}
	newArgs := []string{"new", "-o", filepath.Join(dir, "v1.json")}
	for _, id := range []string{"c1", "c2", "c3"} {
		cells[id] = newFakeCell(t, id)
		newArgs = append(newArgs, "add "+id+" zone=z-"+id+" endpoint="+cells[id].srv.URL)
	}
	if code, _, errOut := runCmd(newArgs...); code != exitOK {
		t.Fatalf("new: %s", errOut)
	}
	v1, _, _, err := loadDoc(filepath.Join(dir, "v1.json"), placement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := v1.Locate("tenant-7")
	if err != nil {
		t.Fatal(err)
	}
	home := a.Cell
	var to, other string
	for _, id := range []string{"c1", "c2", "c3"} {
		switch {
		case id == home:
		case to == "":
			to = id
		default:
			other = id
		}
	}
	doc := func(v string) string { return filepath.Join(dir, v+".json") }
	target := filepath.Join(dir, "live.json")
	if code, _, errOut := runCmd("edit", doc("v1"), "-o", doc("v2"), "migrate tenant-7 "+to); code != exitOK {
		t.Fatalf("edit: %s", errOut)
	}
	if code, _, errOut := runCmd("publish", "--to", "file:"+target, doc("v2")); code != exitOK {
		t.Fatalf("publish v2: %s", errOut)
	}
	if code, _, errOut := runCmd("edit", doc("v2"), "-o", doc("v3"), "advance tenant-7"); code != exitOK {
		t.Fatalf("edit: %s", errOut)
	}

	// The new cell lags: v3 (frozen) is not published, and the message
	// names it, not the home, which confirmed.
	cells[home].confirmed.Store(2)
	cells[to].confirmed.Store(1)
	code, _, errOut := runCmd("publish", "--await-confirmed", "--confirm-timeout", "300ms", "--to", "file:"+target, doc("v3"))
	if code != exitRefused {
		t.Fatalf("publish with a lagging cell: exit %d, %s; want %d", code, errOut, exitRefused)
	}
	for _, want := range []string{"v3 not written", "have not all confirmed v2 within 300ms", "1 cell(s) have not confirmed map version 2: " + to + " (behind", "source.ErrNotConfirmed"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q; want %q", errOut, want)
		}
	}
	if m, _, _, _ := loadDoc(target, placement.Options{}); m.Version() != 2 {
		t.Fatalf("the target holds v%d after a refused publish; want v2", m.Version())
	}

	// The wait ends when the cell confirms, and only then is v3 published.
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	asked := cells[to].asked.Load()
	go func() {
		c, o, e := runCmd("publish", "--await-confirmed", "--json", "--to", "file:"+target, doc("v3"))
		done <- result{c, o, e}
	}()
	eventually(t, "the lagging cell asked again", func() bool { return cells[to].asked.Load() >= asked+2 })
	select {
	case r := <-done:
		t.Fatalf("publish returned before the cell confirmed: %+v", r)
	default:
	}
	if m, _, _, _ := loadDoc(target, placement.Options{}); m.Version() != 2 {
		t.Fatalf("the target holds v%d while a cell has not confirmed; want v2", m.Version())
	}
	cells[to].confirmed.Store(2)
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("publish did not end within 30s of the confirmation")
	}
	if r.code != exitOK {
		t.Fatalf("publish after the confirmation: exit %d, %s", r.code, r.err)
	}
	var res publishResult
	if err := json.Unmarshal([]byte(r.out), &res); err != nil {
		t.Fatal(err)
	}
	want := []string{home, to}
	slices.Sort(want)
	if res.Version != 3 || res.Awaited == nil || res.Awaited.Version != 2 || !slices.Equal(res.Awaited.Cells, want) {
		t.Errorf("publish result %+v (awaited %+v); want v3 after v2 confirmed by %v", res, res.Awaited, want)
	}
	if n := cells[other].asked.Load(); n != 0 {
		t.Errorf("the cell no migration concerns was asked %d times", n)
	}

	// edit --await-confirmed: the next phase is not even written until the
	// version it replaces is confirmed.
	out := doc("v4")
	code, _, errOut = runCmd("edit", "--await-confirmed", "--confirm-timeout", "300ms", doc("v3"), "-o", out, "advance tenant-7")
	if code != exitRefused || !strings.Contains(errOut, "2 cell(s) have not confirmed map version 3") {
		t.Fatalf("edit with unconfirmed cells: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("edit wrote the next phase before the cells confirmed")
	}
	cells[home].confirmed.Store(3)
	cells[to].confirmed.Store(3)
	if code, _, errOut := runCmd("edit", "--await-confirmed", doc("v3"), "-o", out, "advance tenant-7"); code != exitOK {
		t.Fatalf("edit after the confirmations: %s", errOut)
	}

	// Nothing to confirm when no migration changes.
	code, _, errOut = runCmd("edit", "--await-confirmed", "--confirm-timeout", "1ms", doc("v4"), "-o", doc("v5"), "weight "+other+" 2")
	if code != exitOK || !strings.Contains(errOut, "no migration changes from v4 to v5") {
		t.Fatalf("edit without a migration change: exit %d, %s", code, errOut)
	}
}

// TestMigrationCells checks which cells a change concerns: those of
// migrations added, moved to another phase or ended, not of unchanged ones.
func TestMigrationCells(t *testing.T) {
	parse := func(migs string) *placement.Map {
		m, err := placement.Parse([]byte(`{"version": 1, "cells": [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"}],
			"table": [{"buckets": "0-16383", "cell": "a"}], "migrations": [` + migs + `]}`))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	same := `{"buckets": "0-9", "from": "a", "to": "b", "phase": "copying"}`
	prev := parse(same + `, {"buckets": "10-19", "from": "a", "to": "c", "phase": "frozen"}`)
	for _, tc := range []struct {
		next string
		want []string
	}{
		{same + `, {"buckets": "10-19", "from": "a", "to": "c", "phase": "frozen"}`, nil},
		{same + `, {"buckets": "10-19", "from": "a", "to": "c", "phase": "flipped"}`, []string{"a", "c"}},
		{same, []string{"a", "c"}},
		{same + `, {"buckets": "10-19", "from": "a", "to": "c", "phase": "frozen"}, {"buckets": "20-29", "from": "a", "to": "d", "phase": "copying"}`, []string{"a", "d"}},
	} {
		if got := migrationCells(prev, parse(tc.next)); !slices.Equal(got, tc.want) {
			t.Errorf("migrationCells(→ %s) = %v; want %v", tc.next, got, tc.want)
		}
	}
}
