package placement

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// validate checks v against the subset of JSON Schema that schema.json uses:
// $ref, type, enum, required, properties, additionalProperties, items,
// oneOf, propertyNames, minimum, maximum, minItems, maxItems, minLength,
// maxLength and pattern. Unknown keywords fail the test, so the subset
// cannot silently grow.
func validate(root, s map[string]any, v any, path string) error {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		return validate(root, root["$defs"].(map[string]any)[name].(map[string]any), v, path)
	}
	for kw := range s {
		switch kw {
		case "$schema", "$id", "$defs", "title", "description", "default", "type", "enum", "required", "properties",
			"additionalProperties", "items", "oneOf", "propertyNames", "minimum", "maximum", "minItems", "maxItems",
			"minLength", "maxLength", "pattern":
		default:
			panic("schema keyword not covered by the test validator: " + kw)
		}
	}
	if t, ok := s["type"].(string); ok && !hasType(v, t) {
		return fmt.Errorf("%s: %v is not of type %s", path, v, t)
	}
	if e, ok := s["enum"].([]any); ok && !slices.Contains(e, v) {
		return fmt.Errorf("%s: %v is not one of %v", path, v, e)
	}
	if n, ok := v.(json.Number); ok {
		f, _ := n.Float64()
		if min, ok := s["minimum"].(float64); ok && f < min {
			return fmt.Errorf("%s: %v below %v", path, n, min)
		}
		if max, ok := s["maximum"].(float64); ok && f > max {
			return fmt.Errorf("%s: %v above %v", path, n, max)
		}
	}
	if str, ok := v.(string); ok {
		if err := checkString(s, str, path); err != nil {
			return err
		}
	}
	if arr, ok := v.([]any); ok {
		if n, ok := s["minItems"].(float64); ok && float64(len(arr)) < n {
			return fmt.Errorf("%s: fewer than %v items", path, n)
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(arr)) > n {
			return fmt.Errorf("%s: more than %v items", path, n)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range arr {
				if err := validate(root, items, x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	if obj, ok := v.(map[string]any); ok {
		for _, r := range asList(s["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: missing %s", path, r)
			}
		}
		props, _ := s["properties"].(map[string]any)
		for k, x := range obj {
			if pn, ok := s["propertyNames"].(map[string]any); ok {
				if err := checkString(pn, k, path+" key"); err != nil {
					return err
				}
			}
			if ps, ok := props[k]; ok {
				if err := validate(root, ps.(map[string]any), x, path+"."+k); err != nil {
					return err
				}
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					return fmt.Errorf("%s: property %q is not in the schema", path, k)
				}
			case map[string]any:
				if err := validate(root, ap, x, path+"."+k); err != nil {
					return err
				}
			}
		}
	}
	if one, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, alt := range one {
			if validate(root, alt.(map[string]any), v, path) == nil {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: matches %d of oneOf", path, n)
		}
	}
	return nil
}

func checkString(s map[string]any, str, path string) error {
	if n, ok := s["minLength"].(float64); ok && float64(utf8.RuneCountInString(str)) < n {
		return fmt.Errorf("%s: %q shorter than %v", path, str, n)
	}
	if n, ok := s["maxLength"].(float64); ok && float64(utf8.RuneCountInString(str)) > n {
		return fmt.Errorf("%s: %q longer than %v", path, str, n)
	}
	if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
		return fmt.Errorf("%s: %q does not match %s", path, str, p)
	}
	return nil
}

func asList(v any) []any { l, _ := v.([]any); return l }

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
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && !strings.ContainsAny(n.String(), ".eE") && f == math.Trunc(f)
	}
	return false
}

func decodeAny(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSchema: every golden document, and its canonical form, validates
// against schema.json, so every field name in them is in the schema; and
// documents with unknown fields or bad values do not.
func TestSchema(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(Schema(), &root); err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	for name, data := range goldenDocs(t) {
		if err := validate(root, root, decodeAny(t, data), "document"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		m, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		canon, _ := m.MarshalJSON()
		if err := validate(root, root, decodeAny(t, canon), "document"); err != nil {
			t.Errorf("%s canonical: %v", name, err)
		}
	}
	for _, tc := range invalidDocs {
		switch tc.err {
		case ErrUnknownField, ErrVersion, ErrSeed, ErrBuckets, ErrCellID, ErrState, ErrWeight, ErrEndpoint:
		default:
			continue // errors beyond the schema's reach, or not JSON at all
		}
		if tc.name == "infinite weight" || tc.name == "hostless endpoint" {
			continue // beyond this validator: huge numbers and URL grammar
		}
		if err := validate(root, root, decodeAny(t, []byte(tc.doc)), "document"); err == nil {
			t.Errorf("%s: the schema accepts %s", tc.name, tc.doc)
		}
	}
}
