package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
)

// schema is the subset of JSON Schema (2020-12) that report.schema.json
// uses. loadSchema rejects any other keyword, so that the schema cannot lean
// on one this checker would silently skip.
type schema map[string]any

var schemaKeywords = []string{
	"$schema", "$id", "$defs", "$ref", "title", "description",
	"type", "properties", "required", "additionalProperties", "propertyNames",
	"items", "minItems", "enum", "const", "minimum", "maximum", "pattern",
}

// A jpath is a place in a JSON document, spelled out only for an error:
// the report has tens of thousands of values.
type jpath struct {
	up  *jpath
	key string
	idx int // -1 for a key
}

func (p *jpath) String() string {
	if p == nil {
		return "$"
	}
	if p.idx >= 0 {
		return fmt.Sprintf("%s[%d]", p.up, p.idx)
	}
	return p.up.String() + "." + p.key
}

// validate checks v (decoded with UseNumber) against s, resolving $ref in
// root, and returns every violation with its JSON path.
func validate(root, s schema, v any, path *jpath) []string {
	var errs []string
	fail := func(format string, args ...any) {
		errs = append(errs, path.String()+": "+fmt.Sprintf(format, args...))
	}
	if ref, ok := s["$ref"].(string); ok {
		name, found := strings.CutPrefix(ref, "#/$defs/")
		defs, _ := root["$defs"].(map[string]any)
		def, _ := defs[name].(map[string]any)
		if !found || def == nil {
			fail("unresolved $ref %q", ref)
			return errs
		}
		return append(errs, validate(root, def, v, path)...)
	}
	if t, ok := s["type"].(string); ok && !hasType(v, t) {
		fail("%s where the schema wants %s", typeName(v), t)
		return errs
	}
	if c, ok := s["const"]; ok && !sameValue(c, v) {
		fail("%v; want %v", v, c)
	}
	if e, ok := s["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return sameValue(x, v) }) {
		fail("%v not in %v", v, e)
	}
	if n, ok := v.(json.Number); ok {
		f, _ := n.Float64()
		if m, ok := s["minimum"].(float64); ok && f < m {
			fail("%v < minimum %v", f, m)
		}
		if m, ok := s["maximum"].(float64); ok && f > m {
			fail("%v > maximum %v", f, m)
		}
	}
	if p, ok := s["pattern"].(string); ok {
		if str, ok := v.(string); ok && !regexp.MustCompile(p).MatchString(str) {
			fail("%q does not match %s", str, p)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := x[r]; !ok {
				fail("missing key %q", r)
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if pn, ok := s["propertyNames"].(map[string]any); ok {
				errs = append(errs, validate(root, pn, k, &jpath{up: path, key: k + "(name)", idx: -1})...)
			}
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, validate(root, ps, x[k], &jpath{up: path, key: k, idx: -1})...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("unexpected key %q", k)
				}
			case map[string]any:
				errs = append(errs, validate(root, ap, x[k], &jpath{up: path, key: k, idx: -1})...)
			}
		}
	case []any:
		if m, ok := s["minItems"].(float64); ok && float64(len(x)) < m {
			fail("%d items; want at least %v", len(x), m)
		}
		if is, ok := s["items"].(map[string]any); ok {
			for i, e := range x {
				errs = append(errs, validate(root, is, e, &jpath{up: path, idx: i})...)
			}
		}
	}
	return errs
}

func hasType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	}
	return false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func sameValue(schemaVal, v any) bool {
	if n, ok := v.(json.Number); ok {
		f, err := n.Float64()
		sf, ok := schemaVal.(float64)
		return err == nil && ok && f == sf
	}
	return schemaVal == v
}

