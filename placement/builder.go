package placement

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cellkit/cellkit/ring"
)

// A Builder edits a draft of the next version of a map: the control plane's
// edits. It holds the draft document, and applies the package's one set of
// rules to it through the code Parse and Locate run, so that the Builder and
// every client agree:
//
//   - An edit checks the entries it writes with the rules Parse applies to
//     them (a cell's ID, weight, state, endpoints and labels; a key; a
//     migration's cells and range), and the conditions of the edit itself (a
//     cell to remove that nothing names any more, a migration to advance
//     that exists). A refused edit returns an error matching one of the
//     package's sentinels and leaves the draft unchanged.
//   - The rules that concern the whole document (an eligible cell, the shard
//     size, canary cells out of the table, the Limits) are checked by Build,
//     which runs the checks of Parse on the draft with the Builder's limits:
//     whatever Build accepts, Parse with the same limits accepts, and Parse of
//     the built map's Bytes gives the same map. A draft may pass through
//     states Build refuses (adding cells to a first map one by one).
//   - An edit that needs to know where keys live now (MigrateKey,
//     MigrateBuckets, FreezeTable, Rebalance) asks the draft, built, through
//     Locate's own rule; it fails with Build's error when the draft is not a
//     valid document at that moment.
//
// Overrides may name a cell of any state, as in Parse: a key pinned to a
// disabled cell fails fast there. Migrations may not involve canary cells.
//
// The zero Builder starts a first map, as NewBuilder(nil) does. A Builder is
// not safe for concurrent use.
type Builder struct {
	lim       Limits
	base      uint64 // the base map's version; 0 for none
	next      uint64 // the version Build gives; 0 when the base's cannot grow
	seed      uint64
	buckets   int
	shardSize int
	cells     []Cell   // in ID order; edits replace a cell's Endpoints and Labels, never change them in place
	table     []string // owner of each bucket when explicit, else nil
	// The overrides: those of base, indexed there, but for the keys in
	// pins, the edits since, where a key maps to its cell or to "" when
	// unpinned. An edit of one key costs one map entry, and Build merges
	// the pins into the base's index (mergeOverrides) instead of indexing
	// every key again.
	baseOver *Map
	pins     map[string]string
	migs     []Migration

	// cur is the draft built, nil after an edit that may move any key;
	// edits of single keys keep it and list the keys in stale instead.
	cur   *Map
	stale map[string]bool
	// last is the base map or the last draft built: build reuses its
	// table when the draft's has the same inputs (see ParseNext).
	last *Map
}

// NewBuilder starts the next version of m with the default Limits. A nil or
// zero m starts a first map: version 1, seed 0, the default bucket count and
// shard size, no cells and a derived table; set them with SetSeed,
// SetBuckets, SetShardSize and AddCell.
func NewBuilder(m *Map) *Builder { return NewBuilderWith(m, Limits{}) }

// NewBuilderWith is NewBuilder with the limits that Build applies; give the
// limits the clients parse with.
func NewBuilderWith(m *Map, lim Limits) *Builder {
	b := &Builder{lim: lim.withDefaults(), next: 1, buckets: DefaultBuckets, shardSize: DefaultShardSize,
		pins: map[string]string{}}
	if !m.ok() {
		return b
	}
	b.base, b.next = m.version, m.version+1 // 0 past the largest version: Build says so
	b.last = m
	b.seed, b.buckets, b.shardSize = m.seed, m.buckets, m.shardSize
	// Copies of the strings too: the maps built keep none of m's document
	// alive (their override keys point into their own; see Build).
	b.cells = make([]Cell, len(m.cells))
	for i, c := range m.cells {
		b.cells[i] = c.deepClone()
	}
	b.migs = make([]Migration, len(m.migs))
	for i, g := range m.migs {
		g.Key, g.From, g.To = strings.Clone(g.Key), strings.Clone(g.From), strings.Clone(g.To)
		b.migs[i] = g
	}
	if m.explicit {
		b.table = make([]string, m.buckets)
		for i := range b.table {
			o, _ := m.table.BucketOwner(i)
			b.table[i] = m.cells[o].ID
		}
	}
	if m.overrides.len() > 0 {
		b.baseOver = m
	}
	return b
}

