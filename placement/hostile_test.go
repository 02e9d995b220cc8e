package placement

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// repeat returns prefix, then elem (with # replaced by its index) joined by
// commas until the document reaches size bytes, then suffix.
func repeat(prefix, elem, suffix string, size int) []byte {
	var b strings.Builder
	b.Grow(size + len(suffix) + len(elem) + 16)
	b.WriteString(prefix)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.ReplaceAll(elem, "#", fmt.Sprint(i)))
	}
	b.WriteString(suffix)
	return []byte(b.String())
}

// parseCost parses doc and returns the bytes allocated meanwhile.
func parseCost(doc []byte, opt Options) (*Map, uint64, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := ParseWith(doc, opt)
	runtime.ReadMemStats(&after)
	return m, after.TotalAlloc - before.TotalAlloc, err
}

// maxMessage bounds every error message: the path and the value quote at
// most MaxQuote bytes of the input each, and the rest is the package's own
// words.
const maxMessage = 400

// TestHostileCost: the worst shapes of document for each limit, at 8 MiB
// (and 64 MiB of empty cell objects), are refused at the first entry over a
// limit, or parsed, having allocated in all at most the bound of the package
// documentation: 16 bytes a byte of the document plus 16 bytes a bucket.
// Every error message stays short.
func TestHostileCost(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	const n = 8 << 20
	mb := strings.Repeat("1", n)
	for _, tc := range []struct {
		name    string
		doc     []byte
		err     error  // nil: accepted
		field   string // the field the error names
		buckets int
	}{
		{"empty cell objects, 64 MiB", repeat(`{"version":1,"cells":[`, `{}`, `]}`, 64<<20-64), ErrCellID, "cells[0].id", 0},
		{"cells past MaxCells", repeat(`{"version":1,"cells":[`, `{"id":"c#"}`, `]}`, n), ErrLimit, "cells", 0},
		{"endpoints past MaxEndpoints", repeat(`{"version":1,"cells":[{"id":"c","endpoints":[`, `{"url":"https://a"}`, `]}]}`, n), ErrLimit, "cells[0].endpoints", 0},
		{"labels past MaxLabelBytes", repeat(`{"version":1,"cells":[{"id":"c","labels":{`, `"#":""`, `}}]}`, n), ErrLimit, "cells[0].labels", 0},
		{"duplicate labels", repeat(`{"version":1,"cells":[{"id":"c","labels":{`, `"a":""`, `}}]}`, n), ErrDuplicateKey, `cells[0].labels["a"]`, 0},
		{"table ranges past the buckets", repeat(`{"version":1,"cells":[{"id":"c"}],"table":[`, `{"buckets":"#","cell":"c"}`, `]}`, n), ErrTable, "table", 0},
		{"table of a bucket a range", repeat(`{"version":1,"buckets":1048576,"cells":[{"id":"c"}],"table":[`, `{"buckets":"#","cell":"c"}`, `]}`, n), ErrTable, "table", 1 << 20},
		{"overrides", repeat(`{"version":1,"cells":[{"id":"c"}],"overrides":{`, `"#":"c"`, `}}`, n), nil, "", 0},
		{"overrides with escapes", repeat(`{"version":1,"cells":[{"id":"c"}],"overrides":{`, `"\u0041#":"c"`, `}}`, n), nil, "", 0},
		{"overrides past MaxOverrides", repeat(`{"version":1,"cells":[{"id":"c"}],"overrides":{`, `"#":"c"`, `}}`, n), ErrLimit, "overrides", -1},
		// d of weight 0: every key's home is c, where its migration starts.
		{"key migrations", repeat(`{"version":1,"cells":[{"id":"c"},{"id":"d","weight":0}],"migrations":[`, `{"key":"#","from":"c","to":"d","phase":"copying"}`, `]}`, n), nil, "", 0},
		{"bucket migrations", repeat(`{"version":1,"buckets":1048576,"cells":[{"id":"c"},{"id":"d"}],"table":[{"buckets":"0-1048575","cell":"c"}],"migrations":[`,
			`{"buckets":"#","from":"c","to":"d","phase":"copying"}`, `]}`, n), nil, "", 1 << 20},
		{"a number of 8 MiB", []byte(`{"version":` + mb + `}`), ErrVersion, "version", 0},
		{"a weight of 8 MiB", []byte(`{"version":1,"cells":[{"id":"c","weight":` + mb + `}]}`), ErrWeight, "cells[0].weight", 0},
		{"a field name of 8 MiB", []byte(`{"` + mb + `":1}`), ErrUnknownField, `"111`, 0},
		{"a seed of 8 MiB", []byte(`{"version":1,"seed":"` + mb + `"}`), ErrSeed, "seed", 0},
		{"a key of 8 MiB", []byte(`{"version":1,"cells":[{"id":"c"}],"overrides":{"` + mb + `":"c"}}`), ErrLimit, `overrides["111`, 0},
		{"a cell ID of 8 MiB", []byte(`{"version":1,"cells":[{"id":"` + mb + `"}]}`), ErrCellID, "cells[0].id", 0},
		{"nesting 8 MiB deep", []byte(`{"version":1,"cells":[{"id":"c","labels":{"a":` + strings.Repeat("[", n) + `}}]}`), ErrType, `cells[0].labels["a"]`, 0},
		{"an unterminated string", []byte(`{"version":1,"cells":[{"id":"` + mb), ErrSyntax, "cells[0].id", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := Options{}
			if tc.buckets < 0 {
				opt.Limits.MaxOverrides = 100_000
				tc.buckets = 0
			}
			m, alloc, err := parseCost(tc.doc, opt)
			if tc.err == nil && err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tc.err != nil {
				var fe *FieldError
				if !errors.Is(err, tc.err) || !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, tc.field) {
					t.Fatalf("Parse error %v; want %v naming %s", err, tc.err, tc.field)
				}
				if len(err.Error()) > maxMessage {
					t.Errorf("error message of %d bytes: %.200s…", len(err.Error()), err)
				}
			}
			bound := 16*uint64(len(tc.doc)) + 16*uint64(max(tc.buckets, DefaultBuckets)) + 1<<20
			if alloc > bound {
				t.Errorf("Parse of %d bytes allocated %d bytes (%.1f a byte); want at most %d", len(tc.doc), alloc, float64(alloc)/float64(len(tc.doc)), bound)
			}
			t.Logf("%.1f MiB: %.2f bytes allocated a byte of the document", float64(len(tc.doc))/(1<<20), float64(alloc)/float64(len(tc.doc)))
			runtime.KeepAlive(m)
		})
	}
}

