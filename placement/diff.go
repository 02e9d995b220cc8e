package placement

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Changes is what changes from one map to the next: what a control plane
// shows in a dry run before it publishes a version. Diff fills it in; a
// Changes is read-only and safe for concurrent use.
type Changes struct {
	From, To uint64 // the versions of the two maps; 0 for a missing map

	// SeedChanged and BucketsChanged mean that keys fall into other
	// buckets, so any key may change home whatever the tables say;
	// HomeShare accounts for it. ShardSizeChanged changes shards, not
	// homes. ExplicitChanged means the table went from derived to explicit
	// or back.
	SeedChanged, BucketsChanged, ShardSizeChanged, ExplicitChanged bool

	Added, Removed []string     // IDs of the cells only in the new, only in the old map; sorted
	Changed        []CellChange // cells in both maps that differ, by ID

	// Moves are the buckets whose table cell differs, one entry per (from,
	// to) pair of cells, sorted by From then To. They compare the tables
	// bucket by bucket, before overrides and migrations. They are empty when
	// a map is missing or the bucket counts differ (bucket b is then not the
	// same bucket). Under a changed seed a bucket holds other keys: see
	// HomeShare.
	Moves        []BucketMove
	MovedBuckets int // the sum of the Moves' counts

	// Override keys pinned only in the new map, only in the old map, and to
	// another cell; sorted.
	OverridesAdded, OverridesRemoved, OverridesChanged []string

	// Migrations matched by subject (the key, or the exact bucket range):
	// only in the new map, only in the old map, and with another from, to
	// or phase; in the canonical order of Map.Migrations.
	MigrationsAdded, MigrationsRemoved []Migration
	MigrationsChanged                  []MigrationChange

	// HomeShare is the fraction of the key space whose home (Locate's
	// Assignment.Cell) changes: the probability that a random key has
	// another home in the new map. It follows the tables and the bucket
	// migrations, whose flip moves a bucket's keys; it leaves out overrides
	// and key migrations, which pin finitely many keys, a set of measure
	// zero (ask Moved about particular keys).
	//
	// With the same seed it is exact for uniform hashes: with the same
	// bucket count it is the share of buckets whose home changed; with
	// counts Ba and Bb a key falls in buckets h mod Ba and h mod Bb, and
	// HomeShare weighs the pairs of buckets that occur together. With
	// another seed a key's two buckets are independent, and HomeShare is
	// 1 − Σ shareA(c)·shareB(c) over the cells of both maps, share being the
	// fraction of buckets homed on the cell: the expected share for random
	// keys. It is 1 when exactly one map is missing.
	HomeShare float64

	a, b *Map // for Moved and String
}

// A CellChange is a cell present in both maps with other properties.
type CellChange struct {
	ID string
	// Fields names what changed, in this order: "zone", "weight", "state",
	// "endpoints" (compared in order), "labels".
	Fields   []string
	Old, New Cell // copies
}

// A BucketMove is the set of buckets that go from one cell to another in
// the table.
type BucketMove struct {
	From, To string
	Count    int
	Ranges   []Range // maximal runs, in bucket order
}

// A MigrationChange is a migration present in both maps, with the same
// subject, that changed phase or cells.
type MigrationChange struct {
	Old, New Migration
}

// A KeyMove is a key whose home cell changes. From or To is empty when that
// side has no map.
type KeyMove struct {
	Key, From, To string
}

// Diff reports what changes from map a to map b. A nil map (or a zero Map)
// stands for no map: Diff(nil, b) lists every cell, override and migration
// of b as added, with a HomeShare of 1, Diff(a, nil) lists a's as removed,
// and Diff(nil, nil) is empty. Versions are reported but not compared: two
// versions of the same document give an empty diff.
//
// Diff reads the maps and never changes them. It costs O(B + cells +
// overrides + migrations), plus sorting the changed override keys.
func Diff(a, b *Map) Changes {
	if a != nil && a.table == nil {
		a = nil
	}
	if b != nil && b.table == nil {
		b = nil
	}
	c := Changes{a: a, b: b}
	if a != nil {
		c.From = a.version
	}
	if b != nil {
		c.To = b.version
	}
	if a == b {
		return c
	}
	x, y := a, b // the maps to compare, an empty one for a missing map
	switch {
	case a == nil:
		x, c.HomeShare = &Map{}, 1
	case b == nil:
		y, c.HomeShare = &Map{}, 1
	default:
		c.SeedChanged = a.seed != b.seed
		c.BucketsChanged = a.buckets != b.buckets
		c.ShardSizeChanged = a.shardSize != b.shardSize
		c.ExplicitChanged = a.explicit != b.explicit
	}
	remap := c.diffCells(x, y)
	if a != nil && b != nil {
		if !c.BucketsChanged {
			c.diffBuckets(a, b, remap)
		}
		c.HomeShare = homeShare(a, b, remap)
	}
	c.diffOverrides(x, y, remap)
	c.diffMigrations(x, y)
	return c
}

