package placement

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decode reads a placement document strictly, in one pass and without
// reflection: it knows the document's shape, so it refuses an unknown field,
// a repeated one, a value of the wrong type or a string that is not UTF-8
// where it stands, and it counts cells, endpoints, labels, table ranges,
// overrides and migrations against the limits as it reads them, so that a
// hostile document is refused before it costs more than its own size.
//
// Strings are substrings of one copy of the document, except those with
// escapes. encoding/json is not used: it rewrites invalid UTF-8 to U+FFFD,
// which would merge distinct keys and zones.
func decode(data []byte, lim Limits) (*document, error) {
	d := &decoder{s: string(data), lim: lim}
	doc := &document{buckets: DefaultBuckets, shardSize: DefaultShardSize, text: d.s}
	top := &path{}
	if strings.HasPrefix(d.s, "\ufeff") {
		return nil, &FieldError{Field: "document", Err: ErrSyntax,
			Detail: "the document starts with a byte order mark (U+FEFF); a placement document is UTF-8 JSON without one"}
	}
	d.ws()
	if d.pos == len(d.s) {
		return nil, &FieldError{Field: "document", Err: ErrSyntax, Detail: "the document is empty"}
	}
	if err := d.expect(top, '{', ErrType, "a placement document is a JSON object"); err != nil {
		return nil, err
	}
	var seen uint8
	hasVersion := false
	err := d.object(top, func(key string) error {
		p := &path{up: top, name: key}
		bit, ok := topFields[key]
		if !ok {
			return &FieldError{Field: p.String(), Err: ErrUnknownField}
		}
		if seen&bit != 0 {
			return &FieldError{Field: p.String(), Err: ErrDuplicateKey}
		}
		seen |= bit
		switch key {
		case "version":
			hasVersion = true
			return d.version(p, doc)
		case "seed":
			s, err := d.strVal(p, ErrSeed, "the seed is a string: a 64-bit integer in decimal, or in hex after 0x")
			if err != nil {
				return err
			}
			seed, perr := parseSeed(s)
			if perr != nil {
				return &FieldError{Field: p.String(), Err: ErrSeed, Value: quote(s),
					Detail: "the seed is a 64-bit integer in decimal, or in hex after 0x"}
			}
			doc.seed = seed
		case "buckets":
			n, err := d.intVal(p, 1, MaxBuckets, ErrBuckets, "buckets is an integer from 1 to 1048576")
			if err != nil {
				return err
			}
			doc.buckets = n
		case "shardSize":
			n, err := d.intVal(p, 1, math.MaxInt32, ErrShardSize, "shardSize is an integer of at least 1")
			if err != nil {
				return err
			}
			doc.shardSize = n
		case "cells":
			return d.cells(p, doc)
		case "table":
			return d.table(p, doc)
		case "overrides":
			return d.overrides(p, doc)
		case "migrations":
			return d.migrations(p, doc)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.ws()
	if d.pos != len(d.s) {
		return nil, d.syntax(top, "data after the document's object")
	}
	if !hasVersion {
		return nil, &FieldError{Field: "version", Err: ErrVersion, Detail: "the document has no version"}
	}
	return doc, nil
}

var topFields = map[string]uint8{"version": 1, "seed": 2, "buckets": 4, "shardSize": 8,
	"cells": 16, "table": 32, "overrides": 64, "migrations": 128}

func (d *decoder) version(p *path, doc *document) error {
	const want = "the version is an integer from 1 to 18446744073709551615"
	start := d.pos
	num, err := d.numVal(p, ErrVersion, want)
	if err != nil {
		return err
	}
	v, perr := strconv.ParseUint(num, 10, 64)
	if perr != nil || v == 0 {
		return d.valueErr(p, start, ErrVersion, want)
	}
	doc.version = v
	return nil
}

func (d *decoder) cells(p *path, doc *document) error {
	if err := d.expect(p, '[', ErrType, "cells is an array of cell objects"); err != nil {
		return err
	}
	return d.array(p, func(i int) error {
		ep := &path{up: p, index: i}
		if i == d.lim.MaxCells {
			return &FieldError{Field: p.String(), Err: ErrLimit, Detail: "more than " + strconv.Itoa(d.lim.MaxCells) + " cells (Limits.MaxCells)"}
		}
		c, err := d.cell(ep)
		if err != nil {
			return err
		}
		doc.cells = append(doc.cells, c)
		return nil
	})
}

var cellFields = map[string]uint8{"id": 1, "zone": 2, "weight": 4, "state": 8, "endpoints": 16, "labels": 32}

func (d *decoder) cell(p *path) (Cell, error) {
	c := Cell{Weight: DefaultWeight}
	if err := d.expect(p, '{', ErrType, "a cell is an object"); err != nil {
		return c, err
	}
	var seen uint8
	err := d.object(p, func(key string) error {
		fp := &path{up: p, name: key}
		if err := checkMember(fp, cellFields, &seen, key); err != nil {
			return err
		}
		var err error
		switch key {
		case "id":
			c.ID, err = d.strVal(fp, ErrCellID, "a cell ID is a string")
		case "zone":
			c.Zone, err = d.strVal(fp, ErrType, "a zone is a string")
		case "weight":
			c.Weight, err = d.weight(fp)
		case "state":
			var s string
			start := d.pos
			if s, err = d.strVal(fp, ErrState, stateWant); err == nil {
				var ok bool
				if c.State, ok = ParseState(s); !ok {
					err = d.valueErr(fp, start, ErrState, stateWant)
				}
			}
		case "endpoints":
			c.Endpoints, err = d.endpoints(fp)
		case "labels":
			c.Labels, err = d.labels(fp)
		}
		return err
	})
	if err == nil && seen&1 == 0 {
		err = &FieldError{Field: (&path{up: p, name: "id"}).String(), Err: ErrCellID, Detail: "a cell has an id"}
	}
	return c, err
}

const stateWant = "a state is one of the strings active, draining, disabled and canary"

func (d *decoder) weight(p *path) (float64, error) {
	const want = "a weight is a number: 0, or from 1e-6 to 1e6"
	start := d.pos
	num, err := d.numVal(p, ErrWeight, want)
	if err != nil {
		return 0, err
	}
	w, perr := strconv.ParseFloat(num, 64)
	if perr != nil || checkWeight(w) != nil {
		return 0, d.valueErr(p, start, ErrWeight, want)
	}
	return w, nil
}

var endpointFields = map[string]uint8{"url": 1, "zone": 2}

func (d *decoder) endpoints(p *path) ([]Endpoint, error) {
	if err := d.expect(p, '[', ErrType, "endpoints is an array of endpoint objects"); err != nil {
		return nil, err
	}
	var eps []Endpoint
	err := d.array(p, func(j int) error {
		ep := &path{up: p, index: j}
		if j == d.lim.MaxEndpoints {
			return &FieldError{Field: p.String(), Err: ErrLimit,
				Detail: "more than " + strconv.Itoa(d.lim.MaxEndpoints) + " endpoints (Limits.MaxEndpoints)"}
		}
		if err := d.expect(ep, '{', ErrType, "an endpoint is an object"); err != nil {
			return err
		}
		var e Endpoint
		var seen uint8
		err := d.object(ep, func(key string) error {
			fp := &path{up: ep, name: key}
			if err := checkMember(fp, endpointFields, &seen, key); err != nil {
				return err
			}
			var err error
			if key == "url" {
				e.URL, err = d.strVal(fp, ErrEndpoint, "an endpoint URL is a string")
			} else {
				e.Zone, err = d.strVal(fp, ErrType, "a zone is a string")
			}
			return err
		})
		if err == nil && seen&1 == 0 {
			err = &FieldError{Field: (&path{up: ep, name: "url"}).String(), Err: ErrEndpoint, Detail: "an endpoint has a url"}
		}
		eps = append(eps, e)
		return err
	})
	return eps, err
}

func (d *decoder) labels(p *path) (map[string]string, error) {
	if err := d.expect(p, '{', ErrType, "labels is an object of strings"); err != nil {
		return nil, err
	}
	labels := map[string]string{}
	size := 0
	err := d.object(p, func(key string) error {
		kp := &path{up: p, name: key, keyed: true}
		if _, dup := labels[key]; dup {
			return &FieldError{Field: kp.String(), Err: ErrDuplicateKey}
		}
		v, err := d.strVal(kp, ErrType, "a label value is a string")
		if err != nil {
			return err
		}
		if size += len(key) + len(v); size > d.lim.MaxLabelBytes {
			return &FieldError{Field: p.String(), Err: ErrLimit,
				Detail: "more than " + strconv.Itoa(d.lim.MaxLabelBytes) + " bytes of labels (Limits.MaxLabelBytes)"}
		}
		labels[key] = v
		return nil
	})
	return labels, err
}

var rangeFields = map[string]uint8{"buckets": 1, "cell": 2}

func (d *decoder) table(p *path, doc *document) error {
	if err := d.expect(p, '[', ErrTable, "the table is an array of {\"buckets\", \"cell\"} objects"); err != nil {
		return err
	}
	doc.table = []TableRange{}
	return d.array(p, func(i int) error {
		ep := &path{up: p, index: i}
		if i == MaxBuckets {
			return &FieldError{Field: p.String(), Err: ErrLimit, Detail: "more than 1048576 ranges (MaxBuckets)"}
		}
		if err := d.expect(ep, '{', ErrTable, "a table entry is an object"); err != nil {
			return err
		}
		var r TableRange
		var seen uint8
		err := d.object(ep, func(key string) error {
			fp := &path{up: ep, name: key}
			if err := checkMember(fp, rangeFields, &seen, key); err != nil {
				return err
			}
			if key == "cell" {
				var err error
				r.Cell, err = d.strVal(fp, ErrType, "a cell is named by its ID, a string")
				return err
			}
			start := d.pos
			s, err := d.strVal(fp, ErrTable, "a bucket range is a string, \"lo-hi\" or \"b\"")
			if err != nil {
				return err
			}
			if r.Range, err = ParseRange(s); err != nil {
				fe := err.(*FieldError)
				fe.Field, fe.Value = fp.String(), d.rawAt(start)
				return fe
			}
			return nil
		})
		if err == nil && seen != 3 {
			err = &FieldError{Field: ep.String(), Err: ErrTable, Detail: "a table entry has buckets and a cell"}
		}
		doc.table = append(doc.table, r)
		return err
	})
}

func (d *decoder) overrides(p *path, doc *document) error {
	if err := d.expect(p, '{', ErrType, "overrides is an object of key: cell ID"); err != nil {
		return err
	}
	o := &doc.overrides
	return d.object(p, func(key string) error {
		if len(o.keys) == d.lim.MaxOverrides {
			return &FieldError{Field: p.String(), Err: ErrLimit,
				Detail: "more than " + strconv.Itoa(d.lim.MaxOverrides) + " overrides (Limits.MaxOverrides)"}
		}
		cell, err := d.strVal(&path{up: p, name: key, keyed: true}, ErrType, "an override names a cell by its ID, a string")
		if err != nil {
			return err
		}
		o.keys = append(o.keys, key)
		o.cells = append(o.cells, cell)
		return nil
	})
}

var migrationFields = map[string]uint8{"key": 1, "buckets": 2, "from": 4, "to": 8, "phase": 16}

func (d *decoder) migrations(p *path, doc *document) error {
	if err := d.expect(p, '[', ErrType, "migrations is an array of migration objects"); err != nil {
		return err
	}
	return d.array(p, func(i int) error {
		ep := &path{up: p, index: i}
		if i == d.lim.MaxMigrations {
			return &FieldError{Field: p.String(), Err: ErrLimit,
				Detail: "more than " + strconv.Itoa(d.lim.MaxMigrations) + " migrations (Limits.MaxMigrations)"}
		}
		if err := d.expect(ep, '{', ErrType, "a migration is an object"); err != nil {
			return err
		}
		var g Migration
		var seen uint8
		err := d.object(ep, func(key string) error {
			fp := &path{up: ep, name: key}
			if err := checkMember(fp, migrationFields, &seen, key); err != nil {
				return err
			}
			var err error
			start := d.pos
			switch key {
			case "key":
				if g.Key, err = d.strVal(fp, ErrType, "a migration key is a string"); err == nil {
					if fe := checkKey(g.Key, d.lim); fe != nil {
						fe.Field = fp.String()
						err = fe
					}
				}
			case "buckets":
				var s string
				if s, err = d.strVal(fp, ErrMigration, "a bucket range is a string, \"lo-hi\" or \"b\""); err == nil {
					if g.Buckets, err = ParseRange(s); err != nil {
						fe := err.(*FieldError)
						fe.Field, fe.Value, fe.Err = fp.String(), d.rawAt(start), ErrMigration
						return fe
					}
				}
			case "from":
				g.From, err = d.strVal(fp, ErrType, "a cell is named by its ID, a string")
			case "to":
				g.To, err = d.strVal(fp, ErrType, "a cell is named by its ID, a string")
			case "phase":
				const want = "a phase is one of the strings copying, frozen and flipped"
				var s string
				if s, err = d.strVal(fp, ErrMigration, want); err == nil {
					var ok bool
					if g.Phase, ok = ParsePhase(s); !ok {
						err = d.valueErr(fp, start, ErrMigration, want)
					}
				}
			}
			return err
		})
		switch {
		case err != nil:
		case (seen&1 == 0) == (seen&2 == 0):
			err = &FieldError{Field: ep.String(), Err: ErrMigration, Detail: "a migration names either a key or buckets"}
		case seen&28 != 28:
			err = &FieldError{Field: ep.String(), Err: ErrMigration, Detail: "a migration has from, to and phase"}
		}
		doc.migrations = append(doc.migrations, g)
		return err
	})
}

// checkMember refuses a member that is unknown at its place or repeated.
func checkMember(p *path, fields map[string]uint8, seen *uint8, key string) error {
	bit, ok := fields[key]
	if !ok {
		return &FieldError{Field: p.String(), Err: ErrUnknownField}
	}
	if *seen&bit != 0 {
		return &FieldError{Field: p.String(), Err: ErrDuplicateKey}
	}
	*seen |= bit
	return nil
}

// A path names a place in the document. Paths are linked on the stack and
// written out only for an error, so reading costs no string a value.
type path struct {
	up    *path
	name  string // a member name; "" with up == nil: the document
	index int    // with name == "": an array index
	keyed bool   // name is a key of labels or overrides: written ["name"]
}

func (p *path) String() string {
	if p.up == nil {
		return "document"
	}
	var parts []*path
	for q := p; q.up != nil; q = q.up {
		parts = append(parts, q)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		q := parts[i]
		switch {
		case q.keyed:
			b.WriteString("[" + quote(q.name) + "]")
		case q.name == "":
			b.WriteString("[" + strconv.Itoa(q.index) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			if !validName(q.name) {
				b.WriteString(quote(q.name))
			} else {
				b.WriteString(q.name)
			}
		}
	}
	return b.String()
}

// validName reports whether a member name reads well in a path unquoted.
func validName(s string) bool {
	if s == "" || len(s) > MaxQuote {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// decoder reads JSON out of a string.
type decoder struct {
	s   string
	pos int
	lim Limits
}

func (d *decoder) ws() {
	for d.pos < len(d.s) {
		switch d.s[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) eat(c byte) bool {
	if d.pos < len(d.s) && d.s[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

func (d *decoder) syntax(p *path, detail string) error {
	return d.syntaxAt(p, d.pos, detail)
}

func (d *decoder) syntaxAt(p *path, pos int, detail string) error {
	return &FieldError{Field: p.String(), Err: ErrSyntax, Detail: "malformed JSON at byte " + strconv.Itoa(pos) + ": " + detail}
}

// expect checks that the value at d.pos starts with c: '{' or '['. It does
// not consume it.
func (d *decoder) expect(p *path, c byte, sentinel error, want string) error {
	if d.pos < len(d.s) && d.s[d.pos] == c {
		return nil
	}
	return d.typeErr(p, sentinel, want)
}

// typeErr reports a value of the wrong type at d.pos, or a syntax error when
// there is no value there at all.
func (d *decoder) typeErr(p *path, sentinel error, want string) error {
	if d.pos >= len(d.s) {
		return d.syntax(p, "unexpected end of the document")
	}
	switch c := d.s[d.pos]; {
	case c == '"' || c == '{' || c == '[' || c == '-' || '0' <= c && c <= '9':
	case strings.HasPrefix(d.s[d.pos:], "true"), strings.HasPrefix(d.s[d.pos:], "false"), strings.HasPrefix(d.s[d.pos:], "null"):
	default:
		return d.syntax(p, "expected a value")
	}
	return d.valueErr(p, d.pos, sentinel, want)
}

// valueErr reports the value that starts at byte start.
func (d *decoder) valueErr(p *path, start int, sentinel error, want string) error {
	return &FieldError{Field: p.String(), Err: sentinel, Value: d.rawAt(start), Detail: want}
}

// rawAt writes the value that starts at byte start for an error message: a
// string quoted, anything else as written, at most MaxQuote bytes of it.
func (d *decoder) rawAt(start int) string {
	rest := d.s[start:]
	if rest == "" {
		return ""
	}
	if rest[0] == '"' {
		sub := decoder{s: d.s, pos: start, lim: d.lim}
		if v, err := sub.str(&path{}); err == nil {
			return quote(v)
		}
	}
	var n int
	switch rest[0] {
	case '{', '[', '"':
		n = valueEnd(rest)
	default:
		if n = strings.IndexAny(rest, ",]} \t\r\n"); n < 0 {
			n = len(rest)
		}
	}
	v := shorten(rest[:n])
	for _, r := range v {
		if r == utf8.RuneError || r < 0x20 {
			return quote(v)
		}
	}
	return v
}

// valueEnd returns the length of the object, array or string that starts
// s, when it ends within its first MaxQuote+1 bytes, else MaxQuote+1: enough
// for an error message to quote it or its beginning.
func valueEnd(s string) int {
	depth, in := 0, false
	for i := 0; i < len(s) && i <= MaxQuote; i++ {
		switch c := s[i]; {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
			if !in && depth == 0 {
				return i + 1
			}
		case in:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return min(len(s), MaxQuote+1)
}

// object reads the object at d.pos, calling f with each member's name once
// the name and its colon are read; f reads the value.
func (d *decoder) object(p *path, f func(key string) error) error {
	d.pos++ // {
	d.ws()
	if d.eat('}') {
		return nil
	}
	for {
		d.ws()
		if d.pos >= len(d.s) || d.s[d.pos] != '"' {
			return d.syntax(p, "expected a member name in double quotes")
		}
		key, err := d.str(p)
		if err != nil {
			return err
		}
		d.ws()
		if !d.eat(':') {
			return d.syntax(p, "expected ':' after a member name")
		}
		d.ws()
		if err := f(key); err != nil {
			return err
		}
		d.ws()
		if d.eat(',') {
			continue
		}
		if d.eat('}') {
			return nil
		}
		return d.syntax(p, "expected ',' or '}'")
	}
}

// array reads the array at d.pos, calling f at each element; f reads it.
func (d *decoder) array(p *path, f func(i int) error) error {
	d.pos++ // [
	d.ws()
	if d.eat(']') {
		return nil
	}
	for i := 0; ; i++ {
		d.ws()
		if err := f(i); err != nil {
			return err
		}
		d.ws()
		if d.eat(',') {
			continue
		}
		if d.eat(']') {
			return nil
		}
		return d.syntax(p, "expected ',' or ']'")
	}
}

// strVal reads a string value, or reports a value of another type.
func (d *decoder) strVal(p *path, sentinel error, want string) (string, error) {
	if d.pos >= len(d.s) || d.s[d.pos] != '"' {
		return "", d.typeErr(p, sentinel, want)
	}
	return d.str(p)
}

// numVal reads a number value and returns its text, or reports a value of
// another type.
func (d *decoder) numVal(p *path, sentinel error, want string) (string, error) {
	if d.pos >= len(d.s) || (d.s[d.pos] != '-' && (d.s[d.pos] < '0' || d.s[d.pos] > '9')) {
		return "", d.typeErr(p, sentinel, want)
	}
	return d.number(p)
}

// intVal reads an integer in [lo, hi].
func (d *decoder) intVal(p *path, lo, hi int, sentinel error, want string) (int, error) {
	start := d.pos
	num, err := d.numVal(p, sentinel, want)
	if err != nil {
		return 0, err
	}
	n, perr := strconv.ParseInt(num, 10, 64)
	if perr != nil || n < int64(lo) || n > int64(hi) {
		return 0, d.valueErr(p, start, sentinel, want)
	}
	return int(n), nil
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) number(p *path) (string, error) {
	s, start := d.s, d.pos
	i := start
	digits := func() bool {
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case !digits():
		return "", d.syntaxAt(p, i, "bad number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return "", d.syntaxAt(p, i, "bad number")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return "", d.syntaxAt(p, i, "bad number")
		}
	}
	d.pos = i
	return s[start:i], nil
}

// str reads the JSON string at d.pos. A string without escapes is a
// substring of the document. A string that is not valid UTF-8, or escapes
// half of a surrogate pair, is refused with ErrUTF8 rather than rewritten.
func (d *decoder) str(p *path) (string, error) {
	s := d.s
	start := d.pos + 1
	ascii := true
	for i := start; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			v := s[start:i]
			if !ascii && !utf8.ValidString(v) {
				return "", &FieldError{Field: p.String(), Err: ErrUTF8, Value: quote(v)}
			}
			d.pos = i + 1
			return v, nil
		case c == '\\':
			return d.escaped(p, start, i)
		case c < 0x20:
			return "", d.syntaxAt(p, i, "control character in a string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", d.syntaxAt(p, d.pos, "unterminated string")
}

// escaped reads the rest of a string that holds escapes, from byte i of the
// string that starts at start.
func (d *decoder) escaped(p *path, start, i int) (string, error) {
	s := d.s
	b := make([]byte, 0, i-start+16)
	b = append(b, s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			v := string(b)
			if !utf8.ValidString(v) {
				return "", &FieldError{Field: p.String(), Err: ErrUTF8, Value: quote(v)}
			}
			d.pos = i + 1
			return v, nil
		case c < 0x20:
			return "", d.syntaxAt(p, i, "control character in a string")
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			break
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return "", d.syntaxAt(p, i, "bad \\u escape")
			}
			i += 6
			if utf16IsSurrogate(r) {
				r2, ok := rune(0), false
				if r < 0xdc00 && strings.HasPrefix(s[i:], "\\u") {
					r2, ok = hex4(s, i+2)
					ok = ok && 0xdc00 <= r2 && r2 < 0xe000
				}
				if !ok {
					return "", &FieldError{Field: p.String(), Err: ErrUTF8, Value: quote(s[i-6 : i]),
						Detail: "the escape is half of a UTF-16 surrogate pair, not a character"}
				}
				r = 0x10000 + (r-0xd800)<<10 + (r2 - 0xdc00)
				i += 6
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return "", d.syntaxAt(p, i, "bad escape \\"+string(rune(e)))
		}
		i += 2
	}
	return "", d.syntaxAt(p, start-1, "unterminated string")
}

func utf16IsSurrogate(r rune) bool { return 0xd800 <= r && r < 0xe000 }

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
