package placement

import (
	"cmp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cellkit/cellkit/ring"
)

// build validates a document and builds its map. It is the one set of rules
// of the package: Parse runs it on what decode read, the Builder on its
// draft, so whatever one accepts the other accepts under the same limits.
// It does not modify d. prev, when not nil, is the map d replaces: build
// reuses its ring and table when their inputs are unchanged (see reuse).
func build(d *document, lim Limits, prev *Map) (*Map, error) {
	if d.version < 1 {
		return nil, &FieldError{Field: "version", Err: ErrVersion, Value: "0", Detail: "the version is an integer from 1 to 18446744073709551615"}
	}
	if err := checkBuckets(d.buckets); err != nil {
		return nil, err
	}
	if err := checkShardSize(d.shardSize, lim); err != nil {
		return nil, err
	}
	m := &Map{version: d.version, seed: d.seed, buckets: d.buckets, shardSize: d.shardSize}
	if err := m.buildCells(d.cells, lim, prev); err != nil {
		return nil, err
	}
	if eligible := m.ring.Eligible(); m.shardSize > eligible {
		return nil, fieldErr(ErrShardSize, "shardSize", strconv.Itoa(m.shardSize),
			"shardSize is at most the number of active cells with positive weight, %d", eligible)
	}
	if err := m.buildTable(d.table, lim, prev); err != nil {
		return nil, err
	}
	if err := m.buildOverridesOf(d, lim); err != nil {
		return nil, err
	}
	if err := m.buildMigrations(d.migrations, lim); err != nil {
		return nil, err
	}
	return m, nil
}

func checkBuckets(n int) error {
	if n < 1 || n > MaxBuckets {
		return fieldErr(ErrBuckets, "buckets", strconv.Itoa(n), "buckets is an integer from 1 to %d", MaxBuckets)
	}
	return nil
}

func checkShardSize(k int, lim Limits) error {
	switch {
	case k < 1:
		return fieldErr(ErrShardSize, "shardSize", strconv.Itoa(k), "shardSize is an integer of at least 1")
	case k > lim.MaxShardSize:
		return fieldErr(ErrLimit, "shardSize", strconv.Itoa(k), "shardSize %d is more than %d (Limits.MaxShardSize)", k, lim.MaxShardSize)
	}
	return nil
}

func (m *Map) buildCells(cells []Cell, lim Limits, prev *Map) error {
	if len(cells) > lim.MaxCells {
		return fieldErr(ErrLimit, "cells", "", "%d cells, more than %d (Limits.MaxCells)", len(cells), lim.MaxCells)
	}
	for i := range cells {
		if fe := checkCell(&cells[i], lim); fe != nil {
			fe.Field = "cells[" + strconv.Itoa(i) + "]" + fe.Field
			return fe
		}
	}
	m.cells = slices.Clone(cells)
	slices.SortFunc(m.cells, func(a, b Cell) int { return strings.Compare(a.ID, b.ID) })
	m.index = make(map[string]int32, len(m.cells))
	for i, c := range m.cells {
		if i > 0 && m.cells[i-1].ID == c.ID {
			return duplicateCell(cells)
		}
		m.index[c.ID] = int32(i)
	}
	members := m.members()
	if prev.ok() && sameMembers(prev.ring, members, true) {
		m.ring = prev.ring // immutable, and built from exactly these members
		return nil
	}
	r, err := ring.New(members)
	if err != nil {
		return fieldErr(ErrNoEligible, "cells", "", "placement needs at least one active cell with positive weight")
	}
	m.ring = r
	return nil
}

// sameMembers reports whether r's members are members, which are in ID
// order: their IDs and weights, and their zones when zones is set. The
// derived table of a ring reads only its members' IDs (in order: the table
// holds member indexes) and weights; shards read their zones too.
func sameMembers(r *ring.Ring, members []ring.Member, zones bool) bool {
	if r.Len() != len(members) {
		return false
	}
	for i, want := range members {
		got := r.Member(i)
		if got.ID != want.ID || got.Weight != want.Weight || zones && got.Zone != want.Zone {
			return false
		}
	}
	return true
}