// diffCells compares the cells and returns, for each cell index of a, the
// index of the same cell in b, or −1.
func (c *Changes) diffCells(a, b *Map) []int32 {
	remap := make([]int32, len(a.cells))
	i, j := 0, 0
	for i < len(a.cells) || j < len(b.cells) {
		switch {
		case j == len(b.cells) || i < len(a.cells) && a.cells[i].ID < b.cells[j].ID:
			remap[i] = -1
			c.Removed = append(c.Removed, a.cells[i].ID)
			i++
		case i == len(a.cells) || b.cells[j].ID < a.cells[i].ID:
			c.Added = append(c.Added, b.cells[j].ID)
			j++
		default:
			remap[i] = int32(j)
			if f := changedFields(a.cells[i], b.cells[j]); f != nil {
				c.Changed = append(c.Changed, CellChange{ID: a.cells[i].ID, Fields: f, Old: a.cells[i].clone(), New: b.cells[j].clone()})
			}
			i++
			j++
		}
	}
	return remap
}

func changedFields(x, y Cell) []string {
	var f []string
	if x.Zone != y.Zone {
		f = append(f, "zone")
	}
	if x.Weight != y.Weight {
		f = append(f, "weight")
	}
	if x.State != y.State {
		f = append(f, "state")
	}
	if !slices.Equal(x.Endpoints, y.Endpoints) {
		f = append(f, "endpoints")
	}
	if !maps.Equal(x.Labels, y.Labels) {
		f = append(f, "labels")
	}
	return f
}

// diffBuckets compares two tables of the same size bucket by bucket.
func (c *Changes) diffBuckets(a, b *Map, remap []int32) {
	var pairs map[uint64]int // (from, to) → index in c.Moves
	last := -1               // the move of the previous bucket, or −1
	var lastPair uint64
	for bk := range a.buckets {
		from, _ := a.table.BucketOwner(bk)
		to, _ := b.table.BucketOwner(bk)
		if remap[from] == int32(to) {
			last = -1
			continue
		}
		c.MovedBuckets++
		pair := uint64(from)<<32 | uint64(to)
		if last >= 0 && pair == lastPair {
			mv := &c.Moves[last]
			mv.Count++
			mv.Ranges[len(mv.Ranges)-1].Hi = bk
			continue
		}
		i, ok := pairs[pair]
		if !ok {
			if pairs == nil {
				pairs = make(map[uint64]int)
			}
			i = len(c.Moves)
			pairs[pair] = i
			c.Moves = append(c.Moves, BucketMove{From: a.cells[from].ID, To: b.cells[to].ID})
		}
		mv := &c.Moves[i]
		mv.Count++
		mv.Ranges = append(mv.Ranges, Range{bk, bk})
		last, lastPair = i, pair
	}
	slices.SortFunc(c.Moves, func(x, y BucketMove) int {
		return cmp.Or(strings.Compare(x.From, y.From), strings.Compare(x.To, y.To))
	})
}

// bucketHome returns the home of the keys of bucket b: its table cell, or
// the target of a flipped bucket migration.
func (m *Map) bucketHome(b int) int32 {
	if m.bucketMig != nil {
		if g := m.bucketMig[b]; g >= 0 && m.migs[g].Phase == Flipped {
			return m.index[m.migs[g].To]
		}
	}
	o, _ := m.table.BucketOwner(b)
	return int32(o)
}

