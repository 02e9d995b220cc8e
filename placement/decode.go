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
	for i := 0; ; i++ {
		key, more, err := d.member(top, i)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		p := &path{up: top, name: key}
		if err := checkMember(p, topFields, &seen, key); err != nil {
			return nil, err
		}
		if err := d.topField(p, key, doc); err != nil {
			return nil, err
		}
	}
	d.ws()
	if d.pos != len(d.s) {
		return nil, d.syntax(top, "data after the document's object")
	}
	if seen&1 == 0 {
		return nil, &FieldError{Field: "version", Err: ErrVersion, Detail: "the document has no version"}
	}
	return doc, nil
}

var topFields = map[string]uint8{"version": 1, "seed": 2, "buckets": 4, "shardSize": 8,
	"cells": 16, "table": 32, "overrides": 64, "migrations": 128}

func (d *decoder) topField(p *path, key string, doc *document) error {
	switch key {
	case "version":
		const want = "the version is an integer from 1 to 18446744073709551615"
		start := d.pos
		num, err := d.numVal(p, ErrVersion, want)
		if err != nil {
			return err
		}
		v, perr := parseUint(num)
		if perr != nil || v == 0 {
			return d.valueErr(p, start, ErrVersion, want)
		}
		doc.version = v
	case "seed":
		const want = "the seed is a string: a 64-bit integer in decimal, or in hex after 0x"
		start := d.pos
		s, err := d.strVal(p, ErrSeed, want)
		if err != nil {
			return err
		}
		if len(s) > 20 {
			return d.valueErr(p, start, ErrSeed, want)
		}
		if doc.seed, err = parseSeed(s); err != nil {
			return d.valueErr(p, start, ErrSeed, want)
		}
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
}

func (d *decoder) cells(p *path, doc *document) error {
	if err := d.expect(p, '[', ErrType, "cells is an array of cell objects"); err != nil {
		return err
	}
	for i := 0; ; i++ {
		more, err := d.element(p, i)
		if err != nil || !more {
			return err
		}
		if i == d.lim.MaxCells {
			return &FieldError{Field: p.String(), Err: ErrLimit, Detail: "more than " + strconv.Itoa(d.lim.MaxCells) + " cells (Limits.MaxCells)"}
		}
		c, err := d.cell(&path{up: p, index: i})
		if err != nil {
			return err
		}
		doc.cells = append(doc.cells, c)
	}
}

var cellFields = map[string]uint8{"id": 1, "zone": 2, "weight": 4, "state": 8, "endpoints": 16, "labels": 32}

func (d *decoder) cell(p *path) (c Cell, err error) {
	c.Weight = DefaultWeight
	if err := d.expect(p, '{', ErrType, "a cell is an object"); err != nil {
		return c, err
	}
	var seen uint8
	for i := 0; ; i++ {
		key, more, err := d.member(p, i)
		if err != nil {
			return c, err
		}
		if !more {
			break
		}
		fp := &path{up: p, name: key}
		if err := checkMember(fp, cellFields, &seen, key); err != nil {
			return c, err
		}
		start := d.pos
		switch key {
		case "id":
			c.ID, err = d.strVal(fp, ErrCellID, "a cell ID is a string")
		case "zone":
			c.Zone, err = d.strVal(fp, ErrType, "a zone is a string")
		case "weight":
			const want = "a weight is a number: 0, or from 1e-6 to 1e6"
			var num string
			if num, err = d.numVal(fp, ErrWeight, want); err == nil {
				var perr error
				if len(num) > 64 {
					perr = ErrWeight // strconv would copy all of it into its error
				} else {
					c.Weight, perr = strconv.ParseFloat(num, 64)
				}
				if perr != nil || checkWeight(c.Weight) != nil {
					err = d.valueErr(fp, start, ErrWeight, want)
				}
			}
		case "state":
			var s string
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
		if err != nil {
			return c, err
		}
	}
	if seen&1 == 0 {
		return c, &FieldError{Field: (&path{up: p, name: "id"}).String(), Err: ErrCellID, Detail: "a cell has an id"}
	}
	return c, nil
}

const stateWant = "a state is one of the strings active, draining, disabled and canary"

var endpointFields = map[string]uint8{"url": 1, "zone": 2}

func (d *decoder) endpoints(p *path) ([]Endpoint, error) {
	if err := d.expect(p, '[', ErrType, "endpoints is an array of endpoint objects"); err != nil {
		return nil, err
	}
	var eps []Endpoint
	for j := 0; ; j++ {
		more, err := d.element(p, j)
		if err != nil || !more {
			return eps, err
		}
		if j == d.lim.MaxEndpoints {
			return eps, &FieldError{Field: p.String(), Err: ErrLimit,
				Detail: "more than " + strconv.Itoa(d.lim.MaxEndpoints) + " endpoints (Limits.MaxEndpoints)"}
		}
		ep := &path{up: p, index: j}
		if err := d.expect(ep, '{', ErrType, "an endpoint is an object"); err != nil {
			return eps, err
		}
		var e Endpoint
		var seen uint8
		for i := 0; ; i++ {
			key, more, err := d.member(ep, i)
			if err != nil {
				return eps, err
			}
			if !more {
				break
			}
			fp := &path{up: ep, name: key}
			if err := checkMember(fp, endpointFields, &seen, key); err != nil {
				return eps, err
			}
			if key == "url" {
				e.URL, err = d.strVal(fp, ErrEndpoint, "an endpoint URL is a string")
			} else {
				e.Zone, err = d.strVal(fp, ErrType, "a zone is a string")
			}
			if err != nil {
				return eps, err
			}
		}
		if seen&1 == 0 {
			return eps, &FieldError{Field: (&path{up: ep, name: "url"}).String(), Err: ErrEndpoint, Detail: "an endpoint has a url"}
		}
		eps = append(eps, e)
	}
}

func (d *decoder) labels(p *path) (map[string]string, error) {
	if err := d.expect(p, '{', ErrType, "labels is an object of strings"); err != nil {
		return nil, err
	}
	labels := map[string]string{}
	size := 0
	for i := 0; ; i++ {
		key, more, err := d.member(p, i)
		if err != nil || !more {
			return labels, err
		}
		kp := &path{up: p, name: key, keyed: true}
		if _, dup := labels[key]; dup {
			return labels, &FieldError{Field: kp.String(), Err: ErrDuplicateKey}
		}
		v, err := d.strVal(kp, ErrType, "a label value is a string")
		if err != nil {
			return labels, err
		}
		if size += len(key) + len(v); size > d.lim.MaxLabelBytes {
			return labels, &FieldError{Field: p.String(), Err: ErrLimit,
				Detail: "more than " + strconv.Itoa(d.lim.MaxLabelBytes) + " bytes of labels (Limits.MaxLabelBytes)"}
		}
		labels[key] = v
	}
}

var rangeFields = map[string]uint8{"buckets": 1, "cell": 2}

func (d *decoder) table(p *path, doc *document) error {
	if err := d.expect(p, '[', ErrTable, "the table is an array of {\"buckets\", \"cell\"} objects"); err != nil {
		return err
	}
	doc.table = []TableRange{}
	for i := 0; ; i++ {
		more, err := d.element(p, i)
		if err != nil || !more {
			return err
		}
		if i == MaxBuckets {
			return &FieldError{Field: p.String(), Err: ErrLimit, Detail: "more than 1048576 ranges (MaxBuckets)"}
		}
		ep := &path{up: p, index: i}
		if err := d.expect(ep, '{', ErrTable, "a table entry is an object"); err != nil {
			return err
		}
		var r TableRange
		var seen uint8
		for j := 0; ; j++ {
			key, more, err := d.member(ep, j)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			fp := &path{up: ep, name: key}
			if err := checkMember(fp, rangeFields, &seen, key); err != nil {
				return err
			}
			if key == "cell" {
				if r.Cell, err = d.strVal(fp, ErrType, "a cell is named by its ID, a string"); err != nil {
					return err
				}
				continue
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
		}
		if seen != 3 {
			return &FieldError{Field: ep.String(), Err: ErrTable, Detail: "a table entry has buckets and a cell"}
		}
		doc.table = append(doc.table, r)
	}
}

func (d *decoder) overrides(p *path, doc *document) error {
	if err := d.expect(p, '{', ErrType, "overrides is an object of key: cell ID"); err != nil {
		return err
	}
	o := &doc.overrides
	names := map[string]int32{}
	for i := 0; ; i++ {
		key, more, err := d.member(p, i)
		if err != nil || !more {
			return err
		}
		if i == d.lim.MaxOverrides {
			return &FieldError{Field: p.String(), Err: ErrLimit,
				Detail: "more than " + strconv.Itoa(d.lim.MaxOverrides) + " overrides (Limits.MaxOverrides)"}
		}
		cell, err := d.strVal(&path{up: p, name: key, keyed: true}, ErrType, "an override names a cell by its ID, a string")
		if err != nil {
			return err
		}
		c, ok := names[cell]
		if !ok {
			c = int32(len(o.names))
			names[cell] = c
			o.names = append(o.names, cell)
		}
		o.keys = append(o.keys, key)
		o.cells = append(o.cells, c)
	}
}

var migrationFields = map[string]uint8{"key": 1, "buckets": 2, "from": 4, "to": 8, "phase": 16}

func (d *decoder) migrations(p *path, doc *document) error {
	if err := d.expect(p, '[', ErrType, "migrations is an array of migration objects"); err != nil {
		return err
	}
	for i := 0; ; i++ {
		more, err := d.element(p, i)
		if err != nil || !more {
			return err
		}
		if i == d.lim.MaxMigrations {
			return &FieldError{Field: p.String(), Err: ErrLimit,
				Detail: "more than " + strconv.Itoa(d.lim.MaxMigrations) + " migrations (Limits.MaxMigrations)"}
		}
		g, err := d.migration(&path{up: p, index: i})
		if err != nil {
			return err
		}
		doc.migrations = append(doc.migrations, g)
	}
}

func (d *decoder) migration(p *path) (g Migration, err error) {
	if err := d.expect(p, '{', ErrType, "a migration is an object"); err != nil {
		return g, err
	}
	var seen uint8
	for i := 0; ; i++ {
		key, more, err := d.member(p, i)
		if err != nil {
			return g, err
		}
		if !more {
			break
		}
		fp := &path{up: p, name: key}
		if err := checkMember(fp, migrationFields, &seen, key); err != nil {
			return g, err
		}
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
					return g, fe
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
		if err != nil {
			return g, err
		}
	}
	switch {
	case (seen&1 == 0) == (seen&2 == 0):
		return g, &FieldError{Field: p.String(), Err: ErrMigration, Detail: "a migration names either a key or buckets"}
	case seen&28 != 28:
		return g, &FieldError{Field: p.String(), Err: ErrMigration, Detail: "a migration has from, to and phase"}
	}
	return g, nil
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
	depth := 0
	for q := p; q.up != nil; q = q.up {
		depth++
	}
	// From the document down, without recursion or a slice of pointers:
	// either would move every path to the heap.
	var b strings.Builder
	for level := depth - 1; level >= 0; level-- {
		q := p
		for range level {
			q = q.up
		}
		switch {
		case q.keyed:
			// A copy, so that quote's fmt does not make the analysis move
			// every path to the heap.
			b.WriteString("[" + quote(strings.Clone(shorten(q.name))) + "]")
		case q.name == "":
			b.WriteString("[" + strconv.Itoa(q.index) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			if !validName(q.name) {
				b.WriteString(quote(strings.Clone(shorten(q.name))))
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

// member steps through the object at d.pos: call it with i = 0, 1, … It
// reads the opening brace or the comma before member i, then the member's
// name and colon, and returns the name, with more false after the closing
// brace. The caller reads each member's value.
func (d *decoder) member(p *path, i int) (key string, more bool, err error) {
	if i == 0 {
		d.pos++ // {
		d.ws()
		if d.eat('}') {
			return "", false, nil
		}
	} else {
		d.ws()
		if d.eat('}') {
			return "", false, nil
		}
		if !d.eat(',') {
			return "", false, d.syntax(p, "expected ',' or '}'")
		}
		d.ws()
	}
	if d.pos >= len(d.s) || d.s[d.pos] != '"' {
		return "", false, d.syntax(p, "expected a member name in double quotes")
	}
	if key, err = d.str(p); err != nil {
		return "", false, err
	}
	d.ws()
	if !d.eat(':') {
		return "", false, d.syntax(p, "expected ':' after a member name")
	}
	d.ws()
	return key, true, nil
}

// element steps through the array at d.pos like member: it reads the
// opening bracket or the comma before element i, and reports whether there
// is one.
func (d *decoder) element(p *path, i int) (bool, error) {
	if i == 0 {
		d.pos++ // [
		d.ws()
		return !d.eat(']'), nil
	}
	d.ws()
	if d.eat(']') {
		return false, nil
	}
	if !d.eat(',') {
		return false, d.syntax(p, "expected ',' or ']'")
	}
	d.ws()
	return true, nil
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
	n, perr := parseUint(num)
	if perr != nil || n < uint64(lo) || n > uint64(hi) {
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

// parseUint reads an unsigned decimal integer; strconv's own error would
// copy a number of any length.
func parseUint(s string) (uint64, error) {
	if len(s) > 20 {
		return 0, ErrSyntax
	}
	return strconv.ParseUint(s, 10, 64)
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
