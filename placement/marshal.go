package placement

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MarshalJSON writes the map's document in canonical form: fixed field order,
// cells by ID, table ranges by bucket, overrides by key, migrations by key
// then bucket, every default written out, one entry a line. Two equal maps
// marshal to the same bytes, and Parse reads them back into an equal map.
//
// A nil or zero Map has no document: MarshalJSON returns ErrNoMap.
func (m *Map) MarshalJSON() ([]byte, error) {
	if !m.ok() {
		return nil, ErrNoMap
	}
	w := canonWriter{buf: make([]byte, 0, m.canonicalSize())}
	m.writeCanonical(&w)
	return w.buf, nil
}

// canonical returns the canonical form as a string written once, without
// a copy, and points the override keys of m's index into it: a map built
// by a Builder keeps one text, its own, and no other document alive. m
// must not be shared yet: its index is written.
func (m *Map) canonical() string {
	x := &m.overrides
	if x.byKey == nil && x.len() > 0 {
		x.byKey = x.sorted() // sorted once, and kept for the next edit
	}
	var sb strings.Builder
	sb.Grow(m.canonicalSize())
	w := canonWriter{sb: &sb, buf: make([]byte, 0, 2*flushSize)}
	m.writeCanonical(&w)
	w.flush(0)
	raw := sb.String()
	// The overrides are written in key order from w.overrides on, each
	// entry as sep(i), the key quoted, ": " and the cell ID quoted (which
	// needs no escapes): the keys are found again without a table of
	// their places, which would cost 4 bytes an entry.
	at := w.overrides
	var scratch []byte
	for i, e := range x.sorted() {
		at += len(sep(i))
		k := x.key[e]
		n := len(k) + 2
		if end := at + 1 + len(k); end < len(raw) && raw[at+1:end] == k && raw[end] == '"' {
			x.key[e] = raw[at+1 : end] // written as it is
		} else {
			scratch = appendString(scratch[:0], k)
			n = len(scratch)
		}
		at += n + 2 + len(m.cells[x.cell[e]].ID) + 2
	}
	return raw
}

// canonicalSize is about the length of the canonical form, a little more
// when no string needs escapes.
func (m *Map) canonicalSize() int {
	// A little more than each part's text: the builder keeps what it
	// grows to, and growing past the estimate would copy it all.
	n := 256 + len(m.migs)*96
	if m.explicit {
		n += m.buckets / 8
	}
	for _, c := range m.cells {
		n += 64 + len(c.ID) + len(c.Zone) + 24 // the fields, the weight's digits
		if len(c.Endpoints) > 0 {
			n += 16
		}
		for _, e := range c.Endpoints {
			n += len(e.URL) + len(e.Zone) + 24
		}
		if len(c.Labels) > 0 {
			n += 16
		}
		for k, v := range c.Labels {
			n += len(k) + len(v) + 8
		}
	}
	x := &m.overrides
	for i, k := range x.key {
		n += len(k) + len(m.cells[x.cell[i]].ID) + 10 // ,\n  "k": "c"
	}
	for _, g := range m.migs {
		n += len(g.Key)
	}
	return n
}

// flushSize is how much a canonWriter holds before it writes to its
// strings.Builder.
const flushSize = 64 << 10

// canonWriter collects the canonical form: in buf alone, or, with sb, in
// sb, buf holding only the last bytes written.
type canonWriter struct {
	sb        *strings.Builder
	buf       []byte
	flushed   int // bytes written to sb
	overrides int // where the first override entry's separator starts
}

// flush moves buf to sb once it holds at least min bytes.
func (w *canonWriter) flush(min int) {
	if w.sb != nil && len(w.buf) >= min {
		w.sb.Write(w.buf)
		w.flushed += len(w.buf)
		w.buf = w.buf[:0]
	}
}