// TestErrorMessages: each message shows the offending value as written, says
// what is expected, and never shows a JSON kind or an internal type name.
func TestErrorMessages(t *testing.T) {
	const cells = `"cells": [{"id": "c1"}, {"id": "c2"}]`
	for _, tc := range []struct {
		doc  string
		err  error
		want string
	}{
		{`{"version": 1, "seed": 12, ` + cells + `}`, ErrSeed, `placement: seed: the seed is a string: a 64-bit integer in decimal, or in hex after 0x: 12`},
		{`{"version": 1, "seed": "0xZZ", ` + cells + `}`, ErrSeed, `placement: seed: the seed is a string: a 64-bit integer in decimal, or in hex after 0x: "0xZZ"`},
		{`{"version": "string", ` + cells + `}`, ErrVersion, `placement: version: the version is an integer from 1 to 18446744073709551615: "string"`},
		{`{"version": 1.5, ` + cells + `}`, ErrVersion, `placement: version: the version is an integer from 1 to 18446744073709551615: 1.5`},
		{`{"version": {"a": 1}, ` + cells + `}`, ErrVersion, `placement: version: the version is an integer from 1 to 18446744073709551615: {"a": 1}`},
		{`{"version": null, ` + cells + `}`, ErrVersion, `placement: version: the version is an integer from 1 to 18446744073709551615: null`},
		{`{"version": 1, "buckets": "16", ` + cells + `}`, ErrBuckets, `placement: buckets: buckets is an integer from 1 to 1048576: "16"`},
		{`{"version": 1, "cells": [{"id": 7}]}`, ErrCellID, `placement: cells[0].id: a cell ID is a string: 7`},
		{`{"version": 1, "cells": [{"id": "c1", "weight": "2"}]}`, ErrWeight, `placement: cells[0].weight: a weight is a number: 0, or from 1e-6 to 1e6: "2"`},
		{`{"version": 1, "cells": [{"id": "c1", "weight": 1e307}]}`, ErrWeight, `placement: cells[0].weight: a weight is a number: 0, or from 1e-6 to 1e6: 1e307`},
		{`{"version": 1, "cells": [{"id": "c1", "state": "sleeping"}]}`, ErrState, `placement: cells[0].state: a state is one of the strings active, draining, disabled and canary: "sleeping"`},
		{`{"version": 1, "cells": [{"id": "c1", "zone": ["a"]}]}`, ErrType, `placement: cells[0].zone: a zone is a string: ["a"]`},
		{`{"version": 1, "cells": {"id": "c1"}}`, ErrType, `placement: cells: cells is an array of cell objects: {"id": "c1"}`},
		{`{"version": 1, ` + cells + `, "overrides": {"k": true}}`, ErrType, `placement: overrides["k"]: an override names a cell by its ID, a string: true`},
		{`{"version": 1, ` + cells + `, "migrations": [{"key": "k", "from": "c1", "to": "c2", "phase": 2}]}`, ErrMigration, `placement: migrations[0].phase: a phase is one of the strings copying, frozen and flipped: 2`},
		{`{"version": 1, ` + cells + `, "colour": "red"}`, ErrUnknownField, `placement: colour: unknown field`},
		{`{"version": 1, ` + cells + `, "a b": 1}`, ErrUnknownField, `placement: "a b": unknown field`},
		{"\ufeff" + `{"version": 1, ` + cells + `}`, ErrSyntax, `placement: document: the document starts with a byte order mark (U+FEFF); a placement document is UTF-8 JSON without one`},
		{`{"version": 1, ` + cells + `,}`, ErrSyntax, `placement: document: malformed JSON at byte 53: expected a member name in double quotes`},
		{`{"version": 1, "cells": [{"id": "c1"},]}`, ErrSyntax, `placement: cells[1]: malformed JSON at byte 38: expected a value`},
		{`{"version": 1, "cells": [{"id": "c\u00"}]}`, ErrSyntax, `placement: cells[0].id: malformed JSON at byte 34: bad \u escape`},
	} {
		_, err := Parse([]byte(tc.doc))
		if !errors.Is(err, tc.err) || err.Error() != tc.want {
			t.Errorf("Parse(%s):\n got %v\nwant %s (%v)", tc.doc, err, tc.want, tc.err)
		}
		for _, leak := range []string{"placement.", "wire", "uint64", "float64", "json:", "Go value"} {
			if err != nil && strings.Contains(err.Error(), leak) {
				t.Errorf("Parse(%s) error %q shows %q", tc.doc, err, leak)
			}
		}
	}
}

