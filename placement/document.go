package placement

import (
	"fmt"
	"strconv"
	"strings"
)

// A document is a placement document as Go values: what decode reads from
// JSON and what a Builder edits, and the one input of build, so that Parse
// and the Builder apply the same rules. Defaults are filled in.
type document struct {
	version   uint64
	seed      uint64
	buckets   int
	shardSize int
	cells     []Cell       // in document order
	table     []TableRange // nil: derived; otherwise explicit (and possibly empty)
	overrides overrideList
	// baseOver, when not nil, holds the overrides instead of overrides:
	// those of baseOver's index, but for the keys of pins, each pinned to
	// its cell or, mapped to "", unpinned (a Builder's draft).
	baseOver   *Map
	pins       map[string]string
	migrations []Migration // key migrations have a non-empty Key
	text       string      // the JSON text, when decoded; the map keeps it as Bytes
}

// overrideList is the override table in document order: key i is pinned to
// the cell named names[cells[i]]. Overrides may number millions and name a
// few cells: keys of a decoded document are substrings of its text (no
// allocation a key), and each cell ID is kept once.
type overrideList struct {
	keys  []string
	cells []int32
	names []string
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

// ParseRange reads "lo-hi" or "b" (decimal, no sign, lo ≤ hi). Its errors
// are *FieldError values wrapping ErrTable.
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
		return Range{}, fieldErr(ErrTable, "buckets", s, "a bucket range is \"lo-hi\" or \"b\", in decimal")
	}
	b := a
	if isRange {
		if b, ok = num(hi); !ok || b < a {
			return Range{}, fieldErr(ErrTable, "buckets", s, "a bucket range is \"lo-hi\" with lo ≤ hi, in decimal")
		}
	}
	return Range{a, b}, nil
}