func asStrings(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// unsupported returns the keywords of s and its subschemas that validate
// does not know.
func unsupported(s map[string]any, at string) []string {
	var out []string
	for k, v := range s {
		if !slices.Contains(schemaKeywords, k) {
			out = append(out, at+"."+k)
		}
		switch k {
		case "properties", "$defs":
			m, _ := v.(map[string]any)
			for name, sub := range m {
				if sm, ok := sub.(map[string]any); ok {
					out = append(out, unsupported(sm, at+"."+k+"."+name)...)
				}
			}
		case "items", "additionalProperties", "propertyNames":
			if sm, ok := v.(map[string]any); ok {
				out = append(out, unsupported(sm, at+"."+k)...)
			}
		}
	}
	return out
}

// loadSchema reads report.schema.json, and fails t if it uses a keyword
// validate does not know.
func loadSchema(t *testing.T) schema {
	t.Helper()
	data, err := os.ReadFile("report.schema.json")
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	var s schema
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("schema: %v", err)
	}
	if bad := unsupported(s, "$"); len(bad) > 0 {
		t.Fatalf("report.schema.json uses keywords this checker does not know: %v", bad)
	}
	return s
}

// checkSchema fails t with every way data breaks the report's schema.
func checkSchema(t *testing.T, s schema, data []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("report JSON: %v", err)
	}
	errs := validate(s, s, v, nil)
	for i, e := range errs {
		if i == 20 {
			t.Errorf("… and %d more", len(errs)-20)
			break
		}
		t.Errorf("report JSON against report.schema.json: %s", e)
	}
}

// fakeReport is a report as a run makes it, without running the fleet: a
// recorder fed a few requests and attempts, read out by the same code.
func fakeReport(withMarks bool) *Report {
	index := map[string]int{}
	var ids, zones []string
	for i := range numCells {
		id := fmt.Sprintf("c%d", i+1)
		index[id] = i
		ids, zones = append(ids, id), append(zones, fmt.Sprintf("az%d", i/3+1))
	}
	rec := newRecorder(800*time.Millisecond, index)
	for i := range 50 {
		began := rec.started()
		rec.result(i, began, i%7 != 0)
	}
	if withMarks {
		rec.mark("c5 starts failing", "fault")
		rec.addSpan(10*time.Millisecond, 30*time.Millisecond, "control-plane-down", "control plane down")
	}
	rec.mu.Lock()
	rec.maps = append(rec.maps, mapMark{at: 0, version: 3})
	rec.mu.Unlock()
	var stats cell.Stats
	s := rec.scene(1, "fake", "a fake scene", carriedOver(nil), 40*time.Millisecond, stats, rec.cellResults(stats, ids, zones))
	s.Headline = "h"
	s.Measured["x_count"] = 1
	s.check(true, "fake", "ok")
	s.verdict()
	return &Report{
		SchemaVersion: SchemaVersion, OK: true, Glossary: glossary, Scenes: []*SceneResult{s},
		Failed: []string{}, Blast: blastRadius([]*SceneResult{s}),
	}
}

// TestSchemaFakeReport validates a report without marks: its marks, failed
// scenes and blast radius are empty arrays, never null (the JSON had "marks":
// null in one scene and an array in the others).
func TestSchemaFakeReport(t *testing.T) {
	s := loadSchema(t)
	for _, withMarks := range []bool{false, true} {
		data, err := json.Marshal(fakeReport(withMarks))
		if err != nil {
			t.Fatal(err)
		}
		checkSchema(t, s, data)
		if i := bytes.Index(data, []byte("null")); i >= 0 {
			t.Errorf("the report has a null: …%s…", data[max(i-40, 0):min(i+10, len(data))])
		}
	}
}

// TestSchemaRejects checks that the checker catches what the schema
// forbids: a null array, a key without a unit, a wrong schema version.
func TestSchemaRejects(t *testing.T) {
	s := loadSchema(t)
	good, err := json.Marshal(fakeReport(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, from, to string }{
		{"null marks", `"marks":[{`, `"marks":null,"x":[{`},
		{"a measurement without a unit", `"x_count":1`, `"x":1`},
		{"schema version", `"schema_version":2`, `"schema_version":1`},
		{"an unknown key", `"ok":true`, `"ok":true,"seconds":1`},
		{"a negative count", `"retries_count":0`, `"retries_count":-1`},
	} {
		bad := bytes.Replace(good, []byte(c.from), []byte(c.to), 1)
		if bytes.Equal(bad, good) {
			t.Fatalf("%s: %q not in the report", c.name, c.from)
		}
		dec := json.NewDecoder(bytes.NewReader(bad))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if errs := validate(s, s, v, nil); len(errs) == 0 {
			t.Errorf("%s: the schema accepts it", c.name)
		}
	}
}