// TestSameCauseSameSentinel: a key over Limits.MaxKeyBytes is ErrLimit, an
// empty key ErrKey and a key that is not UTF-8 ErrUTF8, in overrides and
// migrations, in Parse and in the Builder alike.
func TestSameCauseSameSentinel(t *testing.T) {
	long := strings.Repeat("k", 1025)
	doc := func(key string) (string, string) {
		cells := `"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}]`
		return fmt.Sprintf(`{%s, "overrides": {%q: "c1"}}`, cells, key),
			fmt.Sprintf(`{%s, "migrations": [{"key": %q, "from": "c1", "to": "c2", "phase": "copying"}]}`, cells, key)
	}
	base := mustParse(t, `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}]}`)
	for _, tc := range []struct {
		key string
		err error
	}{{long, ErrLimit}, {"", ErrKey}} {
		o, g := doc(tc.key)
		b := NewBuilder(base)
		for name, err := range map[string]error{
			"Parse overrides":  errOf(Parse([]byte(o))),
			"Parse migrations": errOf(Parse([]byte(g))),
			"Pin":              b.Pin(tc.key, "c1"),
			"Quarantine":       b.Quarantine(tc.key, "c1"),
			"MigrateKey":       b.MigrateKey(tc.key, "c2"),
		} {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s of a key of %d bytes: %v; want %v", name, len(tc.key), err, tc.err)
			}
		}
	}
	b := NewBuilder(base)
	for name, err := range map[string]error{
		"Parse overrides":  errOf(Parse([]byte("{\"version\": 1, \"cells\": [{\"id\": \"c1\"}], \"overrides\": {\"k\xff\": \"c1\"}}"))),
		"Parse migrations": errOf(Parse([]byte("{\"version\": 1, \"cells\": [{\"id\": \"c1\"}, {\"id\": \"c2\"}], \"migrations\": [{\"key\": \"k\xff\", \"from\": \"c1\", \"to\": \"c2\", \"phase\": \"copying\"}]}"))),
		"Pin":              b.Pin("k\xff", "c1"),
		"MigrateKey":       b.MigrateKey("k\xff", "c2"),
	} {
		if !errors.Is(err, ErrUTF8) {
			t.Errorf("%s of a key that is not UTF-8: %v; want ErrUTF8", name, err)
		}
	}
}