// writeCanonical writes the canonical form to w.
func (m *Map) writeCanonical(w *canonWriter) {
	b := w.buf
	b = fmt.Appendf(b, "{\n \"version\": %d,\n \"seed\": \"%#x\",\n \"buckets\": %d,\n \"shardSize\": %d,\n \"cells\": [",
		m.version, m.seed, m.buckets, m.shardSize)
	for i, c := range m.cells {
		b = append(b, sep(i)...)
		b = append(b, `{"id": `...)
		b = appendString(b, c.ID)
		b = append(b, `, "zone": `...)
		b = appendString(b, c.Zone)
		b = append(b, `, "weight": `...)
		b = strconv.AppendFloat(b, c.Weight, 'g', -1, 64)
		b = append(b, `, "state": "`...)
		b = append(b, c.State.String()...)
		b = append(b, '"')
		if len(c.Endpoints) > 0 {
			b = append(b, `, "endpoints": [`...)
			for j, e := range c.Endpoints {
				if j > 0 {
					b = append(b, ", "...)
				}
				b = append(b, `{"url": `...)
				b = appendString(b, e.URL)
				b = append(b, `, "zone": `...)
				b = appendString(b, e.Zone)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		if len(c.Labels) > 0 {
			b = append(b, `, "labels": {`...)
			for j, k := range sortedKeys(c.Labels) {
				if j > 0 {
					b = append(b, ", "...)
				}
				b = appendString(b, k)
				b = append(b, ": "...)
				b = appendString(b, c.Labels[k])
			}
			b = append(b, '}')
		}
		b = append(b, '}')
		w.buf = b
		w.flush(flushSize)
		b = w.buf
	}
	b = append(b, "\n ]"...)
	if m.explicit {
		b = append(b, ",\n \"table\": ["...)
		for i, r := range m.tableRanges() {
			b = append(b, sep(i)...)
			b = fmt.Appendf(b, `{"buckets": "%s", "cell": `, r.Range)
			b = appendString(b, r.Cell)
			b = append(b, '}')
		}
		b = append(b, "\n ]"...)
	}
	if o := &m.overrides; o.len() > 0 {
		b = append(b, ",\n \"overrides\": {"...)
		w.overrides = w.flushed + len(b)
		// Cell IDs need no escapes (their alphabet), and a table of them
		// stays in cache where the cells would not.
		ids := make([]string, len(m.cells))
		for i := range m.cells {
			ids[i] = m.cells[i].ID
		}
		for i, e := range o.sorted() {
			b = append(b, sep(i)...)
			b = appendString(b, o.key[e])
			b = append(b, `: "`...)
			b = append(b, ids[o.cell[e]]...)
			b = append(b, '"')
			if len(b) >= flushSize {
				w.buf = b
				w.flush(flushSize)
				b = w.buf
			}
		}
		b = append(b, "\n }"...)
	}
	if len(m.migs) > 0 {
		b = append(b, ",\n \"migrations\": ["...)
		for i, g := range m.migs {
			b = append(b, sep(i)...)
			if g.Key != "" {
				b = append(b, `{"key": `...)
				b = appendString(b, g.Key)
			} else {
				b = fmt.Appendf(b, `{"buckets": "%s"`, g.Buckets)
			}
			b = append(b, `, "from": `...)
			b = appendString(b, g.From)
			b = append(b, `, "to": `...)
			b = appendString(b, g.To)
			b = fmt.Appendf(b, `, "phase": "%s"}`, g.Phase)
			if len(b) >= flushSize {
				w.buf = b
				w.flush(flushSize)
				b = w.buf
			}
		}
		b = append(b, "\n ]"...)
	}
	w.buf = append(b, "\n}\n"...)
}

func sep(i int) string {
	if i == 0 {
		return "\n  "
	}
	return ",\n  "
}

// A TableRange is a run of buckets with one home cell.
type TableRange struct {
	Range Range
	Cell  string
}

// tableRanges returns the table as maximal runs of one cell.
func (m *Map) tableRanges() []TableRange {
	var out []TableRange
	for b := range m.buckets {
		o, _ := m.table.BucketOwner(b)
		id := m.cells[o].ID
		if n := len(out); n > 0 && out[n-1].Cell == id {
			out[n-1].Range.Hi = b
			continue
		}
		out = append(out, TableRange{Range{b, b}, id})
	}
	return out
}

// Table returns the bucket table as maximal runs of one home cell, whether
// explicit or derived; nil for no map.
func (m *Map) Table() []TableRange {
	if !m.ok() {
		return nil
	}
	return m.tableRanges()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendString writes s as a JSON string: quotes, backslashes and control
// characters escaped, and <, >, & and the line separators left alone; invalid
// UTF-8 becomes U+FFFD as encoding/json does.
func appendString(b []byte, s string) []byte {
	plain := true // printable ASCII but " and \: written as it is
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