// reusableTable returns prev's derived table when m's derived table would
// be the same: every input of the derivation (ring.NewTable) is equal. The
// seed is not one today (bucket b is ranked by ring.BucketHash(b)), but it
// is compared all the same, so that a derivation that came to read it could
// not silently reuse a table of another seed.
func (m *Map) reusableTable(prev *Map) *ring.Table {
	if !prev.ok() || prev.explicit || prev.buckets != m.buckets || prev.seed != m.seed {
		return nil
	}
	if prev.ring != m.ring && !sameMembers(prev.ring, m.members(), false) {
		return nil
	}
	return prev.table
}

// members returns the ring members of m's cells, in ID order: every cell,
// weighing its weight when active and 0 otherwise.
func (m *Map) members() []ring.Member {
	members := make([]ring.Member, len(m.cells))
	for i, c := range m.cells {
		members[i] = ring.Member{ID: c.ID, Zone: c.Zone}
		if c.State == Active {
			members[i].Weight = c.Weight
		}
	}
	return members
}

// duplicateCell reports the first cell, in document order, whose ID an
// earlier cell has, at its own index and naming the earlier one's.
func duplicateCell(cells []Cell) *FieldError {
	first := make(map[string]int, len(cells))
	for i, c := range cells {
		if j, dup := first[c.ID]; dup {
			return fieldErr(ErrDuplicateCell, "cells["+strconv.Itoa(i)+"].id", c.ID, "duplicate cell ID %s: cells[%d] has it already", quote(c.ID), j)
		}
		first[c.ID] = i
	}
	return nil
}

// checkCell applies the rules of one cell. The error's Field is relative:
// ".weight", ".endpoints[2].url".
func checkCell(c *Cell, lim Limits) *FieldError {
	if fe := checkCellID(c.ID); fe != nil {
		fe.Field = ".id"
		return fe
	}
	if fe := checkName(c.Zone); fe != nil {
		fe.Field = ".zone"
		return fe
	}
	if err := checkWeight(c.Weight); err != nil {
		return fieldErr(ErrWeight, ".weight", strconv.FormatFloat(c.Weight, 'g', -1, 64), "")
	}
	if c.State > Canary {
		return fieldErr(ErrState, ".state", c.State.String(), stateWant)
	}
	if len(c.Endpoints) > lim.MaxEndpoints {
		return fieldErr(ErrLimit, ".endpoints", "", "%d endpoints, more than %d (Limits.MaxEndpoints)", len(c.Endpoints), lim.MaxEndpoints)
	}
	for j, e := range c.Endpoints {
		at := ".endpoints[" + strconv.Itoa(j) + "]"
		if !utf8.ValidString(e.URL) {
			return fieldErr(ErrUTF8, at+".url", e.URL, "")
		}
		if detail := checkEndpoint(e.URL); detail != "" {
			return fieldErr(ErrEndpoint, at+".url", e.URL, "%s", detail)
		}
		if fe := checkName(e.Zone); fe != nil {
			fe.Field = at + ".zone"
			return fe
		}
	}
	size := 0
	for k, v := range c.Labels {
		if !utf8.ValidString(k) {
			return fieldErr(ErrUTF8, ".labels", k, "a label key is not valid UTF-8")
		}
		if fe := checkName(k); fe != nil {
			fe.Field = ".labels[" + quote(k) + "]"
			return fe
		}
		if !utf8.ValidString(v) {
			return fieldErr(ErrUTF8, ".labels["+quote(k)+"]", v, "")
		}
		size += len(k) + len(v)
	}
	if size > lim.MaxLabelBytes {
		return fieldErr(ErrLimit, ".labels", "", "%d bytes of labels, more than %d (Limits.MaxLabelBytes)", size, lim.MaxLabelBytes)
	}
	return nil
}