// override returns the cell key is pinned to in the draft.
func (b *Builder) override(key string) (string, bool) {
	if c, ok := b.pins[key]; ok {
		return c, c != ""
	}
	return b.baseOver.Override(key)
}

// pin pins key to cell in the draft; unpin removes its override.
func (b *Builder) pin(key, cell string) { b.pins[key] = cell }

func (b *Builder) unpin(key string) {
	if _, ok := b.baseOver.Override(key); ok {
		b.pins[key] = ""
	} else {
		delete(b.pins, key)
	}
}

// pinnedTo returns a key pinned to cell id in the draft, if there is one.
func (b *Builder) pinnedTo(id string) (string, bool) {
	for k, c := range b.pins {
		if c == id {
			return k, true
		}
	}
	if base := b.baseOver; base != nil {
		if c, ok := base.index[id]; ok {
			for i, x := range base.overrides.cell {
				if k := base.overrides.key[i]; x == c {
					if _, edited := b.pins[k]; !edited {
						return k, true
					}
				}
			}
		}
	}
	return "", false
}

// ready makes a zero Builder the builder of a first map, as NewBuilder(nil).
func (b *Builder) ready() {
	if b.buckets == 0 {
		*b = *NewBuilder(nil)
	}
}

// edit records an edit that may move any key.
func (b *Builder) edit() { b.cur, b.stale = nil, nil }

// keyEdit records an edit of the override or migration of one key.
func (b *Builder) keyEdit(key string) {
	if b.cur != nil {
		if b.stale == nil {
			b.stale = map[string]bool{}
		}
		b.stale[key] = true
	}
}

// current returns the draft built. Its cells, table and bucket migrations
// are the draft's; its overrides and key migrations are the draft's except
// for the keys in b.stale.
func (b *Builder) current() (*Map, error) {
	if b.cur != nil {
		return b.cur, nil
	}
	v := b.next
	if v == 0 {
		v = b.base
	}
	m, err := build(b.document(v), b.lim, b.last)
	if err != nil {
		return nil, err
	}
	b.cur, b.stale, b.last = m, nil, m
	return m, nil
}

// currentFor returns the draft built, up to date for key.
func (b *Builder) currentFor(key string) (*Map, error) {
	if b.stale[key] {
		b.edit()
	}
	return b.current()
}

// document returns the draft as a document for build.
func (b *Builder) document(version uint64) *document {
	d := &document{version: version, seed: b.seed, buckets: b.buckets, shardSize: b.shardSize,
		cells: b.cells, migrations: b.migs}
	if b.table != nil {
		d.table = []TableRange{}
		for lo := 0; lo < len(b.table); {
			hi := lo
			for hi+1 < len(b.table) && b.table[hi+1] == b.table[lo] {
				hi++
			}
			d.table = append(d.table, TableRange{Range{lo, hi}, b.table[lo]})
			lo = hi + 1
		}
	}
	if b.baseOver != nil {
		d.baseOver, d.pins = b.baseOver, b.pins
		return d
	}
	o := &d.overrides
	o.keys = make([]string, 0, len(b.pins))
	o.cells = make([]int32, 0, len(b.pins))
	o.names = make([]string, len(b.cells))
	for i, c := range b.cells {
		o.names[i] = c.ID
	}
	for k, c := range b.pins {
		if c == "" {
			continue
		}
		i, _ := slices.BinarySearchFunc(b.cells, c, func(x Cell, id string) int { return strings.Compare(x.ID, id) })
		o.keys = append(o.keys, k)
		o.cells = append(o.cells, int32(i))
	}
	return d
}

// Build checks the draft with the rules and limits of Parse and returns it
// as a map whose Bytes are its canonical form, of the version after the
// base map's (1 for a first map). A base of version 2⁶⁴−1 has no next
// version: Build refuses it with ErrVersion. The Builder stays usable; a
// later Build gives the same version again.
func (b *Builder) Build() (*Map, error) {
	b.ready()
	if b.next == 0 {
		return nil, fieldErr(ErrVersion, "version", "", "the base map's version is %d, the largest: it cannot grow, so the map can have no next version", uint64(math.MaxUint64))
	}
	if len(b.stale) > 0 {
		b.edit()
	}
	m, err := b.current()
	if err != nil {
		return nil, err
	}
	if m.raw == "" {
		m.raw = m.canonical()
	}
	if len(m.raw) > b.lim.MaxBytes {
		// Parse would refuse it: so does Build.
		return nil, fieldErr(ErrLimit, "document", "", "%d bytes, more than %d (Limits.MaxBytes)", len(m.raw), b.lim.MaxBytes)
	}
	return m, nil
}

