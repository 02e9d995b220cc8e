package placement

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The document's wire form. Pointers tell a missing field from a zero one.
type wireDoc struct {
	Version    *uint64         `json:"version"`
	Seed       *string         `json:"seed"`
	Buckets    *int            `json:"buckets"`
	ShardSize  *int            `json:"shardSize"`
	Cells      []wireCell      `json:"cells"`
	Table      []wireRange     `json:"table"`
	Overrides  overrideList    `json:"overrides"`
	Migrations []wireMigration `json:"migrations"`
}

type wireCell struct {
	ID        string            `json:"id"`
	Zone      string            `json:"zone"`
	Weight    *float64          `json:"weight"`
	State     *string           `json:"state"`
	Endpoints []wireEndpoint    `json:"endpoints"`
	Labels    map[string]string `json:"labels"`
}

type wireEndpoint struct {
	URL  string `json:"url"`
	Zone string `json:"zone"`
}

type wireRange struct {
	Buckets string `json:"buckets"`
	Cell    string `json:"cell"`
}

type wireMigration struct {
	Key     *string `json:"key"`
	Buckets *string `json:"buckets"`
	From    string  `json:"from"`
	To      string  `json:"to"`
	Phase   string  `json:"phase"`
}

// overrideList holds the override table in document order. It decodes the
// object itself: overrides may number millions, and all their keys share one
// string, which costs one allocation instead of one a key.
type overrideList struct {
	keys, cells []string
	limit       int // refuse more entries than this
}

func (o *overrideList) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil // in place of overrides decoded already, or none
	}
	all := string(data) // one copy; keys and cell IDs are substrings of it
	p := &strReader{s: all}
	p.space()
	if !p.eat('{') {
		return fieldErr(ErrSyntax, "overrides", "", "overrides must be an object")
	}
	p.space()
	if p.eat('}') {
		return nil
	}
	for {
		p.space()
		key, err := p.str()
		if err != nil {
			return fieldErr(ErrSyntax, "overrides", "", "bad key: %v", err)
		}
		p.space()
		if !p.eat(':') {
			return fieldErr(ErrSyntax, "overrides", "", "expected ':'")
		}
		p.space()
		cell, err := p.str()
		if err != nil {
			return fieldErr(ErrSyntax, "overrides["+strconv.Quote(shorten(key))+"]", "", "override must name a cell as a string")
		}
		if len(o.keys) == o.limit {
			return fieldErr(ErrLimit, "overrides", "", "more than %d overrides", o.limit)
		}
		o.keys = append(o.keys, key)
		o.cells = append(o.cells, cell)
		p.space()
		if p.eat('}') {
			return nil
		}
		if !p.eat(',') {
			return fieldErr(ErrSyntax, "overrides", "", "expected ',' or '}'")
		}
	}
}

// strReader reads JSON strings out of a string without copying them.
type strReader struct {
	s   string
	pos int
}

func (r *strReader) space() {
	for r.pos < len(r.s) && (r.s[r.pos] == ' ' || r.s[r.pos] == '\t' || r.s[r.pos] == '\n' || r.s[r.pos] == '\r') {
		r.pos++
	}
}

func (r *strReader) eat(c byte) bool {
	if r.pos < len(r.s) && r.s[r.pos] == c {
		r.pos++
		return true
	}
	return false
}

func (r *strReader) str() (string, error) {
	if r.pos >= len(r.s) || r.s[r.pos] != '"' {
		return "", errors.New("expected a string")
	}
	start := r.pos
	end, escaped := stringEnd(r.s, start)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	r.pos = end
	if !escaped {
		raw := r.s[start+1 : end-1]
		for i := 0; i < len(raw); i++ {
			if raw[i] < 0x20 {
				return "", errors.New("control character in string")
			}
		}
		return raw, nil
	}
	// Escapes mean what encoding/json says they mean.
	var v string
	if err := json.Unmarshal([]byte(r.s[start:end]), &v); err != nil {
		return "", err
	}
	return v, nil
}

// decode reads the wire document strictly: keys first (unknown, duplicate,
// nesting), then values with encoding/json, whose type errors become field
// errors.
func decode(data []byte, lim Limits) (*wireDoc, error) {
	span, err := checkKeys(data)
	if err != nil {
		return nil, err
	}
	doc := &wireDoc{Overrides: overrideList{limit: lim.MaxOverrides}}
	rest := data
	if span[1] > 0 {
		// The overrides can be most of the document: decode them
		// directly, and let encoding/json see null in their place.
		if err := doc.Overrides.UnmarshalJSON(data[span[0]:span[1]]); err != nil {
			return nil, jsonErr(err, data)
		}
		rest = slices.Concat(data[:span[0]], []byte("null"), data[span[1]:])
	}
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(doc); err != nil {
		return nil, jsonErr(err, rest)
	}
	return doc, nil
}

// jsonErr turns an encoding/json error into a *FieldError.
func jsonErr(err error, data []byte) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := pathAt(data, te.Offset)
		if field == "" || field == "document" {
			field = cmp.Or(te.Field, "document")
		}
		sentinel := ErrSyntax
		switch {
		case field == "version":
			sentinel = ErrVersion
		case field == "seed":
			sentinel = ErrSeed
		case field == "buckets":
			sentinel = ErrBuckets
		case field == "shardSize":
			sentinel = ErrShardSize
		case strings.HasSuffix(field, ".weight") || strings.HasSuffix(te.Field, ".weight"):
			sentinel = ErrWeight
		}
		return fieldErr(sentinel, field, te.Value, "cannot use %s as %s", te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fieldErr(ErrSyntax, "document", "", "%v at byte %d", se, se.Offset)
	}
	return fieldErr(ErrSyntax, "document", "", "%v", err)
}

// parseSeed reads a 64-bit seed written in decimal or 0x-hex.
func parseSeed(s string) (uint64, error) {
	if rest, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		if rest == "" || strings.HasPrefix(rest, "+") || strings.HasPrefix(rest, "-") || strings.Contains(rest, "_") {
			return 0, fmt.Errorf("bad hex")
		}
		return strconv.ParseUint(rest, 16, 64)
	}
	if s == "" || s[0] < '0' || s[0] > '9' || strings.Contains(s, "_") {
		return 0, fmt.Errorf("bad decimal")
	}
	return strconv.ParseUint(s, 10, 64)
}

// A Range is an inclusive range of buckets, written "lo-hi" or "b".
type Range struct{ Lo, Hi int }

func (r Range) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(r.Lo)
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// Len returns the number of buckets in the range.
func (r Range) Len() int { return r.Hi - r.Lo + 1 }

// ParseRange reads "lo-hi" or "b" (decimal, no sign, lo ≤ hi).
func ParseRange(s string) (Range, error) {
	num := func(t string) (int, bool) {
		if t == "" || len(t) > 9 {
			return 0, false
		}
		n := 0
		for _, c := range []byte(t) {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	lo, hi, isRange := strings.Cut(s, "-")
	a, ok := num(lo)
	if !ok {
		return Range{}, fieldErr(ErrTable, "buckets", s, "bucket range must be \"lo-hi\" or \"b\"")
	}
	b := a
	if isRange {
		if b, ok = num(hi); !ok || b < a {
			return Range{}, fieldErr(ErrTable, "buckets", s, "bucket range must be \"lo-hi\" with lo ≤ hi")
		}
	}
	return Range{a, b}, nil
}