// checkName applies the rule of the names that group cells (zones, label
// keys): valid UTF-8, without leading or trailing Unicode White_Space, so
// that "z1" and "z1 " never become two zones. The error's Field is empty.
func checkName(s string) *FieldError {
	if !utf8.ValidString(s) {
		return fieldErr(ErrUTF8, "", s, "")
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if s != "" && (unicode.Is(unicode.White_Space, first) || unicode.Is(unicode.White_Space, last)) {
		return fieldErr(ErrSpace, "", s, "a zone or label key does not start or end with white space (a look-alike of another name)")
	}
	return nil
}

// MaxCellID is the length limit of a cell ID.
const MaxCellID = 63

// checkCellID applies the cell ID alphabet (see the package documentation):
// an ASCII letter or digit, then up to 62 letters, digits, '.', '_' or '-'.
func checkCellID(id string) *FieldError {
	const want = "a cell ID is 1 to 63 ASCII letters, digits, '.', '_' and '-', starting with a letter or digit"
	if !utf8.ValidString(id) {
		return fieldErr(ErrUTF8, "", id, "")
	}
	if id == "" || len(id) > MaxCellID {
		return fieldErr(ErrCellID, "", id, want)
	}
	if t := strings.TrimFunc(id, unicode.IsSpace); t != id && checkCellID(t) == nil {
		return fieldErr(ErrSpace, "", id, "a cell ID has no white space: %s, not %s", quote(t), quote(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return fieldErr(ErrCellID, "", id, want)
		}
	}
	return nil
}

// checkWeight applies the weight range: 0, or [MinWeight, MaxWeight].
func checkWeight(w float64) error {
	if w == 0 || (w >= MinWeight && w <= MaxWeight) {
		return nil
	}
	return ErrWeight
}

// checkEndpoint applies the endpoint rule, scheme://host[:port][/prefix],
// and says what is wrong, or returns "".
func checkEndpoint(s string) string {
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "http://"); !ok {
			return "an endpoint URL starts with http:// or https://, in lower case"
		}
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c <= ' ' || c >= 0x7f {
			return "an endpoint URL is printable ASCII (write international host names in punycode)"
		}
	}
	if strings.ContainsAny(rest, "?#") {
		return "an endpoint URL has no query and no fragment"
	}
	authority, prefix, _ := strings.Cut(rest, "/")
	if strings.Contains(authority, "@") {
		return "an endpoint URL has no user information"
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		end := strings.Index(authority, "]")
		if end < 0 {
			return "an endpoint URL's IPv6 address is closed by ']'"
		}
		host, port = authority[:end+1], authority[end+1:]
		if port != "" && port[0] != ':' {
			return "an endpoint URL's IPv6 address is followed by nothing or a port"
		}
	} else if i := strings.LastIndexByte(authority, ':'); i >= 0 {
		host, port = authority[:i], authority[i:]
	}
	if host == "" || host == "[]" {
		return "an endpoint URL names a host"
	}
	if !strings.HasPrefix(host, "[") {
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
				return "an endpoint URL's host is a name of letters, digits, '.', '-' and '_', or an IP address"
			}
		}
	} else {
		for i := 1; i < len(host)-1; i++ {
			c := host[i]
			if !('a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || '0' <= c && c <= '9' || c == ':' || c == '.') {
				return "an endpoint URL's IPv6 address is hex digits, ':' and '.'"
			}
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port[1:])
		if err != nil || n < 1 || n > 65535 || port[1] == '+' || port[1] == '-' {
			return "an endpoint URL's port is a number from 1 to 65535"
		}
	}
	if prefix != "" || strings.HasSuffix(rest, "/") {
		if prefix == "" || strings.HasSuffix(prefix, "/") {
			return "an endpoint URL's path prefix does not end in '/' (write https://host, not https://host/)"
		}
		for seg := range strings.SplitSeq(prefix, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return "an endpoint URL's path prefix has no empty, '.' or '..' segments"
			}
		}
		for i := 0; i < len(prefix); i++ {
			c := prefix[i]
			if c == '%' && (i+2 >= len(prefix) || !isHex(prefix[i+1]) || !isHex(prefix[i+2])) {
				return "an endpoint URL's path prefix has '%' only before two hex digits"
			}
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("/-._~!$&'()*+,;=:@%", c) >= 0) {
				return "an endpoint URL's path prefix is letters, digits, '/' and -._~!$&'()*+,;=:@%"
			}
		}
	}
	return ""
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// checkKey applies the rules of an override or migration key: not empty, at
// most Limits.MaxKeyBytes, valid UTF-8. The error's Field is empty.
func checkKey(key string, lim Limits) *FieldError {
	switch {
	case key == "":
		return fieldErr(ErrKey, "", "", "a key is not empty")
	case len(key) > lim.MaxKeyBytes:
		return fieldErr(ErrLimit, "", key, "key of %d bytes, more than %d (Limits.MaxKeyBytes)", len(key), lim.MaxKeyBytes)
	case !utf8.ValidString(key):
		return fieldErr(ErrUTF8, "", key, "")
	}
	return nil
}

