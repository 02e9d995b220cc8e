package placement

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/cellkit/cellkit/ring"
)

// A Builder turns a map into its next version: the control plane's edits.
// Each edit is checked when made; a refused edit returns an error matching
// one of the package's sentinels and leaves the builder unchanged. Build
// validates the whole document and returns the map with the version after
// the base's. A Builder is not safe for concurrent use.
type Builder struct {
	base      *Map
	seed      uint64
	buckets   int
	shardSize int
	cells     []Cell            // in ID order
	table     []string          // owner of each bucket when explicit, else nil
	overrides map[string]string // key → cell
	migs      []Migration
}

// NewBuilder starts the next version of m.
func NewBuilder(m *Map) *Builder {
	b := &Builder{base: m, seed: m.seed, buckets: m.buckets, shardSize: m.shardSize, cells: m.Cells(), migs: m.Migrations()}
	if m.explicit {
		b.table = make([]string, m.buckets)
		for i := range b.table {
			b.table[i], _ = m.BucketOwner(i)
		}
	}
	b.overrides = make(map[string]string, m.overrides.len())
	for i, k := range m.overrides.key {
		b.overrides[k] = m.cells[m.overrides.cell[i]].ID
	}
	return b
}

func (b *Builder) cell(id string) (*Cell, error) {
	i, err := b.cellIndex(id)
	if err != nil {
		return nil, err
	}
	return &b.cells[i], nil
}

func (b *Builder) cellIndex(id string) (int, error) {
	i, ok := slices.BinarySearchFunc(b.cells, id, func(c Cell, id string) int { return cmpString(c.ID, id) })
	if !ok {
		return 0, fieldErr(ErrUnknownCell, "cells", id, "cell %q is not defined", shorten(id))
	}
	return i, nil
}

func cmpString(a, b string) int { return strings.Compare(a, b) }

// eligibleAfter counts the active cells with positive weight if cell id had
// the given state and weight.
func (b *Builder) eligibleAfter(id string, s State, w float64) int {
	n := 0
	for _, c := range b.cells {
		if c.ID == id {
			c.State, c.Weight = s, w
		}
		if c.State == Active && c.Weight > 0 {
			n++
		}
	}
	return n
}

// AddCell adds a cell. Its weight defaults to 1 when zero is not meant:
// pass the weight explicitly; a zero Weight is kept as 0.
func (b *Builder) AddCell(c Cell) error {
	if err := checkCellID(c.ID); err != nil {
		return fieldErr(ErrCellID, "cells", c.ID, "%s", err)
	}
	if _, err := b.cell(c.ID); err == nil {
		return fieldErr(ErrDuplicateCell, "cells", c.ID, "")
	}
	if err := checkWeight(c.Weight); err != nil {
		return err
	}
	if c.State > Canary {
		return fieldErr(ErrState, "cells", c.State.String(), "")
	}
	for _, e := range c.Endpoints {
		if checkEndpoint(e.URL) != nil {
			return fieldErr(ErrEndpoint, "cells", e.URL, "")
		}
	}
	c = c.clone()
	i, _ := slices.BinarySearchFunc(b.cells, c.ID, func(x Cell, id string) int { return cmpString(x.ID, id) })
	b.cells = slices.Insert(b.cells, i, c)
	return nil
}

func checkWeight(w float64) error {
	if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
		return fieldErr(ErrWeight, "weight", fmt.Sprint(w), "")
	}
	return nil
}

// RemoveCell removes a cell that nothing refers to any more: no table
// bucket, override or migration.
func (b *Builder) RemoveCell(id string) error {
	i, err := b.cellIndex(id)
	if err != nil {
		return err
	}
	if slices.Contains(b.table, id) {
		return fieldErr(ErrEdit, "table", id, "cell still owns table buckets: rebalance or migrate them first")
	}
	for k, v := range b.overrides {
		if v == id {
			return fieldErr(ErrEdit, "overrides", id, "cell still holds pinned key %q", shorten(k))
		}
	}
	for _, g := range b.migs {
		if g.From == id || g.To == id {
			return fieldErr(ErrEdit, "migrations", id, "cell is in the migration of %s", g.subject())
		}
	}
	if b.eligibleAfter(id, Disabled, 0) == 0 {
		return fieldErr(ErrNoEligible, "cells", id, "removing the last active cell")
	}
	if b.shardSize > b.eligibleAfter(id, Disabled, 0) {
		return fieldErr(ErrShardSize, "cells", id, "fewer active cells than shardSize %d", b.shardSize)
	}
	b.cells = slices.Delete(b.cells, i, i+1)
	return nil
}