func cellField(id string) string { return "cells[" + quote(id) + "]" }

func (b *Builder) cellIndex(id string) (int, error) {
	i, ok := slices.BinarySearchFunc(b.cells, id, func(c Cell, id string) int { return strings.Compare(c.ID, id) })
	if !ok {
		return 0, fieldErr(ErrUnknownCell, cellField(id), id, "cell %s is not defined", quote(id))
	}
	return i, nil
}

// SetSeed sets the key hash seed. Every key may change bucket, and so home.
func (b *Builder) SetSeed(seed uint64) {
	b.ready()
	b.seed = seed
	b.edit()
}

// SetBuckets sets the number of buckets of a derived table (1 to
// MaxBuckets); keys may change home. An explicit table keeps its bucket
// count: the error matches ErrEdit.
func (b *Builder) SetBuckets(n int) error {
	b.ready()
	if err := checkBuckets(n); err != nil {
		return err
	}
	if b.table != nil {
		return fieldErr(ErrEdit, "buckets", strconv.Itoa(n), "an explicit table keeps its %d buckets", b.buckets)
	}
	b.buckets = n
	b.edit()
	return nil
}

// SetShardSize sets the number of cells in a key's shuffle shard: at least
// 1 and at most Limits.MaxShardSize here; Build also wants at least that
// many eligible cells.
func (b *Builder) SetShardSize(k int) error {
	b.ready()
	if err := checkShardSize(k, b.lim); err != nil {
		return err
	}
	b.shardSize = k
	b.edit()
	return nil
}

// AddCell adds a cell, as given; a zero State is Active. A zero Weight is
// refused (ErrWeight): a document without a weight means 1, and a Cell
// cannot tell a weight left out from a weight of 0, so AddCell takes
// neither silently. Give the weight, 1 for the document's default; to add
// a cell that takes no derived buckets yet, add it and SetWeight(id, 0).
func (b *Builder) AddCell(c Cell) error {
	b.ready()
	if c.Weight == 0 {
		return fieldErr(ErrWeight, cellField(c.ID)+".weight", "0",
			"AddCell needs a weight: 0 would take no derived buckets, where a document's default is 1; give 1, or add the cell and SetWeight(%s, 0)", quote(c.ID))
	}
	if fe := checkCell(&c, b.lim); fe != nil {
		fe.Field = cellField(c.ID) + fe.Field
		return fe
	}
	i, found := slices.BinarySearchFunc(b.cells, c.ID, func(x Cell, id string) int { return strings.Compare(x.ID, id) })
	if found {
		return fieldErr(ErrDuplicateCell, cellField(c.ID), c.ID, "")
	}
	b.cells = slices.Insert(b.cells, i, c.clone())
	b.edit()
	return nil
}

// RemoveCell removes a cell that nothing names any more: no table bucket,
// override or migration (the error matches ErrEdit).
func (b *Builder) RemoveCell(id string) error {
	b.ready()
	i, err := b.cellIndex(id)
	if err != nil {
		return err
	}
	if slices.Contains(b.table, id) {
		return fieldErr(ErrEdit, cellField(id), "", "the cell still owns table buckets: migrate them or Rebalance first")
	}
	if k, ok := b.pinnedTo(id); ok {
		return fieldErr(ErrEdit, cellField(id), "", "the cell still holds the pinned key %s", quote(k))
	}
	for _, g := range b.migs {
		if g.From == id || g.To == id {
			return fieldErr(ErrEdit, cellField(id), "", "the cell is in the migration of %s", g.subject())
		}
	}
	b.cells = slices.Delete(b.cells, i, i+1)
	b.edit()
	return nil
}