// cellRef resolves a cell ID named at field.
func (m *Map) cellRef(field, id string) (int32, *FieldError) {
	i, ok := m.index[id]
	if !ok {
		return 0, fieldErr(ErrUnknownCell, field, id, "cell %s is not defined", quote(id))
	}
	return i, nil
}

func (m *Map) buildTable(rs []TableRange, lim Limits, prev *Map) error {
	if rs == nil {
		// The limit applies to a table reused too: ParseNext accepts what
		// ParseSigned accepts.
		if work := m.buckets * m.ring.Eligible(); work > lim.MaxTableWork {
			return fieldErr(ErrLimit, "buckets", strconv.Itoa(m.buckets),
				"deriving %d buckets over %d active cells exceeds the table work limit %d (Limits.MaxTableWork): use an explicit table or fewer buckets",
				m.buckets, m.ring.Eligible(), lim.MaxTableWork)
		}
		if t := m.reusableTable(prev); t != nil {
			if t.Ring() != m.ring {
				// Same owners, other zones: the table's ring is the map's.
				var err error
				if t, err = ring.NewTableOwners(m.ring, t.Owners()); err != nil {
					return fieldErr(ErrTable, "table", "", "%v", err)
				}
			}
			m.table = t
			return nil
		}
		t, err := ring.NewTable(m.ring, m.buckets)
		if err != nil {
			return fieldErr(ErrBuckets, "buckets", strconv.Itoa(m.buckets), "%v", err)
		}
		m.table = t
		return nil
	}
	if len(rs) > m.buckets {
		return fieldErr(ErrTable, "table", "", "%d ranges for %d buckets", len(rs), m.buckets)
	}
	type entry struct {
		r    Range
		cell int32
		at   int
	}
	entries := make([]entry, len(rs))
	for i, w := range rs {
		at := "table[" + strconv.Itoa(i) + "]"
		if w.Range.Lo < 0 || w.Range.Hi < w.Range.Lo {
			return fieldErr(ErrTable, at+".buckets", w.Range.String(), "a bucket range is \"lo-hi\" with lo ≤ hi")
		}
		if w.Range.Hi >= m.buckets {
			return fieldErr(ErrTable, at+".buckets", w.Range.String(), "range beyond the last bucket %d", m.buckets-1)
		}
		c, fe := m.cellRef(at+".cell", w.Cell)
		if fe != nil {
			return fe
		}
		if m.cells[c].State == Canary {
			return fieldErr(ErrCellUse, at+".cell", w.Cell, "canary cells are reached only through overrides, not the table")
		}
		entries[i] = entry{w.Range, c, i}
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.r.Lo, b.r.Lo) })
	owners := make([]int, m.buckets)
	next := 0
	for _, e := range entries {
		at := "table[" + strconv.Itoa(e.at) + "].buckets"
		switch {
		case e.r.Lo < next:
			return fieldErr(ErrTable, at, e.r.String(), "range overlaps an earlier one ending at %d", next-1)
		case e.r.Lo > next:
			return fieldErr(ErrTable, at, e.r.String(), "gap: buckets %s have no cell", Range{next, e.r.Lo - 1})
		}
		for b := e.r.Lo; b <= e.r.Hi; b++ {
			owners[b] = int(e.cell)
		}
		next = e.r.Hi + 1
	}
	if next != m.buckets {
		return fieldErr(ErrTable, "table", "", "gap: buckets %s have no cell", Range{next, m.buckets - 1})
	}
	t, err := ring.NewTableOwners(m.ring, owners)
	if err != nil {
		return fieldErr(ErrTable, "table", "", "%v", err)
	}
	m.table, m.explicit = t, true
	return nil
}

