package placement

import (
	"fmt"
	"slices"
	"strconv"
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
	b := make([]byte, 0, 256+len(m.cells)*96+m.overrides.len()*48)
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
		for i, e := range o.sorted() {
			b = append(b, sep(i)...)
			b = appendString(b, o.key[e])
			b = append(b, ": "...)
			b = appendString(b, m.cells[o.cell[e]].ID)
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
		}
		b = append(b, "\n ]"...)
	}
	return append(b, "\n}\n"...), nil
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