// setCell replaces cell id by f of a copy of it, checked as Parse checks a
// cell.
func (b *Builder) setCell(id string, f func(c *Cell)) error {
	i, err := b.cellIndex(id)
	if err != nil {
		return err
	}
	c := b.cells[i]
	f(&c)
	if fe := checkCell(&c, b.lim); fe != nil {
		fe.Field = cellField(id) + fe.Field
		return fe
	}
	b.cells[i] = c
	b.edit()
	return nil
}

// SetState changes a cell's state.
func (b *Builder) SetState(id string, s State) error {
	b.ready()
	return b.setCell(id, func(c *Cell) { c.State = s })
}

// SetWeight changes a cell's weight: its share of derived buckets and shard
// slots. Weight 0 drains it gradually from derived placement.
func (b *Builder) SetWeight(id string, w float64) error {
	b.ready()
	return b.setCell(id, func(c *Cell) { c.Weight = w })
}

// SetZone changes a cell's zone.
func (b *Builder) SetZone(id, zone string) error {
	b.ready()
	return b.setCell(id, func(c *Cell) { c.Zone = zone })
}

// SetEndpoints replaces a cell's endpoints with a copy of eps.
func (b *Builder) SetEndpoints(id string, eps []Endpoint) error {
	b.ready()
	return b.setCell(id, func(c *Cell) { c.Endpoints = slices.Clone(eps) })
}

// SetLabels replaces a cell's labels with a copy of labels.
func (b *Builder) SetLabels(id string, labels map[string]string) error {
	b.ready()
	return b.setCell(id, func(c *Cell) { c.Labels = maps.Clone(labels) })
}

// checkPin checks a key and the cell it is to be pinned to.
func (b *Builder) checkPin(key, cell string) error {
	if fe := checkKey(key, b.lim); fe != nil {
		fe.Field = overrideField(key)
		return fe
	}
	_, err := b.cellIndex(cell)
	return err
}

func (b *Builder) keyMigration(key string) int {
	return slices.IndexFunc(b.migs, func(g Migration) bool { return g.Key == key })
}

// Pin sends key to cell whatever the table says: a dedicated tenant, a test
// key, canary traffic, or (to a disabled cell) a suspended tenant. A key that
// is migrating cannot be pinned (ErrConflict): advance or roll back its
// migration first.
func (b *Builder) Pin(key, cell string) error {
	b.ready()
	if err := b.checkPin(key, cell); err != nil {
		return err
	}
	if b.keyMigration(key) >= 0 {
		return fieldErr(ErrConflict, overrideField(key), "", "the key is migrating: advance or roll back its migration first")
	}
	b.pin(key, cell)
	b.keyEdit(key)
	return nil
}

// Unpin removes key's override; the key returns to its table home, or to
// its bucket's migration. The override of a migrating key holds it on its
// data and stays until the migration ends (ErrConflict).
func (b *Builder) Unpin(key string) error {
	b.ready()
	if _, ok := b.override(key); !ok {
		return fieldErr(ErrNotFound, overrideField(key), "", "the key is not pinned")
	}
	if b.keyMigration(key) >= 0 {
		return fieldErr(ErrConflict, overrideField(key), "", "the key is migrating, and its override holds it on its data: advance or roll back its migration first")
	}
	b.unpin(key)
	b.keyEdit(key)
	return nil
}

// Quarantine pins key to cell at once, dropping any migration of the key:
// the emergency move of a poison tenant onto an isolation cell, where
// stopping the damage matters more than the continuity of the key's data.
func (b *Builder) Quarantine(key, cell string) error {
	b.ready()
	if err := b.checkPin(key, cell); err != nil {
		return err
	}
	if i := b.keyMigration(key); i >= 0 {
		b.migs = slices.Delete(b.migs, i, i+1)
	}
	b.pin(key, cell)
	b.keyEdit(key)
	return nil
}