// overrideField names the override of key.
func overrideField(key string) string { return "overrides[" + quote(key) + "]" }

// buildOverridesOf indexes the document's overrides: those it lists, or
// those of a base map's index edited by pins, merged into that index when
// the seed and bucket count, which order it, are the base's.
func (m *Map) buildOverridesOf(d *document, lim Limits) error {
	base := d.baseOver
	if base == nil {
		return m.buildOverrides(&d.overrides, lim)
	}
	if base.seed == m.seed && base.buckets == m.buckets {
		return m.mergeOverrides(base, d.pins, lim)
	}
	// Another order: list them all and index them afresh.
	o := overrideList{names: make([]string, len(base.cells))}
	for i, c := range base.cells {
		o.names[i] = c.ID
	}
	for i, k := range base.overrides.key {
		if _, edited := d.pins[k]; !edited {
			o.keys = append(o.keys, k)
			o.cells = append(o.cells, base.overrides.cell[i])
		}
	}
	names := map[string]int32{}
	for k, c := range d.pins {
		if c == "" {
			continue
		}
		j, ok := names[c]
		if !ok {
			j = int32(len(o.names))
			names[c] = j
			o.names = append(o.names, c)
		}
		o.keys = append(o.keys, k)
		o.cells = append(o.cells, j)
	}
	return m.buildOverrides(&o, lim)
}

