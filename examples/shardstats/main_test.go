package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-cells", "20", "-zones", "1", "-k", "4", "-tenants", "20000", "-seed", "7"}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	number := func(re string) float64 {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("output lacks %q:\n%s", re, text)
		}
		f, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if pm := number(`peak/mean ([0-9.]+)`); pm < 1 || pm > 1.1 {
		t.Errorf("peak/mean %v; want in [1, 1.1]", pm)
	}
	// Each histogram row is within a point of the hypergeometric law, and
	// the rows add up to 100%.
	rows := regexp.MustCompile(`(?m)^\s+(\d+)\s+([0-9.]+)%\s+([0-9.]+)%$`).FindAllStringSubmatch(text, -1)
	if len(rows) != 5 {
		t.Fatalf("%d histogram rows; want 5:\n%s", len(rows), text)
	}
	total := 0.0
	for _, r := range rows {
		obs, _ := strconv.ParseFloat(r[2], 64)
		law, _ := strconv.ParseFloat(r[3], 64)
		total += obs
		if d := obs - law; d > 1 || d < -1 {
			t.Errorf("overlap %s: observed %v%%, law %v%%", r[1], obs, law)
		}
	}
	if total < 99.9 || total > 100.1 {
		t.Errorf("histogram adds to %v%%", total)
	}
	if moved := number(`([0-9.]+)% of tenants change home`); moved < 2.5 || moved > 7 {
		t.Errorf("%v%% of tenants moved; want about 1/21 = 4.8%%", moved)
	}
	if c := number(`([0-9.]+) shard members change per tenant`); c > 1 {
		t.Errorf("%v shard members change per tenant; want at most 1", c)
	}
	if !strings.Contains(text, "poison tenant") {
		t.Errorf("no blast-radius line:\n%s", text)
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-cells", "0"}, {"-zones", "0"}, {"-k", "0"}, {"-k", "101"}, {"-tenants", "1"}, {"-nope"},
	} {
		if err := run(args, &bytes.Buffer{}); err == nil {
			t.Errorf("run(%v) = nil; want an error", args)
		}
	}
}
