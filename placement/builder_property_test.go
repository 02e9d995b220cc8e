package placement

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cellkit/cellkit/ring"
)

// model is a placement document held plainly, with the rules of the package
// documentation written out plainly: the reference of the Builder's
// property test. It reads documents with encoding/json, not with decode.
type model struct {
	seed       uint64
	buckets    int
	shardSize  int
	cells      map[string]Cell
	table      []string // nil: derived
	overrides  map[string]string
	keyMigs    map[string]Migration
	bucketMigs []Migration
}

func modelOf(t *testing.T, m *Map) *model {
	t.Helper()
	var d diffDoc
	if err := json.Unmarshal(m.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	md := &model{buckets: d.Buckets, shardSize: d.ShardSize, cells: map[string]Cell{},
		overrides: maps.Clone(d.Overrides), keyMigs: map[string]Migration{}}
	if md.overrides == nil {
		md.overrides = map[string]string{}
	}
	seed, err := strconv.ParseUint(strings.TrimPrefix(d.Seed, "0x"), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	md.seed = seed
	for _, c := range d.Cells {
		s, _ := ParseState(c.State)
		md.cells[c.ID] = Cell{ID: c.ID, Zone: c.Zone, Weight: c.Weight, State: s}
	}
	if d.Table != nil {
		md.table = make([]string, md.buckets)
		for _, r := range d.Table {
			rg, _ := ParseRange(r.Buckets)
			for b := rg.Lo; b <= rg.Hi; b++ {
				md.table[b] = r.Cell
			}
		}
	}
	for _, g := range d.Migrations {
		p, _ := ParsePhase(g.Phase)
		mg := Migration{Key: g.Key, From: g.From, To: g.To, Phase: p}
		if g.Key != "" {
			md.keyMigs[g.Key] = mg
			continue
		}
		mg.Buckets, _ = ParseRange(g.Buckets)
		md.bucketMigs = append(md.bucketMigs, mg)
	}
	return md
}

// ring returns the ring of derived placement: the active cells weigh their
// weight, the others 0.
func (md *model) ring() *ring.Ring {
	var ms []ring.Member
	for _, c := range md.cells {
		w := 0.0
		if c.State == Active {
			w = c.Weight
		}
		ms = append(ms, ring.Member{ID: c.ID, Zone: c.Zone, Weight: w})
	}
	r, _ := ring.New(ms)
	return r
}

func (md *model) eligible() int {
	n := 0
	for _, c := range md.cells {
		if c.State == Active && c.Weight > 0 {
			n++
		}
	}
	return n
}

// valid says whether the document obeys the rules that concern the whole
// document.
func (md *model) valid() bool {
	if e := md.eligible(); e == 0 || md.shardSize > e {
		return false
	}
	for _, c := range md.table {
		if md.cells[c].State == Canary {
			return false
		}
	}
	for _, g := range md.migrations() {
		if md.cells[g.From].State == Canary || md.cells[g.To].State == Canary {
			return false
		}
	}
	return true
}

func (md *model) migrations() []Migration {
	out := slices.Collect(maps.Values(md.keyMigs))
	return append(out, md.bucketMigs...)
}

// tableHome is the cell the table gives bucket b.
func (md *model) tableHome(b int) string {
	if md.table != nil {
		return md.table[b]
	}
	r := md.ring()
	return r.Member(r.Owner(ring.BucketHash(b))).ID
}

// placed is Locate's answer, in the words of the package documentation.
type placed struct {
	Cell     string
	Read     []string
	Writable bool
	Shard    []string
	Reason   Reason
	Phase    Phase
	Disabled bool
}

func (md *model) locate(key string) placed {
	h := ring.Hash(md.seed, key)
	b := int(h % uint64(md.buckets))
	var a placed
	// The key's own migration, then its override, then its bucket's
	// migration, then the table.
	g, migrating := md.keyMigs[key]
	c, pinned := md.overrides[key]
	pinned = pinned && !migrating
	for _, bg := range md.bucketMigs {
		if !migrating && !pinned && bg.Buckets.Lo <= b && b <= bg.Buckets.Hi {
			g, migrating = bg, true
		}
	}
	switch {
	case pinned:
		a = placed{Cell: c, Read: []string{c}, Writable: true, Reason: ReasonOverride}
	case migrating && g.Phase == Copying:
		a = placed{Cell: g.From, Read: []string{g.From}, Writable: true, Reason: ReasonMigration, Phase: Copying}
	case migrating && g.Phase == Frozen:
		a = placed{Cell: g.From, Read: []string{g.From}, Reason: ReasonMigration, Phase: Frozen}
	case migrating:
		a = placed{Cell: g.To, Read: []string{g.To, g.From}, Writable: true, Reason: ReasonMigration, Phase: Flipped}
	default:
		c := md.tableHome(b)
		a = placed{Cell: c, Read: []string{c}, Writable: true, Reason: ReasonTable}
	}
	a.Disabled = md.cells[a.Cell].State == Disabled
	if md.shardSize > 1 {
		r := md.ring()
		home, _ := r.Index(a.Cell)
		idx, _ := r.ShardFrom(h, home, md.shardSize, nil)
		for _, i := range idx {
			a.Shard = append(a.Shard, r.Member(i).ID)
		}
	}
	return a
}

func locateAnswer(m *Map, key string) placed {
	a, err := m.Locate(key)
	return placed{Cell: a.Cell, Read: a.Read, Writable: a.Writable, Shard: a.Shard, Reason: a.Reason, Phase: a.Phase, Disabled: errors.Is(err, ErrCellDisabled)}
}

// An edit is one Builder edit and the same edit on the model, as its
// documentation says.
type edit struct {
	name  string
	key   string // the key the edit names, if any
	do    func(b *Builder) error
	model func(md *model, b *Builder)
}

func randomEdit(rng *rand.Rand, md *model, keys []string) edit {
	ids := slices.Sorted(maps.Keys(md.cells))
	cell := func() string {
		if rng.IntN(20) == 0 {
			return "zz" // not defined
		}
		return ids[rng.IntN(len(ids))]
	}
	key := func() string { return keys[rng.IntN(len(keys))] }
	migration := func() Migration {
		all := md.migrations()
		if len(all) == 0 || rng.IntN(8) == 0 {
			return Migration{Key: key()}
		}
		g := all[rng.IntN(len(all))]
		return Migration{Key: g.Key, Buckets: g.Buckets}
	}
	find := func(md *model, g Migration) (Migration, int) {
		if g.Key != "" {
			return md.keyMigs[g.Key], -1
		}
		i := slices.IndexFunc(md.bucketMigs, func(x Migration) bool { return x.Buckets == g.Buckets })
		return md.bucketMigs[i], i
	}
	put := func(md *model, g Migration, i int) {
		if g.Key != "" {
			md.keyMigs[g.Key] = g
		} else {
			md.bucketMigs[i] = g
		}
	}
	drop := func(md *model, g Migration, i int) {
		if g.Key != "" {
			delete(md.keyMigs, g.Key)
		} else {
			md.bucketMigs = slices.Delete(md.bucketMigs, i, i+1)
		}
	}
	switch rng.IntN(17) {
	case 0:
		k, c := key(), cell()
		return edit{"Pin " + k + " " + c, k, func(b *Builder) error { return b.Pin(k, c) },
			func(md *model, _ *Builder) { md.overrides[k] = c }}
	case 1:
		k := key()
		return edit{"Unpin " + k, k, func(b *Builder) error { return b.Unpin(k) },
			func(md *model, _ *Builder) { delete(md.overrides, k) }}
	case 2:
		k, c := key(), cell()
		return edit{"Quarantine " + k + " " + c, k, func(b *Builder) error { return b.Quarantine(k, c) },
			func(md *model, _ *Builder) { delete(md.keyMigs, k); md.overrides[k] = c }}
	case 3, 4:
		k, c := key(), cell()
		if len(md.bucketMigs) > 0 && rng.IntN(2) == 0 {
			// A key of a bucket that is migrating, maybe flipped.
			g := md.bucketMigs[rng.IntN(len(md.bucketMigs))]
			for i := 0; ; i++ {
				k = fmt.Sprintf("b-%d", i)
				if b := int(ring.Hash(md.seed, k) % uint64(md.buckets)); g.Buckets.Lo <= b && b <= g.Buckets.Hi {
					break
				}
			}
		}
		return edit{"MigrateKey " + k + " " + c, k, func(b *Builder) error { return b.MigrateKey(k, c) },
			func(md *model, _ *Builder) {
				from := md.locate(k).Cell // where Locate says the key lives now
				md.overrides[k] = from    // pinned to its data while it moves
				md.keyMigs[k] = Migration{Key: k, From: from, To: c, Phase: Copying}
			}}
	case 5:
		lo := rng.IntN(md.buckets)
		r, c := Range{lo, min(md.buckets-1, lo+rng.IntN(md.buckets/4+1))}, cell()
		return edit{"MigrateBuckets " + r.String() + " " + c, "", func(b *Builder) error { return b.MigrateBuckets(r, c) },
			func(md *model, _ *Builder) {
				// One migration a run of buckets of one owner, but c.
				var runs []Migration
				for bk := r.Lo; bk <= r.Hi; bk++ {
					from := md.table[bk]
					if from == c {
						continue
					}
					if n := len(runs); n > 0 && runs[n-1].From == from && runs[n-1].Buckets.Hi == bk-1 {
						runs[n-1].Buckets.Hi = bk
						continue
					}
					runs = append(runs, Migration{Buckets: Range{bk, bk}, From: from, To: c})
				}
				md.bucketMigs = append(md.bucketMigs, runs...)
			}}
	case 6, 7:
		g := migration()
		return edit{"Advance " + g.subject(), "", func(b *Builder) error { return b.Advance(g) },
			func(md *model, _ *Builder) {
				m, i := find(md, g)
				switch {
				case m.Phase < Flipped:
					m.Phase++
					put(md, m, i)
				case m.Key != "":
					drop(md, m, i)
					md.overrides[m.Key] = m.To
				default:
					drop(md, m, i)
					for bk := m.Buckets.Lo; bk <= m.Buckets.Hi; bk++ {
						md.table[bk] = m.To
					}
				}
			}}
	case 8:
		g := migration()
		return edit{"Rollback " + g.subject(), "", func(b *Builder) error { return b.Rollback(g) },
			func(md *model, _ *Builder) {
				m, i := find(md, g)
				switch {
				case m.Phase < Flipped:
					drop(md, m, i)
					if m.Key != "" {
						md.overrides[m.Key] = m.From // back on its data, pinned
					}
				default:
					if m.Key == "" {
						for bk := m.Buckets.Lo; bk <= m.Buckets.Hi; bk++ {
							md.table[bk] = m.To
						}
					} else {
						md.overrides[m.Key] = m.To
					}
					m.From, m.To, m.Phase = m.To, m.From, Copying
					put(md, m, i)
				}
			}}
	case 9:
		c := Cell{ID: fmt.Sprintf("n%d", rng.IntN(30)), Zone: fmt.Sprintf("az%d", rng.IntN(3)), Weight: []float64{0, 0.5, 1, 2}[rng.IntN(4)], State: State(rng.IntN(2))}
		// Weight 0 is refused (ErrWeight), leaving the draft as it was.
		return edit{"AddCell " + c.ID, "", func(b *Builder) error { return b.AddCell(c) },
			func(md *model, _ *Builder) { md.cells[c.ID] = c }}
	case 10:
		c := cell()
		return edit{"RemoveCell " + c, "", func(b *Builder) error { return b.RemoveCell(c) },
			func(md *model, _ *Builder) { delete(md.cells, c) }}
	case 11:
		c, s := cell(), State(rng.IntN(4))
		return edit{"SetState " + c + " " + s.String(), "", func(b *Builder) error { return b.SetState(c, s) },
			func(md *model, _ *Builder) { x := md.cells[c]; x.State = s; md.cells[c] = x }}
	case 12:
		c, w := cell(), []float64{0, 0.25, 1, 3, -1}[rng.IntN(5)]
		return edit{fmt.Sprintf("SetWeight %s %v", c, w), "", func(b *Builder) error { return b.SetWeight(c, w) },
			func(md *model, _ *Builder) { x := md.cells[c]; x.Weight = w; md.cells[c] = x }}
	case 13:
		return edit{"FreezeTable", "", func(b *Builder) error { return b.FreezeTable() },
			func(md *model, _ *Builder) {
				r := md.ring()
				md.table = make([]string, md.buckets)
				for bk := range md.table {
					md.table[bk] = r.Member(r.Owner(ring.BucketHash(bk))).ID
				}
			}}
	case 14:
		return edit{"Rebalance", "", func(b *Builder) error { _, err := b.Rebalance(); return err },
			func(md *model, b *Builder) {
				// The plan is ring.Table.Rebalance's; what the edit
				// documents is checked: bucket migrations only, copying,
				// from the table's cell to an active one.
				for _, g := range b.migs {
					if g.Key == "" && !slices.Contains(md.bucketMigs, g) {
						md.bucketMigs = append(md.bucketMigs, g)
					}
				}
			}}
	case 15:
		k := 1 + rng.IntN(3)
		return edit{fmt.Sprintf("SetShardSize %d", k), "", func(b *Builder) error { return b.SetShardSize(k) },
			func(md *model, _ *Builder) { md.shardSize = k }}
	default:
		c, z := cell(), fmt.Sprintf("az%d", rng.IntN(3))
		return edit{"SetZone " + c + " " + z, "", func(b *Builder) error { return b.SetZone(c, z) },
			func(md *model, _ *Builder) { x := md.cells[c]; x.Zone = z; md.cells[c] = x }}
	}
}

// randomMap builds a first map of 3 to 8 cells over 16 to 256 buckets, a
// derived or explicit table, and a few overrides.
func randomMap(t *testing.T, rng *rand.Rand) *Map {
	b := NewBuilder(nil)
	b.SetSeed(rng.Uint64())
	if err := b.SetBuckets([]int{16, 64, 256}[rng.IntN(3)]); err != nil {
		t.Fatal(err)
	}
	n := 3 + rng.IntN(6)
	for i := range n {
		c := Cell{ID: fmt.Sprintf("c%d", i), Zone: fmt.Sprintf("az%d", i%3), Weight: 1}
		if i >= 3 {
			c.Weight = []float64{0, 0.5, 1, 2}[rng.IntN(4)]
			c.State = State(rng.IntN(4))
		}
		w := c.Weight
		if w == 0 {
			c.Weight = 1 // AddCell wants a weight; SetWeight gives 0
		}
		if err := errors.Join(b.AddCell(c), b.SetWeight(c.ID, w)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetShardSize(1 + rng.IntN(2)); err != nil {
		t.Fatal(err)
	}
	if rng.IntN(2) == 0 {
		if err := b.FreezeTable(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range rng.IntN(4) {
		if err := b.Pin(fmt.Sprintf("tenant-%d", i), fmt.Sprintf("c%d", rng.IntN(3))); err != nil {
			t.Fatal(err)
		}
	}
	return mustBuild(t, b)
}

// TestBuilderProperty: random sequences of edits over random maps. After
// each accepted edit, Build succeeds exactly when the model says the
// document obeys the whole-document rules; the built map equals
// Parse(m.Bytes()); and every sampled key (the keys the edits touch, and
// others that only the table places) is where the model, which applies each
// edit as its documentation says, puts it. A refused edit leaves the draft
// as it was.
func TestBuilderProperty(t *testing.T) {
	seeds, steps := 24, 120
	if testing.Short() {
		seeds = 6
	}
	keys := make([]string, 12)
	for i := range keys {
		keys[i] = fmt.Sprintf("tenant-%d", i)
	}
	sample := slices.Clone(keys)
	for i := range 300 {
		sample = append(sample, fmt.Sprintf("k-%d", i))
	}
	accepted, refused, invalid := 0, 0, 0
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		last := randomMap(t, rng)
		b, md := NewBuilder(last), modelOf(t, last)
		var history []string
		for range steps {
			before, err := b.Build()
			if err != nil {
				t.Fatalf("seed %d: the draft does not build before an edit: %v", seed, err)
			}
			e := randomEdit(rng, md, keys)
			history = append(history, e.name)
			if e.key != "" && !slices.Contains(sample, e.key) {
				sample = append(sample, e.key)
			}
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("seed %d, edits %s:\n"+format, append([]any{seed, strings.Join(history, "; ")}, args...)...)
			}
			if err := e.do(b); err != nil {
				refused++
				if !matchesSentinel(err) {
					fail("%s: error %v matches no sentinel", e.name, err)
				}
				after, berr := b.Build()
				if berr != nil || string(after.Bytes()) != string(before.Bytes()) {
					fail("%s: refused (%v) but changed the draft", e.name, err)
				}
				continue
			}
			e.model(md, b)
			m, err := b.Build()
			if (err == nil) != md.valid() {
				fail("%s: Build error %v; the model says valid = %v", e.name, err, md.valid())
			}
			if err != nil {
				invalid++
				if !errors.Is(err, ErrNoEligible) && !errors.Is(err, ErrShardSize) && !errors.Is(err, ErrCellUse) {
					fail("%s: Build error %v", e.name, err)
				}
				b, md = NewBuilder(last), modelOf(t, last)
				history = append(history, "(start again from the last map)")
				continue
			}
			accepted++
			p, err := Parse(m.Bytes())
			if err != nil {
				fail("%s: Parse of the built map: %v\n%s", e.name, err, m.Bytes())
			}
			if mustMarshal(t, p) != mustMarshal(t, m) || !Diff(p, m).Empty() {
				fail("%s: Parse(m.Bytes()) differs from the built map", e.name)
			}
			for _, k := range sample {
				got, want := locateAnswer(m, k), md.locate(k)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					fail("%s: Locate(%q) = %+v; want %+v", e.name, k, got, want)
				}
				if !slices.Equal(locateAnswer(p, k).Read, got.Read) {
					fail("%s: Locate(%q) differs after Parse", e.name, k)
				}
			}
			if got, want := len(m.Migrations()), len(md.migrations()); got != want {
				fail("%s: %d migrations; the model has %d", e.name, got, want)
			}
			for _, g := range m.Migrations() {
				if g.Key == "" {
					for bk := g.Buckets.Lo; bk <= g.Buckets.Hi; bk++ {
						if o, _ := m.BucketOwner(bk); o != g.From {
							fail("%s: bucket %d of %+v belongs to %s", e.name, bk, g, o)
						}
					}
				}
			}
			last = m
		}
	}
	t.Logf("%d edits accepted, %d refused, %d built into invalid documents", accepted, refused, invalid)
	if accepted < seeds*steps/3 {
		t.Errorf("only %d edits accepted: the test explores too little", accepted)
	}
}

func matchesSentinel(err error) bool {
	for _, s := range append(sentinels, ErrNotFound, ErrEdit) {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