// mergeOverrides indexes the overrides of base's index edited by pins (key
// → cell, or "" to unpin), for a map of base's seed and bucket count: the
// edits, checked with Parse's rules, are sorted and merged into a copy of
// base's entries, which are in the same order and were checked when base
// was built, but for the Limits, checked here again. Runs of buckets
// without edits are copied whole, and the key order of base (byKey), when
// known, is merged likewise, so that nothing is sorted but the edits.
func (m *Map) mergeOverrides(base *Map, pins map[string]string, lim Limits) error {
	bx := &base.overrides
	// Base cell index → m's.
	ref := make([]int32, len(base.cells))
	identity := len(base.cells) == len(m.cells)
	for i, c := range base.cells {
		j, ok := m.index[c.ID]
		if !ok {
			j = -1
		}
		ref[i] = j
		identity = identity && j == int32(i)
	}
	type edit struct {
		b    int
		h    uint64
		key  string
		cell int32 // −1: unpin
	}
	edits := make([]edit, 0, len(pins))
	for k := range pins {
		e := edit{key: k, cell: -1}
		e.b, e.h = m.bucketOf(k)
		edits = append(edits, e)
	}
	slices.SortFunc(edits, func(x, y edit) int {
		if x.b != y.b {
			return cmp.Compare(x.b, y.b)
		}
		return compareEntries(x.h, x.key, y.h, y.key)
	})
	// Checked in the index's order, so that of two bad edits the same one
	// is reported every time.
	for i := range edits {
		e := &edits[i]
		if fe := checkKey(e.key, lim); fe != nil {
			fe.Field = overrideField(e.key)
			return fe
		}
		if c := pins[e.key]; c != "" {
			j, fe := m.cellRef(overrideField(e.key), c)
			if fe != nil {
				return fe
			}
			e.cell = j
		}
	}
	for i, k := range bx.key {
		if len(k) > lim.MaxKeyBytes {
			return fieldErr(ErrLimit, overrideField(k), k, "key of %d bytes, more than %d (Limits.MaxKeyBytes)", len(k), lim.MaxKeyBytes)
		}
		if ref[bx.cell[i]] >= 0 {
			continue
		}
		if _, edited := pins[k]; !edited {
			_, fe := m.cellRef(overrideField(k), base.cells[bx.cell[i]].ID)
			return fe
		}
	}

	// Where each edit goes: its position in base, and whether it replaces
	// the entry there.
	n := bx.len()
	at := make([]int, len(edits))
	found := make([]bool, len(edits))
	size := n
	for i, e := range edits {
		if bx.off == nil {
			continue
		}
		lo, hi := int(bx.off[e.b]), int(bx.off[e.b+1])
		j := lo + sort.Search(hi-lo, func(j int) bool {
			return compareEntries(bx.hash[lo+j], bx.key[lo+j], e.h, e.key) >= 0
		})
		at[i] = j
		found[i] = j < hi && bx.hash[j] == e.h && bx.key[j] == e.key
		switch {
		case found[i] && e.cell < 0:
			size--
		case !found[i] && e.cell >= 0:
			size++
		}
	}
	if size > lim.MaxOverrides {
		return fieldErr(ErrLimit, "overrides", "", "%d overrides, more than %d (Limits.MaxOverrides)", size, lim.MaxOverrides)
	}
	if size == 0 {
		m.overrides = keyIndex{}
		return nil
	}
	x := keyIndex{off: make([]uint32, m.buckets+1), hash: make([]uint64, size), key: make([]string, size), cell: make([]int32, size)}
	copyRun := func(from, to, dst int) {
		copy(x.hash[dst:], bx.hash[from:to])
		copy(x.key[dst:], bx.key[from:to])
		if identity {
			copy(x.cell[dst:], bx.cell[from:to])
		} else {
			for p := from; p < to; p++ {
				x.cell[dst+p-from] = ref[bx.cell[p]]
			}
		}
	}
	src, dst := 0, 0
	pos := make([]int32, len(edits)) // new position of each edit pinned
	for i, e := range edits {
		j := at[i]
		if bx.off == nil {
			j = 0
		}
		copyRun(src, j, dst)
		dst += j - src
		src = j
		if found[i] {
			src++ // replaced or unpinned
		}
		if e.cell >= 0 {
			x.hash[dst], x.key[dst], x.cell[dst] = e.h, e.key, e.cell
			pos[i] = int32(dst)
			dst++
		}
	}
	copyRun(src, n, dst)
	// Bucket offsets: base's, shifted by the edits before each bucket.
	shift, k := 0, 0
	for b := 0; b <= m.buckets; b++ {
		for k < len(edits) && edits[k].b < b {
			switch e := edits[k]; {
			case found[k] && e.cell < 0:
				shift--
			case !found[k] && e.cell >= 0:
				shift++
			}
			k++
		}
		base := 0
		if bx.off != nil {
			base = int(bx.off[b])
		}
		x.off[b] = uint32(base + shift)
	}
	if bx.byKey != nil {
		// The new position of base entry p: p shifted by the edits before
		// it (in index order), or −1 for an entry an edit replaced or
		// unpinned. The edits are few; a table of every entry's would
		// cost 4 bytes an entry.
		shifts := make([]int, len(edits)+1) // shifts[i]: of the edits before i
		for i, e := range edits {
			d := 0
			switch {
			case found[i] && e.cell < 0:
				d = -1
			case !found[i] && e.cell >= 0:
				d = 1
			}
			shifts[i+1] = shifts[i] + d
		}
		moved := func(p int32) int32 {
			i := sort.Search(len(edits), func(i int) bool { return at[i] > int(p) || at[i] == int(p) && found[i] })
			if i < len(edits) && at[i] == int(p) && found[i] {
				return -1
			}
			return p + int32(shifts[i])
		}
		// The key order: base's, without the entries edited, with the
		// keys pinned by the edits inserted where they sort.
		var adds []int
		for i, e := range edits {
			if e.cell >= 0 {
				adds = append(adds, i)
			}
		}
		slices.SortFunc(adds, func(a, b int) int { return strings.Compare(edits[a].key, edits[b].key) })
		order := make([]int32, 0, size)
		from := 0
		for _, i := range adds {
			key := edits[i].key
			to := from + sort.Search(n-from, func(j int) bool { return bx.key[bx.byKey[from+j]] >= key })
			for _, p := range bx.byKey[from:to] {
				if q := moved(p); q >= 0 {
					order = append(order, q)
				}
			}
			order = append(order, pos[i])
			from = to
		}
		for _, p := range bx.byKey[from:] {
			if q := moved(p); q >= 0 {
				order = append(order, q)
			}
		}
		x.byKey = order
	}
	m.overrides = x
	return nil
}