// SetState changes a cell's state. A cell named by the table or a migration
// cannot become a canary, and the last active cell cannot leave.
func (b *Builder) SetState(id string, s State) error {
	c, err := b.cell(id)
	if err != nil {
		return err
	}
	if s > Canary {
		return fieldErr(ErrState, "cells", s.String(), "")
	}
	if s == Canary && b.referenced(id) {
		return fieldErr(ErrCellUse, "cells", id, "a canary cell is reached only through overrides, and this one is in the table or a migration")
	}
	if n := b.eligibleAfter(id, s, c.Weight); n == 0 || n < b.shardSize {
		return fieldErr(ErrNoEligible, "cells", id, "state %s leaves %d active cells", s, n)
	}
	c.State = s
	return nil
}

func (b *Builder) referenced(id string) bool {
	return slices.Contains(b.table, id) || slices.ContainsFunc(b.migs, func(g Migration) bool { return g.From == id || g.To == id })
}

// SetWeight changes a cell's weight: its share of derived buckets and shard
// slots. Weight 0 drains it gradually from derived placement.
func (b *Builder) SetWeight(id string, w float64) error {
	c, err := b.cell(id)
	if err != nil {
		return err
	}
	if err := checkWeight(w); err != nil {
		return err
	}
	if n := b.eligibleAfter(id, c.State, w); n == 0 || n < b.shardSize {
		return fieldErr(ErrNoEligible, "cells", id, "weight %v leaves %d active cells", w, n)
	}
	c.Weight = w
	return nil
}

// SetEndpoints replaces a cell's endpoints.
func (b *Builder) SetEndpoints(id string, eps []Endpoint) error {
	c, err := b.cell(id)
	if err != nil {
		return err
	}
	for _, e := range eps {
		if checkEndpoint(e.URL) != nil {
			return fieldErr(ErrEndpoint, "endpoints", e.URL, "")
		}
	}
	c.Endpoints = slices.Clone(eps)
	return nil
}

// SetLabels replaces a cell's labels.
func (b *Builder) SetLabels(id string, labels map[string]string) error {
	c, err := b.cell(id)
	if err != nil {
		return err
	}
	c.Labels = maps.Clone(labels)
	return nil
}

// Pin sends key to cell whatever the table says: a dedicated tenant, a test
// key, canary traffic. The cell must not be disabled, and the key must not
// be migrating.
func (b *Builder) Pin(key, cell string) error {
	if err := b.checkPinTarget(key, cell); err != nil {
		return err
	}
	if slices.ContainsFunc(b.migs, func(g Migration) bool { return g.Key == key }) {
		return fieldErr(ErrConflict, "overrides", key, "key is migrating: advance or roll back its migration first")
	}
	b.overrides[key] = cell
	return nil
}

func (b *Builder) checkPinTarget(key, cell string) error {
	if err := checkKey(key, Limits{}.withDefaults()); err != nil {
		return fieldErr(ErrSyntax, "overrides", "", "%s", err)
	}
	c, err := b.cell(cell)
	if err != nil {
		return err
	}
	if c.State == Disabled {
		return fieldErr(ErrCellUse, "overrides", cell, "cannot pin a key to a disabled cell")
	}
	return nil
}

// Unpin removes key's override; the key returns to its table home.
func (b *Builder) Unpin(key string) error {
	if _, ok := b.overrides[key]; !ok {
		return fieldErr(ErrNotFound, "overrides", key, "key is not pinned")
	}
	delete(b.overrides, key)
	return nil
}

// Quarantine pins key to cell at once, dropping any migration of the key:
// the emergency move of a poison tenant onto an isolation cell, where
// stopping the damage matters more than the continuity of the key's data.
func (b *Builder) Quarantine(key, cell string) error {
	if err := b.checkPinTarget(key, cell); err != nil {
		return err
	}
	b.migs = slices.DeleteFunc(b.migs, func(g Migration) bool { return g.Key == key })
	b.overrides[key] = cell
	return nil
}

// home returns the cell the table gives a key.
func (b *Builder) home(key string) (string, error) {
	h := ring.Hash(b.seed, key)
	bucket := int(h % uint64(b.buckets))
	if b.table != nil {
		return b.table[bucket], nil
	}
	r, err := b.ring()
	if err != nil {
		return "", err
	}
	return r.Member(r.Owner(ring.BucketHash(bucket))).ID, nil
}

