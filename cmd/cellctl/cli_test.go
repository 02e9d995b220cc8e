package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args []string
		pos  []string
		o    string
		json bool
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, "", false},
		{[]string{"-o", "x", "a"}, []string{"a"}, "x", false},
		{[]string{"a", "-o", "x", "b", "--json"}, []string{"a", "b"}, "x", true},
		{[]string{"a", "--", "-o", "x"}, []string{"a", "-o", "x"}, "", false},
		{[]string{"--json", "--", "--json"}, []string{"--json"}, "", true},
		{[]string{"-"}, []string{"-"}, "", false},
		{nil, nil, "", false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		o := fs.String("o", "", "")
		j := fs.Bool("json", false, "")
		pos, err := parseInterleaved(fs, tt.args)
		if err != nil || !slices.Equal(pos, tt.pos) || *o != tt.o || *j != tt.json {
			t.Errorf("parseInterleaved(%q) = %q, -o %q, --json %v, %v; want %q, %q, %v", tt.args, pos, *o, *j, err, tt.pos, tt.o, tt.json)
		}
	}
}

// TestPublishRace runs publishers of the same version at once against one
// file: exactly one wins, every other is refused naming both versions, and
// the file holds the winner's document.
func TestPublishRace(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "map.json")
	const n = 8
	docs := make([]string, n)
	for i := range docs {
		docs[i] = filepath.Join(dir, fmt.Sprintf("v2-%d.json", i))
		doc := fmt.Sprintf(`{"version": 2, "cells": [{"id": "c1"}, {"id": "p%d"}]}`, i)
		if err := os.WriteFile(docs[i], []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(target, []byte(`{"version": 1, "cells": [{"id": "c1"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	codes := make([]int, n)
	errs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var out, errOut bytes.Buffer
			codes[i] = run(context.Background(), []string{"publish", "--expect", "1", "--to", "file:" + target, docs[i]}, &out, &errOut)
			errs[i] = errOut.String()
		})
	}
	wg.Wait()
	winner := -1
	for i, c := range codes {
		switch {
		case c == exitOK && winner < 0:
			winner = i
		case c == exitOK:
			t.Fatalf("publishers %d and %d both won", winner, i)
		case c != exitRefused || !strings.Contains(errs[i], "holds v2, not v1 as expected; v2 not published"):
			t.Errorf("publisher %d: exit %d, %q; want exit 1 and the lost race with both versions", i, c, errs[i])
		}
	}
	if winner < 0 {
		t.Fatalf("no publisher won: %q", errs)
	}
	got, _ := os.ReadFile(target)
	want, _ := os.ReadFile(docs[winner])
	if !bytes.Equal(got, want) {
		t.Errorf("the target holds %s; want the winner's %s", got, want)
	}
	if tmps, _ := filepath.Glob(target + "*.tmp-*"); len(tmps) > 0 {
		t.Errorf("temporary files are left behind: %q", tmps)
	}
}

// TestExitStatus checks the three exit statuses through run.
func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(good, []byte(`{"version": 1, "cells": [{"id": "c1"}]}`), 0o644)
	os.WriteFile(bad, []byte(`{"version": 1, "cells": [{"id": "c1", "weight": -1}]}`), 0o644)
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"validate", good}, exitOK},
		{[]string{"validate", bad}, exitRefused},
		{[]string{"validate"}, exitMisuse},
		{[]string{"validate", "-h"}, exitOK},
		{[]string{"nope"}, exitMisuse},
		{nil, exitMisuse},
		{[]string{"help"}, exitOK},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		if got := run(context.Background(), tt.args, &out, &errOut); got != tt.code {
			t.Errorf("run(%q) = %d; want %d (stderr %q)", tt.args, got, tt.code, errOut.String())
		}
	}
}