// MigrateKey starts moving key to cell to, in phase Copying, from the home
// that Locate gives the key now: its override, a bucket migration (after a
// flip, the new cell) or its table bucket. The key is pinned to that cell
// for the migration (its migration decides where it goes, and the override
// records where its data is, as Parse requires of a key migration's From),
// and stays pinned when it ends: to To when it is done, to From when it is
// rolled back before the flip.
func (b *Builder) MigrateKey(key, to string) error {
	b.ready()
	field := "migrations[" + quote(key) + "]"
	if fe := checkKey(key, b.lim); fe != nil {
		fe.Field = field + ".key"
		return fe
	}
	if b.keyMigration(key) >= 0 {
		return fieldErr(ErrConflict, field, "", "the key is already migrating")
	}
	m, err := b.currentFor(key)
	if err != nil {
		return err
	}
	// Parse's rule (checkKeyFrom) finds the key's data where settled does.
	h := ring.Hash(m.seed, key)
	home, _ := m.settled(key, h, m.table.Bucket(h))
	from := m.cells[home].ID
	if from == to {
		return fieldErr(ErrMigration, field+".to", to, "the key lives on this cell already")
	}
	g := Migration{Key: key, From: from, To: to, Phase: Copying}
	if fe := m.checkMigration(&g, b.lim); fe != nil {
		fe.Field = field + fe.Field
		return fe
	}
	// Pinned to its data for the whole migration: no table edit can move
	// the key's home, from which the migration starts, under it.
	b.pin(key, from)
	b.migs = append(b.migs, g)
	b.keyEdit(key)
	return nil
}

// MigrateBuckets starts moving the buckets of r to cell to, in phase
// Copying: one migration for each run of buckets with one owner, skipping
// buckets to already owns. The table must be explicit (see FreezeTable), and
// no bucket of r may be migrating already (ErrConflict).
func (b *Builder) MigrateBuckets(r Range, to string) error {
	b.ready()
	field := "migrations[" + quote(r.String()) + "]"
	if b.table == nil {
		return fieldErr(ErrEdit, "table", "", "bucket migrations need an explicit table: FreezeTable first")
	}
	if r.Lo < 0 || r.Hi < r.Lo || r.Hi >= b.buckets {
		return fieldErr(ErrMigration, field+".buckets", r.String(), "the range is not within buckets 0-%d", b.buckets-1)
	}
	for _, g := range b.migs {
		if g.Key == "" && g.Buckets.Lo <= r.Hi && r.Lo <= g.Buckets.Hi {
			return fieldErr(ErrConflict, field, "", "the range overlaps the migration of %s", g.subject())
		}
	}
	m, err := b.current()
	if err != nil {
		return err
	}
	var runs []Migration
	for bucket := r.Lo; bucket <= r.Hi; bucket++ {
		from := b.table[bucket]
		if from == to {
			continue
		}
		if n := len(runs); n > 0 && runs[n-1].From == from && runs[n-1].Buckets.Hi == bucket-1 {
			runs[n-1].Buckets.Hi = bucket
			continue
		}
		runs = append(runs, Migration{Buckets: Range{bucket, bucket}, From: from, To: to, Phase: Copying})
	}
	if len(runs) == 0 {
		return fieldErr(ErrMigration, field, "", "every bucket belongs to %s already", quote(to))
	}
	for i := range runs {
		if fe := m.checkMigration(&runs[i], b.lim); fe != nil {
			fe.Field = field + fe.Field
			return fe
		}
	}
	b.migs = append(b.migs, runs...)
	b.edit()
	return nil
}

// find returns the index of the migration with g's subject: its key, or its
// exact bucket range.
func (b *Builder) find(g Migration) (int, error) {
	i := slices.IndexFunc(b.migs, func(x Migration) bool {
		return x.Key == g.Key && (g.Key != "" || x.Buckets == g.Buckets)
	})
	if i < 0 {
		return 0, fieldErr(ErrNotFound, "migrations", g.subject(), "no migration of %s (finished or never started)", g.subject())
	}
	return i, nil
}

// changed records an edit of migration g.
func (b *Builder) changed(g Migration) {
	if g.Key != "" {
		b.keyEdit(g.Key)
	} else {
		b.edit()
	}
}