// ring returns the derived-placement ring of the current cells.
func (b *Builder) ring() (*ring.Ring, error) {
	members := make([]ring.Member, len(b.cells))
	for i, c := range b.cells {
		members[i] = ring.Member{ID: c.ID, Zone: c.Zone}
		if c.State == Active {
			members[i].Weight = c.Weight
		}
	}
	r, err := ring.New(members)
	if err != nil {
		return nil, fieldErr(ErrNoEligible, "cells", "", "no active cell with positive weight")
	}
	return r, nil
}

func (b *Builder) checkTarget(to string) error {
	c, err := b.cell(to)
	if err != nil {
		return err
	}
	switch c.State {
	case Disabled:
		return fieldErr(ErrCellUse, "migrations", to, "cannot migrate to a disabled cell")
	case Canary:
		return fieldErr(ErrCellUse, "migrations", to, "canary cells are reached only through overrides")
	}
	return nil
}

// MigrateKey starts moving key to cell to, from its current home, in phase
// Copying. A pinned key's override gives way to the migration (Advance
// writes it back, pointing at to, when the migration is done).
func (b *Builder) MigrateKey(key, to string) error {
	if err := checkKey(key, Limits{}.withDefaults()); err != nil {
		return fieldErr(ErrMigration, "migrations", "", "%s", err)
	}
	if err := b.checkTarget(to); err != nil {
		return err
	}
	if slices.ContainsFunc(b.migs, func(g Migration) bool { return g.Key == key }) {
		return fieldErr(ErrConflict, "migrations", key, "key is already migrating")
	}
	from, pinned := b.overrides[key]
	if !pinned {
		var err error
		if from, err = b.home(key); err != nil {
			return err
		}
	}
	if from == to {
		return fieldErr(ErrMigration, "migrations", to, "key %q already lives on this cell", shorten(key))
	}
	if c, _ := b.cell(from); c.State == Canary {
		return fieldErr(ErrCellUse, "migrations", from, "move a key off a canary cell with Pin")
	}
	delete(b.overrides, key)
	b.migs = append(b.migs, Migration{Key: key, From: from, To: to, Phase: Copying})
	return nil
}

// MigrateBuckets starts moving the buckets of r to cell to, in phase
// Copying: one migration for each run of buckets with one owner, skipping
// buckets to already owns. The table must be explicit (see FreezeTable).
func (b *Builder) MigrateBuckets(r Range, to string) error {
	if b.table == nil {
		return fieldErr(ErrEdit, "table", "", "bucket migrations need an explicit table: FreezeTable first")
	}
	if r.Lo < 0 || r.Hi < r.Lo || r.Hi >= b.buckets {
		return fieldErr(ErrMigration, "migrations", r.String(), "range outside buckets 0-%d", b.buckets-1)
	}
	if err := b.checkTarget(to); err != nil {
		return err
	}
	for _, g := range b.migs {
		if g.Key == "" && g.Buckets.Lo <= r.Hi && r.Lo <= g.Buckets.Hi {
			return fieldErr(ErrConflict, "migrations", r.String(), "overlaps the migration of %s", g.subject())
		}
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
		return fieldErr(ErrMigration, "migrations", r.String(), "every bucket already belongs to %q", to)
	}
	b.migs = append(b.migs, runs...)
	return nil
}

// find returns the index of the migration with g's subject (its key, or its
// bucket range).
func (b *Builder) find(g Migration) (int, error) {
	i := slices.IndexFunc(b.migs, func(x Migration) bool {
		return x.Key == g.Key && (g.Key != "" || x.Buckets == g.Buckets)
	})
	if i < 0 {
		return 0, fieldErr(ErrNotFound, "migrations", g.subject(), "no such migration (finished or never started)")
	}
	return i, nil
}

// Advance moves a migration, named by its key or bucket range, one phase on:
// Copying to Frozen to Flipped; from Flipped it finishes: the key's override
// (or the buckets' table entries) now name the new cell, and the migration
// is gone. Advancing a finished migration is ErrNotFound.
func (b *Builder) Advance(g Migration) error {
	i, err := b.find(g)
	if err != nil {
		return err
	}
	m := &b.migs[i]
	if m.Phase < Flipped {
		m.Phase++
		return nil
	}
	if m.Key != "" {
		b.overrides[m.Key] = m.To
	} else {
		for bucket := m.Buckets.Lo; bucket <= m.Buckets.Hi; bucket++ {
			b.table[bucket] = m.To
		}
	}
	b.migs = slices.Delete(b.migs, i, i+1)
	return nil
}