// buildOverrides indexes the override table. An override may name any cell
// defined in the document, whatever its state: pinning a key to a disabled
// cell makes it fail fast (a suspended tenant), and disabling a cell keeps
// the keys pinned to it where their data is.
func (m *Map) buildOverrides(o *overrideList, lim Limits) error {
	if len(o.keys) == 0 {
		return nil
	}
	if len(o.keys) > lim.MaxOverrides {
		return fieldErr(ErrLimit, "overrides", "", "%d overrides, more than %d (Limits.MaxOverrides)", len(o.keys), lim.MaxOverrides)
	}
	ref := make([]int32, len(o.names))
	for j, name := range o.names {
		c, ok := m.index[name]
		if !ok {
			i := slices.Index(o.cells, int32(j))
			_, fe := m.cellRef(overrideField(o.keys[i]), name)
			return fe
		}
		ref[j] = c
	}
	for _, key := range o.keys {
		if fe := checkKey(key, lim); fe != nil {
			fe.Field = overrideField(key)
			return fe
		}
	}
	x, dup := newKeyIndex(o.keys, o.cells, ref, m.seed, m.table)
	if dup >= 0 {
		return fieldErr(ErrDuplicateKey, overrideField(o.keys[dup]), "", "")
	}
	m.overrides = x
	return nil
}

// bucketOf returns a key's bucket and hash.
func (m *Map) bucketOf(key string) (int, uint64) {
	h := ring.Hash(m.seed, key)
	return m.table.Bucket(h), h
}

// checkMigration applies the rules of one migration on its own, against the
// map's cells and table: a key or a range of an explicit table, defined
// cells that differ and are not canaries, a phase, and a from cell that owns
// every bucket of the range in the table. The error's Field is relative:
// ".to". Conflicts between entries are build's to find.
func (m *Map) checkMigration(g *Migration, lim Limits) *FieldError {
	if g.Key != "" {
		if fe := checkKey(g.Key, lim); fe != nil {
			fe.Field = ".key"
			return fe
		}
	} else {
		switch r := g.Buckets; {
		case !m.explicit:
			return fieldErr(ErrMigration, ".buckets", r.String(), "bucket migrations need an explicit table")
		case r.Lo < 0 || r.Hi < r.Lo:
			return fieldErr(ErrMigration, ".buckets", r.String(), "a bucket range is \"lo-hi\" with lo ≤ hi")
		case r.Hi >= m.buckets:
			return fieldErr(ErrMigration, ".buckets", r.String(), "range beyond the last bucket %d", m.buckets-1)
		}
	}
	from, fe := m.cellRef(".from", g.From)
	if fe != nil {
		return fe
	}
	to, fe := m.cellRef(".to", g.To)
	if fe != nil {
		return fe
	}
	if from == to {
		return fieldErr(ErrMigration, ".to", g.To, "a migration moves to another cell")
	}
	for _, c := range [2]int32{from, to} {
		if m.cells[c].State == Canary {
			return fieldErr(ErrCellUse, "", m.cells[c].ID, "canary cells are reached only through overrides, not migrations")
		}
	}
	if g.Phase > Flipped {
		return fieldErr(ErrMigration, ".phase", g.Phase.String(), "a phase is copying, frozen or flipped")
	}
	if g.Key == "" {
		for b := g.Buckets.Lo; b <= g.Buckets.Hi; b++ {
			if o, _ := m.table.BucketOwner(b); o != int(from) {
				return fieldErr(ErrMigration, ".from", g.From, "bucket %d belongs to %q in the table", b, m.cells[o].ID)
			}
		}
	}
	return nil
}

