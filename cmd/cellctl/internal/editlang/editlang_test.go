package editlang

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cellkit/cellkit/placement"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"pin tenant-1 c2", []string{"pin", "tenant-1", "c2"}, false},
		{"  pin\ttenant-1   c2  ", []string{"pin", "tenant-1", "c2"}, false},
		{`pin "tenant 9" c2`, []string{"pin", "tenant 9", "c2"}, false},
		{`pin key="a b"c c2`, []string{"pin", "key=a bc", "c2"}, false},
		{`pin "\u00e9\t" c2`, []string{"pin", "é\t", "c2"}, false},
		{`pin "" c2`, []string{"pin", "", "c2"}, false},
		{"", nil, false},
		{`pin "open c2`, nil, true},
		{"pin \xff c2", nil, true},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// FuzzEdit checks that no EDIT panics, parsed or applied, and that a word
// list written back with strconv quoting splits to the same words. It lives
// here, not in cellctl, so that it fuzzes a small binary (see the package
// doc).
func FuzzEdit(f *testing.F) {
	for _, s := range []string{
		"add c4 zone=az1 weight=2 endpoint=https://c4.internal:8443@az2 label=a=b",
		`pin "tenant 9" c2`, "migrate buckets=0-7 c2", "advance key=buckets=1", "weight c1 NaN",
		"state c1 canary", "rebalance", "freeze", "seed 0xffffffffffffffff", "shard-size 2",
		"endpoints c1", "labels c1 a=", "quarantine k c3", "rollback buckets=3",
	} {
		f.Add(s)
	}
	base, err := placement.Parse([]byte(`{"version": 1, "buckets": 16, "cells": [{"id": "c1", "zone": "a"}, {"id": "c2", "zone": "b"}, {"id": "c3", "zone": "c"}]}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitWords(s)
		if err == nil {
			var quoted []string
			for _, w := range words {
				quoted = append(quoted, fmt.Sprintf("%q", w))
			}
			again, err := splitWords(strings.Join(quoted, " "))
			if err != nil || !slices.Equal(again, words) {
				t.Fatalf("splitWords(quoted %q) = %q, %v; want %q", quoted, again, err, words)
			}
		}
		ed, err := Parse(s)
		if err != nil {
			return
		}
		m, _, err := Apply(base, placement.Limits{}, []Edit{ed}, []string{s})
		if err == nil && m.Version() != 2 {
			t.Fatalf("Apply(%q) gave version %d; want 2", s, m.Version())
		}
	})
}