// Advance moves a migration, named by its key or bucket range, one phase on:
// Copying to Frozen to Flipped. From Flipped it finishes: the key is pinned
// to the new cell (or the buckets' table entries name it), and the migration
// is gone. Advancing a finished migration is ErrNotFound.
func (b *Builder) Advance(g Migration) error {
	b.ready()
	i, err := b.find(g)
	if err != nil {
		return err
	}
	m := &b.migs[i]
	g = *m
	switch {
	case m.Phase < Flipped:
		m.Phase++
	case m.Key != "":
		b.pin(m.Key, m.To)
		b.migs = slices.Delete(b.migs, i, i+1)
	default:
		for bucket := m.Buckets.Lo; bucket <= m.Buckets.Hi; bucket++ {
			b.table[bucket] = m.To
		}
		b.migs = slices.Delete(b.migs, i, i+1)
	}
	b.changed(g)
	return nil
}

// Rollback undoes a migration, leaving its keys on the cell that holds their
// data. Before the flip the old cell never stopped being authoritative: the
// migration ends, a key is pinned to its From cell (restoring the override
// a pinned key had, and keeping any other key on its data if the table has
// changed since), and buckets stay with their owner in the table. After the
// flip the new cell has taken writes: the migration turns around, from the
// new cell back to the old in phase Copying (the buckets' table entries, or
// the key's override, now name the new cell), and finishes like any other.
func (b *Builder) Rollback(g Migration) error {
	b.ready()
	i, err := b.find(g)
	if err != nil {
		return err
	}
	m := &b.migs[i]
	g = *m
	switch {
	case m.Phase < Flipped && m.Key != "":
		b.pin(m.Key, m.From)
		b.migs = slices.Delete(b.migs, i, i+1)
	case m.Phase < Flipped:
		b.migs = slices.Delete(b.migs, i, i+1)
	default:
		if m.Key == "" {
			for bucket := m.Buckets.Lo; bucket <= m.Buckets.Hi; bucket++ {
				b.table[bucket] = m.To
			}
		} else {
			b.pin(m.Key, m.To)
		}
		m.From, m.To, m.Phase = m.To, m.From, Copying
	}
	b.changed(g)
	return nil
}

// FreezeTable makes the derived table explicit, bucket for bucket: no key
// moves, and from then on only the control plane changes the table.
func (b *Builder) FreezeTable() error {
	b.ready()
	if b.table != nil {
		return fieldErr(ErrEdit, "table", "", "the table is explicit already")
	}
	m, err := b.current()
	if err != nil {
		return err
	}
	b.table = make([]string, b.buckets)
	for i := range b.table {
		o, _ := m.table.BucketOwner(i)
		b.table[i] = m.cells[o].ID
	}
	b.edit()
	return nil
}

// Rebalance plans the fewest bucket moves that bring every active cell
// within one bucket of its weighted share of an explicit table, and cells
// that are not active, or of weight 0, to none (ring.Table.Rebalance over
// the ring Locate uses), and starts each as a bucket migration in phase
// Copying: no key moves until the migrations advance. It returns the number
// of buckets to move. Bucket migrations already under way must finish
// first (ErrConflict).
func (b *Builder) Rebalance() (int, error) {
	b.ready()
	if b.table == nil {
		return 0, fieldErr(ErrEdit, "table", "", "rebalancing needs an explicit table: FreezeTable first")
	}
	if slices.ContainsFunc(b.migs, func(g Migration) bool { return g.Key == "" }) {
		return 0, fieldErr(ErrConflict, "migrations", "", "bucket migrations are under way: finish them first")
	}
	m, err := b.current()
	if err != nil {
		return 0, err
	}
	_, moves, err := m.table.Rebalance(m.ring)
	if err != nil {
		return 0, fieldErr(ErrTable, "table", "", "%v", err)
	}
	var runs []Migration
	for _, mv := range moves {
		if n := len(runs); n > 0 {
			last := &runs[n-1]
			if last.From == mv.From && last.To == mv.To && last.Buckets.Hi == mv.Bucket-1 {
				last.Buckets.Hi = mv.Bucket
				continue
			}
		}
		runs = append(runs, Migration{Buckets: Range{mv.Bucket, mv.Bucket}, From: mv.From, To: mv.To, Phase: Copying})
	}
	if len(runs) > 0 {
		b.migs = append(b.migs, runs...)
		b.edit()
	}
	return len(moves), nil
}