func (m *Map) buildMigrations(ws []Migration, lim Limits) error {
	if len(ws) == 0 {
		return nil
	}
	if len(ws) > lim.MaxMigrations {
		return fieldErr(ErrLimit, "migrations", "", "%d migrations, more than %d (Limits.MaxMigrations)", len(ws), lim.MaxMigrations)
	}
	at := func(i int) string { return "migrations[" + strconv.Itoa(i) + "]" }
	for i := range ws {
		if fe := m.checkMigration(&ws[i], lim); fe != nil {
			fe.Field = at(i) + fe.Field
			return fe
		}
	}
	// The canonical order, remembering document positions for errors.
	order := make([]int32, len(ws))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return compareMigrations(ws[a], ws[b]) })
	m.migs = make([]Migration, len(ws))
	for i, o := range order {
		m.migs[i] = ws[o]
	}
	// Bucket migrations first: a key's home without its own migration may
	// be its bucket's.
	for i, o := range order {
		g := &ws[o]
		if g.Key != "" {
			continue
		}
		if m.bucketMig == nil {
			m.bucketMig = make([]int32, m.buckets)
			for b := range m.bucketMig {
				m.bucketMig[b] = -1
			}
		}
		for b := g.Buckets.Lo; b <= g.Buckets.Hi; b++ {
			if m.bucketMig[b] >= 0 {
				return fieldErr(ErrConflict, at(int(o))+".buckets", g.Buckets.String(), "bucket %d is in two migrations", b)
			}
			m.bucketMig[b] = int32(i)
		}
	}
	for i, o := range order {
		g := &ws[o]
		if g.Key == "" {
			break // keys come first
		}
		if m.keyMig == nil {
			m.keyMig = make(map[string]int32)
		}
		if _, dup := m.keyMig[g.Key]; dup {
			return fieldErr(ErrConflict, at(int(o))+".key", g.Key, "key has two migrations")
		}
		if fe := m.checkKeyFrom(g); fe != nil {
			fe.Field = at(int(o)) + fe.Field
			return fe
		}
		m.keyMig[g.Key] = int32(i)
	}
	return nil
}

// checkKeyFrom applies the rule that keeps a key on its data: a key
// migration's From is the cell where the key lives without the migration
// (settled: its override, else its bucket's migration, else its table
// cell). A migration from another cell would send the key's reads to a
// cell that holds none of its data. The error's Field is relative.
func (m *Map) checkKeyFrom(g *Migration) *FieldError {
	h := ring.Hash(m.seed, g.Key)
	home, why := m.settled(g.Key, h, m.table.Bucket(h))
	if id := m.cells[home].ID; id != g.From {
		by := "its table bucket"
		switch {
		case why == placeOverride:
			by = "its override"
		case why >= 0:
			by = "its bucket's migration"
		}
		return fieldErr(ErrMigration, ".from", g.From,
			"key %s lives on %q (%s), not on %q: a key migration starts from the cell that holds the key's data", quote(g.Key), id, by, g.From)
	}
	return nil
}

// compareMigrations orders key migrations by key, then bucket migrations by
// range: the canonical order.
func compareMigrations(a, b Migration) int {
	switch {
	case (a.Key == "") != (b.Key == ""):
		if a.Key != "" {
			return -1
		}
		return 1
	case a.Key != "":
		return strings.Compare(a.Key, b.Key)
	}
	return cmp.Compare(a.Buckets.Lo, b.Buckets.Lo)
}