// homeShare returns Changes.HomeShare for two maps.
func homeShare(a, b *Map, remap []int32) float64 {
	na, nb := a.buckets, b.buckets
	if a.seed != b.seed {
		ca, cb := homeCounts(a), homeCounts(b)
		var same int64
		for i, n := range ca {
			if j := remap[i]; j >= 0 {
				same += n * cb[j]
			}
		}
		return 1 - float64(same)/(float64(na)*float64(nb))
	}
	if na == nb {
		moved := 0
		for bk := range na {
			if remap[a.bucketHome(bk)] != b.bucketHome(bk) {
				moved++
			}
		}
		return float64(moved) / float64(na)
	}
	// h mod na = x and h mod nb = y together exactly when x ≡ y (mod g),
	// and each such pair holds 1/lcm of the hashes. Count, per residue r,
	// the pairs of buckets ≡ r with the same home.
	g := gcd(na, nb)
	tally := make([]int64, len(b.cells)) // a's buckets ≡ r homed on each cell of b
	var same int64
	for r := range g {
		for x := r; x < na; x += g {
			if t := remap[a.bucketHome(x)]; t >= 0 {
				tally[t]++
			}
		}
		for y := r; y < nb; y += g {
			same += tally[b.bucketHome(y)]
		}
		for x := r; x < na; x += g {
			if t := remap[a.bucketHome(x)]; t >= 0 {
				tally[t] = 0
			}
		}
	}
	return 1 - float64(same)*float64(g)/(float64(na)*float64(nb))
}

// homeCounts returns how many buckets are homed on each cell.
func homeCounts(m *Map) []int64 {
	n := make([]int64, len(m.cells))
	for b := range m.buckets {
		n[m.bucketHome(b)]++
	}
	return n
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (c *Changes) diffOverrides(a, b *Map, remap []int32) {
	oa, ob := &a.overrides, &b.overrides
	change := func(key string, ca, cb int32) {
		if remap[ca] != cb {
			c.OverridesChanged = append(c.OverridesChanged, key)
		}
	}
	if a.seed == b.seed && a.buckets == b.buckets && oa.len() > 0 && ob.len() > 0 {
		// Both indexes sort by bucket, hash and key: merge them.
		compare := func(i, j int) int { return compareEntries(oa.hash[i], oa.key[i], ob.hash[j], ob.key[j]) }
		removed := func(i int) { c.OverridesRemoved = append(c.OverridesRemoved, oa.key[i]) }
		added := func(j int) { c.OverridesAdded = append(c.OverridesAdded, ob.key[j]) }
		both := func(i, j int) { change(oa.key[i], oa.cell[i], ob.cell[j]) }
		for bucket := range a.buckets {
			mergeSorted(int(oa.off[bucket]), int(oa.off[bucket+1]), int(ob.off[bucket]), int(ob.off[bucket+1]),
				compare, removed, added, both)
		}
	} else {
		for i, k := range oa.key {
			if ob.off != nil {
				bb, h := b.bucketOf(k)
				if cb, ok := ob.find(bb, h, k); ok {
					change(k, oa.cell[i], cb)
					continue
				}
			}
			c.OverridesRemoved = append(c.OverridesRemoved, k)
		}
		for _, k := range ob.key {
			if _, ok := a.Override(k); !ok {
				c.OverridesAdded = append(c.OverridesAdded, k)
			}
		}
	}
	slices.Sort(c.OverridesAdded)
	slices.Sort(c.OverridesRemoved)
	slices.Sort(c.OverridesChanged)
}

// diffMigrations merges the two canonical lists of migrations.
func (c *Changes) diffMigrations(a, b *Map) {
	mergeSorted(0, len(a.migs), 0, len(b.migs),
		func(i, j int) int {
			return cmp.Or(compareMigrations(a.migs[i], b.migs[j]), cmp.Compare(a.migs[i].Buckets.Hi, b.migs[j].Buckets.Hi))
		},
		func(i int) { c.MigrationsRemoved = append(c.MigrationsRemoved, a.migs[i]) },
		func(j int) { c.MigrationsAdded = append(c.MigrationsAdded, b.migs[j]) },
		func(i, j int) {
			if a.migs[i] != b.migs[j] {
				c.MigrationsChanged = append(c.MigrationsChanged, MigrationChange{a.migs[i], b.migs[j]})
			}
		})
}

// mergeSorted walks two sorted runs, a[i:iEnd] and b[j:jEnd], in step:
// onlyA and onlyB see the entries of one run only, both the pairs that
// compare equal.
func mergeSorted(i, iEnd, j, jEnd int, compare func(i, j int) int, onlyA, onlyB func(int), both func(i, j int)) {
	for i < iEnd || j < jEnd {
		d := -1
		switch {
		case i == iEnd:
			d = 1
		case j < jEnd:
			d = compare(i, j)
		}
		switch {
		case d < 0:
			onlyA(i)
			i++
		case d > 0:
			onlyB(j)
			j++
		default:
			both(i, j)
			i, j = i+1, j+1
		}
	}
}

// Empty reports whether the two maps place every key alike and describe the
// same cells: whether their documents differ in nothing but the version.
func (c Changes) Empty() bool {
	return !c.SeedChanged && !c.BucketsChanged && !c.ShardSizeChanged && !c.ExplicitChanged &&
		len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Changed) == 0 && len(c.Moves) == 0 &&
		len(c.OverridesAdded) == 0 && len(c.OverridesRemoved) == 0 && len(c.OverridesChanged) == 0 &&
		len(c.MigrationsAdded) == 0 && len(c.MigrationsRemoved) == 0 && len(c.MigrationsChanged) == 0 &&
		c.HomeShare == 0
}