func errOf(_ *Map, err error) error { return err }

// rawBytes replaces each \xHH in s by the byte 0xHH.
func rawBytes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.HasPrefix(s[i:], `\x`) && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestInvalidUTF8: every string of a document that is not valid UTF-8, as
// raw bytes or as an escaped half of a surrogate pair, is refused with
// ErrUTF8 naming its field, never rewritten to U+FFFD: two zones that
// differ only in invalid bytes are not merged into one.
func TestInvalidUTF8(t *testing.T) {
	for _, tc := range []struct{ doc, field string }{
		{`{"version": 1, "cells": [{"id": "c\xff"}]}`, "cells[0].id"},
		{`{"version": 1, "cells": [{"id": "c1", "zone": "z\xff"}, {"id": "c2", "zone": "z\xfe"}]}`, "cells[0].zone"},
		{`{"version": 1, "cells": [{"id": "c1", "labels": {"k\xff": "v"}}]}`, "cells[0].labels"},
		{`{"version": 1, "cells": [{"id": "c1", "labels": {"k": "v\xc3"}}]}`, `cells[0].labels["k"]`},
		{`{"version": 1, "cells": [{"id": "c1", "endpoints": [{"url": "https://a\xff"}]}]}`, "cells[0].endpoints[0].url"},
		{`{"version": 1, "cells": [{"id": "c1", "endpoints": [{"url": "https://a", "zone": "\xed\xa0\x80"}]}]}`, "cells[0].endpoints[0].zone"},
		{`{"version": 1, "cells": [{"id": "c1"}], "overrides": {"k\xff": "c1"}}`, "overrides"},
		{`{"version": 1, "cells": [{"id": "c1"}], "overrides": {"k": "c1\xff"}}`, `overrides["k"]`},
		{`{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}], "migrations": [{"key": "k\xff", "from": "c1", "to": "c2", "phase": "copying"}]}`, "migrations[0].key"},
		{`{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}], "migrations": [{"key": "k", "from": "c1\xff", "to": "c2", "phase": "copying"}]}`, "migrations[0].from"},
		{`{"version": 1, "cells": [{"id": "c1"}], "table": [{"buckets": "0-16383", "cell": "c\xff"}]}`, "table[0].cell"},
		{`{"version": 1, "cells": [{"id": "c1", "zone": "\ud800"}]}`, "cells[0].zone"},
		{`{"version": 1, "cells": [{"id": "c1", "zone": "\udc00\ud800"}]}`, "cells[0].zone"},
		{`{"version": 1, "cells": [{"id": "c1", "zone": "\ud800\u0041"}]}`, "cells[0].zone"},
		{`{"version": 1, "cells": [{"id": "c1"}], "overrides": {"\ud83d": "c1"}}`, "overrides"},
		{`{"version": 1, "cells": [{"id": "c1"}], "k\xff": 1}`, "document"},
	} {
		tc.doc = rawBytes(tc.doc)
		_, err := Parse([]byte(tc.doc))
		var fe *FieldError
		if !errors.Is(err, ErrUTF8) || !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, tc.field) {
			t.Errorf("Parse(%q) = %v; want ErrUTF8 at %s", tc.doc, err, tc.field)
		}
		if err != nil && strings.Contains(err.Error(), "\ufffd") {
			t.Errorf("Parse(%q) error %q holds U+FFFD", tc.doc, err)
		}
	}
	// Valid escapes and characters are kept exactly.
	m := mustParse(t, `{"version": 1, "cells": [{"id": "c1", "zone": "\ud83d\ude00 é \u00e9 \"\\\/\b\f\n\r\t."}]}`)
	if z, _ := m.CellZone("c1"); z != "😀 é é \"\\/\b\f\n\r\t." {
		t.Errorf("zone %q", z)
	}
}