// Rollback undoes a migration. Before the flip the old cell never stopped
// being authoritative, so the migration simply ends. After the flip the new
// cell has taken writes: the migration turns around (from the new cell back
// to the old, in phase Copying) and finishes like any other.
func (b *Builder) Rollback(g Migration) error {
	i, err := b.find(g)
	if err != nil {
		return err
	}
	m := &b.migs[i]
	if m.Phase < Flipped {
		b.migs = slices.Delete(b.migs, i, i+1)
		return nil
	}
	m.From, m.To, m.Phase = m.To, m.From, Copying
	return nil
}

// FreezeTable makes the derived table explicit, bucket for bucket: no key
// moves, and from then on only the control plane changes the table.
func (b *Builder) FreezeTable() error {
	if b.table != nil {
		return fieldErr(ErrEdit, "table", "", "the table is already explicit")
	}
	r, err := b.ring()
	if err != nil {
		return err
	}
	b.table = make([]string, b.buckets)
	for i := range b.table {
		b.table[i] = r.Member(r.Owner(ring.BucketHash(i))).ID
	}
	return nil
}

// Rebalance plans the fewest bucket moves that bring every active cell
// within one bucket of its weighted share of an explicit table, and cells
// that are not active to none, and starts each as a bucket migration in
// phase Copying: no key moves until the migrations advance. It returns the
// number of buckets to move. Bucket migrations already under way must finish
// first.
func (b *Builder) Rebalance() (int, error) {
	if b.table == nil {
		return 0, fieldErr(ErrEdit, "table", "", "rebalancing needs an explicit table: FreezeTable first")
	}
	if slices.ContainsFunc(b.migs, func(g Migration) bool { return g.Key == "" }) {
		return 0, fieldErr(ErrConflict, "migrations", "", "bucket migrations are under way: finish them first")
	}
	r, err := b.ring()
	if err != nil {
		return 0, err
	}
	owners := make([]int, b.buckets)
	for i, id := range b.table {
		owners[i], _ = r.Index(id)
	}
	t, err := ring.NewTableOwners(r, owners)
	if err != nil {
		return 0, fieldErr(ErrTable, "table", "", "%v", err)
	}
	_, moves, err := t.Rebalance(r)
	if err != nil {
		return 0, fieldErr(ErrTable, "table", "", "%v", err)
	}
	for _, mv := range moves {
		if n := len(b.migs); n > 0 {
			last := &b.migs[n-1]
			if last.Key == "" && last.From == mv.From && last.To == mv.To && last.Buckets.Hi == mv.Bucket-1 {
				last.Buckets.Hi = mv.Bucket
				continue
			}
		}
		b.migs = append(b.migs, Migration{Buckets: Range{mv.Bucket, mv.Bucket}, From: mv.From, To: mv.To, Phase: Copying})
	}
	return len(moves), nil
}

// Build validates the edited document and returns it as the next version of
// the base map.
func (b *Builder) Build() (*Map, error) {
	d := &wireDoc{}
	version := b.base.version + 1
	seed := fmt.Sprintf("%#x", b.seed)
	buckets, shardSize := b.buckets, b.shardSize
	d.Version, d.Seed, d.Buckets, d.ShardSize = &version, &seed, &buckets, &shardSize
	for _, c := range b.cells {
		w, s := c.Weight, c.State.String()
		wc := wireCell{ID: c.ID, Zone: c.Zone, Weight: &w, State: &s, Labels: c.Labels}
		for _, e := range c.Endpoints {
			wc.Endpoints = append(wc.Endpoints, wireEndpoint(e))
		}
		d.Cells = append(d.Cells, wc)
	}
	if b.table != nil {
		for bucket := 0; bucket < len(b.table); {
			end := bucket
			for end+1 < len(b.table) && b.table[end+1] == b.table[bucket] {
				end++
			}
			d.Table = append(d.Table, wireRange{Buckets: Range{bucket, end}.String(), Cell: b.table[bucket]})
			bucket = end + 1
		}
	}
	keys := slices.Sorted(maps.Keys(b.overrides))
	d.Overrides = overrideList{keys: keys, cells: make([]string, len(keys))}
	for i, k := range keys {
		d.Overrides.cells[i] = b.overrides[k]
	}
	for _, g := range b.migs {
		w := wireMigration{From: g.From, To: g.To, Phase: g.Phase.String()}
		if g.Key != "" {
			k := g.Key
			w.Key = &k
		} else {
			r := g.Buckets.String()
			w.Buckets = &r
		}
		d.Migrations = append(d.Migrations, w)
	}
	m, err := build(d, Limits{MaxCells: math.MaxInt, MaxOverrides: math.MaxInt, MaxMigrations: math.MaxInt}.withDefaults())
	if err != nil {
		return nil, err
	}
	m.raw, _ = m.MarshalJSON()
	return m, nil
}
