package placement

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// The fields a document may hold at each place. Labels and overrides take
// any key; every other object is closed.
var (
	topFields       = fieldSet("version", "seed", "buckets", "shardSize", "cells", "table", "overrides", "migrations")
	cellFields      = fieldSet("id", "zone", "weight", "state", "endpoints", "labels")
	endpointFields  = fieldSet("url", "zone")
	rangeFields     = fieldSet("buckets", "cell")
	migrationFields = fieldSet("key", "buckets", "from", "to", "phase")
)

func fieldSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// maxDepth bounds nesting; the deepest valid value is cells[i].endpoints[j].url.
const maxDepth = 8

// keyScanner walks a JSON document once and reports the first object key that
// is unknown at its place or repeated in its object, with the path to it.
// It checks syntax only as far as it needs to; encoding/json checks the rest.
type keyScanner struct {
	data []byte
	pos  int

	// With target > 0, found is the path of the innermost value that ends
	// at byte target, which is where encoding/json reports a type error.
	target int
	found  string

	// overrides is the byte span of the top-level overrides value.
	overrides [2]int
}

// checkKeys returns a *FieldError wrapping ErrUnknownField, ErrDuplicateKey
// or ErrSyntax, or nil, and the byte span of the top-level overrides value
// (zero when there is none).
func checkKeys(data []byte) ([2]int, error) {
	s := &keyScanner{data: data}
	s.space()
	if err := s.value("document", placeTop, 0); err != nil {
		return [2]int{}, err
	}
	s.space()
	if s.pos != len(s.data) {
		return [2]int{}, s.syntax("document", "data after the top-level value")
	}
	return s.overrides, nil
}

// place says what an object at some position may hold.
type place int

const (
	placeFree place = iota // scalars and arrays of anything: no object expected
	placeTop
	placeCell
	placeEndpoint
	placeRange
	placeMigration
	placeLabels    // any keys, checked for duplicates
	placeOverrides // any keys; duplicates are reported while decoding
)

func (s *keyScanner) syntax(path, detail string) error {
	return fieldErr(ErrSyntax, path, "", "%s at byte %d", detail, s.pos)
}

func (s *keyScanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// pathAt returns the path of the value of data that ends at byte off.
func pathAt(data []byte, off int64) string {
	s := &keyScanner{data: data, target: int(off)}
	s.space()
	s.value("document", placeTop, 0)
	return s.found
}

func (s *keyScanner) value(path string, p place, depth int) error {
	start := s.pos
	err := s.value1(path, p, depth)
	if p == placeOverrides && err == nil {
		s.overrides = [2]int{start, s.pos}
	}
	if s.target > 0 && s.found == "" && start < s.target && s.target <= s.pos {
		s.found = path
	}
	return err
}

func (s *keyScanner) value1(path string, p place, depth int) error {
	if depth > maxDepth {
		return fieldErr(ErrLimit, path, "", "nesting deeper than %d", maxDepth)
	}
	if s.pos >= len(s.data) {
		return s.syntax(path, "unexpected end")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(path, p, depth)
	case c == '[':
		return s.array(path, p, depth)
	case c == '"':
		_, err := s.str(path)
		return err
	default:
		// A number or a literal: encoding/json validates it.
		for s.pos < len(s.data) {
			switch s.data[s.pos] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return nil
			}
			s.pos++
		}
		return nil
	}
}

func (s *keyScanner) object(path string, p place, depth int) error {
	fields := p.fields()
	var seen map[string]bool
	if p != placeOverrides {
		seen = map[string]bool{}
	}
	s.pos++ // {
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.syntax(path, "expected an object key")
		}
		if p == placeOverrides {
			// Overrides may number millions: skip their keys here;
			// decoding reports duplicates.
			if err := s.skipStr(path); err != nil {
				return err
			}
			s.space()
			if s.pos >= len(s.data) || s.data[s.pos] != ':' {
				return s.syntax(path, "expected ':'")
			}
			s.pos++
			s.space()
			if err := s.value(path, placeFree, depth+1); err != nil {
				return err
			}
		} else if err := s.member(path, p, fields, seen, depth); err != nil {
			return err
		}
		if done, err := s.next(path, '}'); done || err != nil {
			return err
		}
	}
}