// TestCellIDs: the cell ID alphabet, [A-Za-z0-9][A-Za-z0-9._-]{0,62}.
func TestCellIDs(t *testing.T) {
	for _, id := range []string{"c", "use1-c1", "euw1.c01", "A_9", strings.Repeat("x", 63), "0"} {
		if _, err := Parse([]byte(`{"version": 1, "cells": [{"id": "` + id + `"}]}`)); err != nil {
			t.Errorf("cell ID %q: %v", id, err)
		}
	}
	for _, id := range []string{"", "-c", ".c", "_c", "c 1", "c/1", "c:1", "c%1", "c\\u00e91", "c\\\"", strings.Repeat("x", 64), "c@d", "c,d", "c=d", "é"} {
		_, err := Parse([]byte(`{"version": 1, "cells": [{"id": "` + id + `"}]}`))
		if !errors.Is(err, ErrCellID) {
			t.Errorf("cell ID %q: %v; want ErrCellID", id, err)
		}
	}
}

// schemaURL is the schema's pattern of endpoint URLs.
var schemaURL = func() *regexp.Regexp {
	var s struct {
		Defs map[string]struct {
			Properties map[string]struct{ Pattern string }
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema(), &s); err != nil {
		panic(err)
	}
	return regexp.MustCompile(s.Defs["endpoint"].Properties["url"].Pattern)
}()

// TestEndpointURLs: scheme://host[:port][/prefix] and nothing else.
func TestEndpointURLs(t *testing.T) {
	for _, u := range []string{"https://c1.internal:8443", "http://c1", "https://10.0.0.1:80", "https://[::1]:8443", "https://[2001:db8::1]",
		"https://c1.internal/api", "https://c1.internal:8443/api/v1", "https://C1.Internal", "https://a/%41b", "http://x_y.z:65535"} {
		if _, err := Parse([]byte(`{"version": 1, "cells": [{"id": "c1", "endpoints": [{"url": "` + u + `"}]}]}`)); err != nil {
			t.Errorf("endpoint %q: %v", u, err)
		}
		if !schemaURL.MatchString(u) {
			t.Errorf("endpoint %q: the schema refuses it", u)
		}
	}
	for _, u := range []string{"", "/v1", "c1.internal", "ftp://a", "HTTPS://a", "https://", "https://:80", "https://a:", "https://a:0",
		"https://a:65536", "https://a:+80", "https://a:8x", "https://a?x=1", "https://a?", "https://a#f", "https://a/#", "https://u@a",
		"https://u:p@a", "https://a/", "https://a/api/", "https://a//b", "https://a/./b", "https://a/../b", "https://a/b c", "https://a b",
		"https://[::1", "https://[::1]x", "https://[zz::1]", "https://a/%zz", "https://a/%4", "https://é.com", "https://a\\\\b", "https://a\\tb",
		"https://a/b\\\\c", "https://a/<b>", "https://a/b|c", "https://a/{b}", "https://a/b^c", "https://a/[b]"} {
		_, err := Parse([]byte(`{"version": 1, "cells": [{"id": "c1", "endpoints": [{"url": "` + u + `"}]}]}`))
		if !errors.Is(err, ErrEndpoint) {
			t.Errorf("endpoint %q: %v; want ErrEndpoint", u, err)
		}
	}
}

// TestWeights: 0, or from MinWeight to MaxWeight.
func TestWeights(t *testing.T) {
	for _, w := range []string{"0", "1e-6", "0.000001", "1", "2.5", "1e6", "1000000", "-0"} {
		if _, err := Parse([]byte(`{"version": 1, "cells": [{"id": "c1"}, {"id": "c2", "weight": ` + w + `}]}`)); err != nil {
			t.Errorf("weight %s: %v", w, err)
		}
	}
	for _, w := range []string{"-1", "1e-7", "9.99e-7", "5e-324", "1e-310", "1000001", "1e307", "1e999", "-1e999"} {
		_, err := Parse([]byte(`{"version": 1, "cells": [{"id": "c1"}, {"id": "c2", "weight": ` + w + `}]}`))
		if !errors.Is(err, ErrWeight) || !strings.Contains(err.Error(), w) {
			t.Errorf("weight %s: %v; want ErrWeight quoting it", w, err)
		}
	}
	// The extremes rebalance exactly: shares within one bucket.
	b := NewBuilder(nil)
	b.SetBuckets(4096)
	for i, w := range []float64{MinWeight, MaxWeight, 1, MaxWeight} {
		if err := b.AddCell(Cell{ID: fmt.Sprintf("c%d", i), Weight: w}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.FreezeTable(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Rebalance(); err != nil {
		t.Fatal(err)
	}
	for _, g := range mustBuild(t, b).Migrations() {
		for range 3 {
			if err := b.Advance(g); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := mustBuild(t, b)
	counts := map[string]int{}
	for i := range m.Buckets() {
		c, _ := m.BucketOwner(i)
		counts[c]++
	}
	total := 2*MaxWeight + 1 + MinWeight
	for i, w := range []float64{MinWeight, MaxWeight, 1, MaxWeight} {
		share := 4096 * w / total
		if n := float64(counts[fmt.Sprintf("c%d", i)]); n < math.Floor(share) || n > math.Ceil(share) {
			t.Errorf("cell c%d of weight %g owns %v buckets; want ⌊%v⌋ or ⌈%v⌉", i, w, n, share, share)
		}
	}
}

// TestMaxShardSize: shardSize is bounded by Limits.MaxShardSize.
func TestMaxShardSize(t *testing.T) {
	var cells []string
	for i := range 70 {
		cells = append(cells, fmt.Sprintf(`{"id": "c%d"}`, i))
	}
	doc := func(k int) []byte {
		return []byte(fmt.Sprintf(`{"version": 1, "shardSize": %d, "cells": [%s]}`, k, strings.Join(cells, ",")))
	}
	if _, err := Parse(doc(64)); err != nil {
		t.Errorf("shardSize 64: %v", err)
	}
	if _, err := Parse(doc(65)); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "MaxShardSize") {
		t.Errorf("shardSize 65: %v; want ErrLimit", err)
	}
	if _, err := ParseWith(doc(65), Options{Limits: Limits{MaxShardSize: 70}}); err != nil {
		t.Errorf("shardSize 65 with MaxShardSize 70: %v", err)
	}
	if _, err := Parse(doc(10_000)); !errors.Is(err, ErrLimit) {
		t.Errorf("shardSize 10000: %v; want ErrLimit", err)
	}
}