// Moved returns the keys, in the order given, whose home cell differs
// between the two maps, with full Locate semantics: override, then
// migration, then table. A key homed on a disabled cell still has that cell
// as its home. It costs two lookups a key and allocates only the result.
func (c Changes) Moved(keys []string) []KeyMove {
	if c.a == c.b {
		return nil
	}
	var out []KeyMove
	for _, k := range keys {
		from, to := homeOf(c.a, k), homeOf(c.b, k)
		if from != to {
			out = append(out, KeyMove{Key: k, From: from, To: to})
		}
	}
	return out
}

// homeOf returns the home cell of key in m, disabled or not; "" for no map.
func homeOf(m *Map, key string) string {
	if m == nil {
		return ""
	}
	if c := m.home(key); c >= 0 {
		return m.cells[c].ID
	}
	return ""
}

// String returns a one-line summary, such as
// "v41→v42: +1 cell, 162 buckets moved, 0.99% of keys change home, 3 overrides changed".
func (c Changes) String() string {
	version := func(m *Map) string {
		if m == nil {
			return "none"
		}
		return fmt.Sprintf("v%d", m.version)
	}
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	counts := func(noun string, added, removed, changed int) {
		if added > 0 {
			add("+%s", plural(added, noun))
		}
		if removed > 0 {
			add("-%s", plural(removed, noun))
		}
		if changed > 0 {
			add("%s changed", plural(changed, noun))
		}
	}
	if c.SeedChanged {
		add("seed changed")
	}
	if c.BucketsChanged {
		add("buckets %d→%d", c.a.buckets, c.b.buckets)
	}
	if c.ShardSizeChanged {
		add("shardSize %d→%d", c.a.shardSize, c.b.shardSize)
	}
	if c.ExplicitChanged {
		if c.b.explicit {
			add("table now explicit")
		} else {
			add("table now derived")
		}
	}
	counts("cell", len(c.Added), len(c.Removed), len(c.Changed))
	if c.MovedBuckets > 0 {
		add("%s moved", plural(c.MovedBuckets, "bucket"))
	}
	if c.HomeShare > 0 {
		add("%s of keys change home", percent(c.HomeShare))
	}
	counts("override", len(c.OverridesAdded), len(c.OverridesRemoved), len(c.OverridesChanged))
	counts("migration", len(c.MigrationsAdded), len(c.MigrationsRemoved), len(c.MigrationsChanged))
	if len(parts) == 0 {
		parts = append(parts, "no changes")
	}
	return version(c.a) + "→" + version(c.b) + ": " + strings.Join(parts, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// percent writes a share for people: two decimals, and "<0.01%" rather than
// a misleading "0.00%".
func percent(f float64) string {
	if p := 100 * f; p >= 0.01 {
		return fmt.Sprintf("%.2f%%", p)
	}
	return "<0.01%"
}