// member reads one key and its value in an object at place p.
func (s *keyScanner) member(path string, p place, fields, seen map[string]bool, depth int) error {
	key, err := s.str(path)
	if err != nil {
		return err
	}
	child := childPath(path, p, key)
	if fields != nil && !fields[key] {
		return fieldErr(ErrUnknownField, child, "", "")
	}
	if seen != nil {
		if seen[key] {
			return fieldErr(ErrDuplicateKey, child, "", "")
		}
		seen[key] = true
	}
	s.space()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return s.syntax(child, "expected ':'")
	}
	s.pos++
	s.space()
	return s.value(child, childPlace(p, key), depth+1)
}

func (s *keyScanner) array(path string, p place, depth int) error {
	elem := placeFree
	if p.fields() != nil && p != placeTop {
		elem = p // cells, endpoints, table and migrations hold objects
	}
	s.pos++ // [
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return nil
	}
	for i := 0; ; i++ {
		s.space()
		if err := s.value(fmt.Sprintf("%s[%d]", path, i), elem, depth+1); err != nil {
			return err
		}
		if done, err := s.next(path, ']'); done || err != nil {
			return err
		}
	}
}

// next reads the comma before the next element of an object or array, or
// its closing byte, and reports whether it closed.
func (s *keyScanner) next(path string, closing byte) (bool, error) {
	s.space()
	switch {
	case s.pos >= len(s.data):
		return false, s.syntax(path, "unexpected end")
	case s.data[s.pos] == ',':
		s.pos++
		return false, nil
	case s.data[s.pos] == closing:
		s.pos++
		return true, nil
	}
	return false, s.syntax(path, fmt.Sprintf("expected ',' or '%c'", closing))
}

// skipStr passes over a JSON string.
func (s *keyScanner) skipStr(path string) error {
	end, _ := stringEnd(s.data, s.pos)
	if end < 0 {
		return s.syntax(path, "unterminated string")
	}
	s.pos = end
	return nil
}

// str reads a JSON string and returns its value.
func (s *keyScanner) str(path string) (string, error) {
	start := s.pos
	end, escaped := stringEnd(s.data, start)
	if end < 0 {
		return "", s.syntax(path, "unterminated string")
	}
	s.pos = end
	raw := s.data[start:end]
	if !escaped {
		return string(raw[1 : len(raw)-1]), nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", s.syntax(path, "bad string escape")
	}
	return v, nil
}

// stringEnd returns the position just past the JSON string that starts with
// the quote at data[start], and whether it holds escapes; −1 when it does
// not end.
func stringEnd[T ~string | ~[]byte](data T, start int) (int, bool) {
	escaped := false
	for i := start + 1; i < len(data); i++ {
		switch data[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i + 1, escaped
		}
	}
	return -1, escaped
}

func (p place) fields() map[string]bool {
	switch p {
	case placeTop:
		return topFields
	case placeCell:
		return cellFields
	case placeEndpoint:
		return endpointFields
	case placeRange:
		return rangeFields
	case placeMigration:
		return migrationFields
	}
	return nil
}

// childPath names the value under key in an object at place p.
func childPath(path string, p place, key string) string {
	if p == placeLabels || p == placeOverrides {
		return path + "[" + strconv.Quote(shorten(key)) + "]"
	}
	if p == placeTop {
		return key
	}
	return path + "." + key
}

// childPlace says what the value under key may hold.
func childPlace(p place, key string) place {
	switch {
	case p == placeTop && key == "cells":
		return placeCell
	case p == placeTop && key == "table":
		return placeRange
	case p == placeTop && key == "migrations":
		return placeMigration
	case p == placeTop && key == "overrides":
		return placeOverrides
	case p == placeCell && key == "endpoints":
		return placeEndpoint
	case p == placeCell && key == "labels":
		return placeLabels
	}
	return placeFree
}
