package placement

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// diffDoc is a placement document that tests edit before parsing it.
type diffDoc struct {
	Version    uint64            `json:"version"`
	Seed       string            `json:"seed,omitempty"`
	Buckets    int               `json:"buckets,omitempty"`
	ShardSize  int               `json:"shardSize,omitempty"`
	Cells      []diffCell        `json:"cells"`
	Table      []diffRange       `json:"table,omitempty"`
	Overrides  map[string]string `json:"overrides,omitempty"`
	Migrations []diffMig         `json:"migrations,omitempty"`
}

type diffCell struct {
	ID        string            `json:"id"`
	Zone      string            `json:"zone"`
	Weight    float64           `json:"weight"`
	State     string            `json:"state,omitempty"`
	Endpoints []diffEndpoint    `json:"endpoints,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

type diffEndpoint struct {
	URL  string `json:"url"`
	Zone string `json:"zone"`
}

type diffRange struct {
	Buckets string `json:"buckets"`
	Cell    string `json:"cell"`
}

type diffMig struct {
	Key     string `json:"key,omitempty"`
	Buckets string `json:"buckets,omitempty"`
	From    string `json:"from"`
	To      string `json:"to"`
	Phase   string `json:"phase"`
}

func diffParse(t testing.TB, d *diffDoc) *Map {
	t.Helper()
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, data)
	}
	return m
}

// diffBase is four cells of 16 buckets each in an explicit table of 64, two
// overrides and two migrations.
func diffBase() *diffDoc {
	d := &diffDoc{Version: 1, Seed: "0x1", Buckets: 64}
	for i, zone := range []string{"az1", "az2", "az3", "az1"} {
		id := fmt.Sprintf("c%d", i+1)
		d.Cells = append(d.Cells, diffCell{ID: id, Zone: zone, Weight: 1,
			Endpoints: []diffEndpoint{{"https://" + id + ".a:8443", zone}, {"https://" + id + ".b:8443", zone}}})
		d.Table = append(d.Table, diffRange{fmt.Sprintf("%d-%d", 16*i, 16*i+15), id})
	}
	d.Overrides = map[string]string{"k1": "c1", "k2": "c2"}
	d.Migrations = []diffMig{
		{Key: "m525", From: "c1", To: "c2", Phase: "copying"},
		{Buckets: "0-3", From: "c1", To: "c2", Phase: "copying"},
	}
	return d
}

func diffTable(ranges ...string) []diffRange {
	var t []diffRange
	for i := 0; i < len(ranges); i += 2 {
		t = append(t, diffRange{ranges[i], ranges[i+1]})
	}
	return t
}

func TestDiff(t *testing.T) {
	bucketMig := func(phase string) Migration {
		p, _ := ParsePhase(phase)
		return Migration{Buckets: Range{0, 3}, From: "c1", To: "c2", Phase: p}
	}
	tests := []struct {
		name string
		old  func(d *diffDoc) // edits the old document, when not nil
		edit func(d *diffDoc) // edits the new document
		want Changes          // From and To are set by the test
	}{
		{name: "version only", edit: func(d *diffDoc) {}},
		{
			name: "cell added",
			edit: func(d *diffDoc) { d.Cells = append(d.Cells, diffCell{ID: "c5", Zone: "az2", Weight: 1}) },
			want: Changes{Added: []string{"c5"}},
		},
		{
			// c0 sorts first and shifts every cell index.
			name: "cell added first",
			edit: func(d *diffDoc) { d.Cells = append(d.Cells, diffCell{ID: "c0", Zone: "az2", Weight: 1}) },
			want: Changes{Added: []string{"c0"}},
		},
		{
			name: "cell removed",
			edit: func(d *diffDoc) {
				d.Cells = d.Cells[:3]
				d.Table[3].Cell = "c3"
			},
			want: Changes{
				Removed:      []string{"c4"},
				Moves:        []BucketMove{{From: "c4", To: "c3", Count: 16, Ranges: []Range{{48, 63}}}},
				MovedBuckets: 16,
				HomeShare:    0.25,
			},
		},
		{
			name: "zone and state",
			edit: func(d *diffDoc) { d.Cells[2].Zone, d.Cells[2].State = "az9", "draining" },
			want: Changes{Changed: []CellChange{{ID: "c3", Fields: []string{"zone", "state"}}}},
		},
		{
			name: "weight, endpoints and labels",
			edit: func(d *diffDoc) {
				d.Cells[1].Weight = 2
				d.Cells[1].Endpoints[0].URL = "https://c2.new:8443"
				d.Cells[1].Labels = map[string]string{"wave": "2"}
			},
			want: Changes{Changed: []CellChange{{ID: "c2", Fields: []string{"weight", "endpoints", "labels"}}}},
		},
		{
			name: "endpoint order",
			edit: func(d *diffDoc) { slices.Reverse(d.Cells[0].Endpoints) },
			want: Changes{Changed: []CellChange{{ID: "c1", Fields: []string{"endpoints"}}}},
		},
		{
			name: "label value",
			old:  func(d *diffDoc) { d.Cells[3].Labels = map[string]string{"wave": "1", "tier": "a"} },
			edit: func(d *diffDoc) { d.Cells[3].Labels = map[string]string{"wave": "1", "tier": "b"} },
			want: Changes{Changed: []CellChange{{ID: "c4", Fields: []string{"labels"}}}},
		},
		{
			name: "buckets moved",
			edit: func(d *diffDoc) {
				d.Table = diffTable("0-7", "c1", "8-9", "c2", "10-11", "c1", "12-13", "c2", "14-15", "c3",
					"16-17", "c3", "18-31", "c2", "32-47", "c3", "48-59", "c4", "60-63", "c2")
			},
			want: Changes{
				Moves: []BucketMove{
					{From: "c1", To: "c2", Count: 4, Ranges: []Range{{8, 9}, {12, 13}}},
					{From: "c1", To: "c3", Count: 2, Ranges: []Range{{14, 15}}},
					{From: "c2", To: "c3", Count: 2, Ranges: []Range{{16, 17}}},
					{From: "c4", To: "c2", Count: 4, Ranges: []Range{{60, 63}}},
				},
				MovedBuckets: 12,
				HomeShare:    12.0 / 64,
			},
		},
		{
			// A key's buckets under two seeds are independent: it stays
			// with probability Σ (1/4)².
			name: "seed",
			edit: func(d *diffDoc) { d.Seed = "0x2" },
			want: Changes{SeedChanged: true, HomeShare: 0.75},
		},
		{
			name: "seed and table",
			edit: func(d *diffDoc) {
				d.Seed = "2"
				d.Table = diffTable("0-31", "c1", "32-47", "c2", "48-63", "c3")
			},
			want: Changes{
				SeedChanged: true,
				Moves: []BucketMove{
					{From: "c2", To: "c1", Count: 16, Ranges: []Range{{16, 31}}},
					{From: "c3", To: "c2", Count: 16, Ranges: []Range{{32, 47}}},
					{From: "c4", To: "c3", Count: 16, Ranges: []Range{{48, 63}}},
				},
				MovedBuckets: 48,
				HomeShare:    1 - (1.0/4*1/2 + 1.0/4*1/4 + 1.0/4*1/4),
			},
		},
		{
			// Bucket b of 64 splits into b and b+64 of 128 on the same
			// cell: no key moves.
			name: "buckets split",
			edit: func(d *diffDoc) {
				d.Buckets = 128
				d.Table = diffTable("0-15", "c1", "16-31", "c2", "32-47", "c3", "48-63", "c4",
					"64-79", "c1", "80-95", "c2", "96-111", "c3", "112-127", "c4")
			},
			want: Changes{BucketsChanged: true},
		},
		{
			// Bucket x of 64 becomes x or x+64 of 128; each cell keeps
			// half of one of its quarters.
			name: "buckets stretched",
			edit: func(d *diffDoc) {
				d.Buckets = 128
				d.Table = diffTable("0-31", "c1", "32-63", "c2", "64-95", "c3", "96-127", "c4")
			},
			want: Changes{BucketsChanged: true, HomeShare: 0.75},
		},
		{
			name: "shard size",
			edit: func(d *diffDoc) { d.ShardSize = 2 },
			want: Changes{ShardSizeChanged: true},
		},
		{
			name: "overrides",
			edit: func(d *diffDoc) { d.Overrides = map[string]string{"k1": "c3", "k3": "c1", "k4": "c4"} },
			want: Changes{OverridesAdded: []string{"k3", "k4"}, OverridesRemoved: []string{"k2"}, OverridesChanged: []string{"k1"}},
		},
		{
			name: "overrides added",
			old:  func(d *diffDoc) { d.Overrides = nil },
			edit: func(d *diffDoc) { d.Overrides = diffBase().Overrides },
			want: Changes{OverridesAdded: []string{"k1", "k2"}},
		},
		{
			name: "migrations",
			edit: func(d *diffDoc) {
				d.Migrations = []diffMig{
					{Buckets: "0-5", From: "c1", To: "c2", Phase: "copying"},
					{Key: "m525", From: "c1", To: "c2", Phase: "frozen"},
					{Key: "m5", From: "c2", To: "c3", Phase: "copying"},
				}
			},
			want: Changes{
				MigrationsAdded: []Migration{
					{Key: "m5", From: "c2", To: "c3", Phase: Copying},
					{Buckets: Range{0, 5}, From: "c1", To: "c2", Phase: Copying},
				},
				MigrationsRemoved: []Migration{bucketMig("copying")},
				MigrationsChanged: []MigrationChange{{
					Old: Migration{Key: "m525", From: "c1", To: "c2", Phase: Copying},
					New: Migration{Key: "m525", From: "c1", To: "c2", Phase: Frozen},
				}},
			},
		},
		{
			name: "migration target",
			edit: func(d *diffDoc) { d.Migrations[0].To = "c3" },
			want: Changes{MigrationsChanged: []MigrationChange{{
				Old: Migration{Key: "m525", From: "c1", To: "c2", Phase: Copying},
				New: Migration{Key: "m525", From: "c1", To: "c3", Phase: Copying},
			}}},
		},
		{
			// The flip moves the keys of buckets 0-3; the table does not
			// change.
			name: "bucket migration flipped",
			edit: func(d *diffDoc) { d.Migrations[1].Phase = "flipped" },
			want: Changes{
				MigrationsChanged: []MigrationChange{{Old: bucketMig("copying"), New: bucketMig("flipped")}},
				HomeShare:         4.0 / 64,
			},
		},
		{
			// Finishing the migration moves the table, not the keys.
			name: "bucket migration done",
			old:  func(d *diffDoc) { d.Migrations[1].Phase = "flipped" },
			edit: func(d *diffDoc) {
				d.Migrations = d.Migrations[:1]
				d.Table = append(diffTable("0-3", "c2", "4-15", "c1"), d.Table[1:]...)
			},
			want: Changes{
				Moves:             []BucketMove{{From: "c1", To: "c2", Count: 4, Ranges: []Range{{0, 3}}}},
				MovedBuckets:      4,
				MigrationsRemoved: []Migration{bucketMig("flipped")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := diffBase()
			if tt.old != nil {
				tt.old(old)
			}
			doc := diffBase()
			doc.Version = 2
			if tt.old != nil {
				tt.old(doc)
			}
			tt.edit(doc)
			a, b := diffParse(t, old), diffParse(t, doc)
			got := Diff(a, b)
			want := tt.want
			want.From, want.To, want.a, want.b = 1, 2, a, b
			for i := range want.Changed {
				want.Changed[i].Old, _ = a.Cell(want.Changed[i].ID)
				want.Changed[i].New, _ = b.Cell(want.Changed[i].ID)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Diff =\n%#v\nwant\n%#v", got, want)
			}
			if got.Empty() != reflect.DeepEqual(tt.want, Changes{}) {
				t.Errorf("Empty() = %v for %s", got.Empty(), got)
			}
		})
	}
}

func TestDiffSelf(t *testing.T) {
	derived := diffBase()
	derived.Table, derived.Migrations = nil, derived.Migrations[:1]
	for name, data := range map[string][]byte{
		"explicit": diffMust(json.Marshal(diffBase())),
		"derived":  diffMust(json.Marshal(derived)),
		"arch":     diffMust(os.ReadFile("testdata/arch-example.json")),
	} {
		m, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		twin, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []Changes{Diff(m, m), Diff(m, twin)} {
			if !c.Empty() {
				t.Errorf("%s: Diff with itself = %v; want empty", name, c)
			}
			if got := c.Moved([]string{"tenant-42", "tenant-7", "k1", "m525", "x"}); got != nil {
				t.Errorf("%s: Moved = %v; want none", name, got)
			}
			if want := fmt.Sprintf("v%d→v%d: no changes", m.Version(), m.Version()); c.String() != want {
				t.Errorf("%s: String() = %q; want %q", name, c.String(), want)
			}
		}
	}
}

func diffMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestDiffMissing(t *testing.T) {
	b := diffParse(t, diffBase())
	tests := []struct {
		name string
		got  Changes
		want string
	}{
		{"nil, nil", Diff(nil, nil), "none→none: no changes"},
		{"zero, zero", Diff(&Map{}, new(Map)), "none→none: no changes"},
		{"nil, b", Diff(nil, b), "none→v1: +4 cells, 100.00% of keys change home, +2 overrides, +2 migrations"},
		{"zero, b", Diff(&Map{}, b), "none→v1: +4 cells, 100.00% of keys change home, +2 overrides, +2 migrations"},
		{"b, nil", Diff(b, nil), "v1→none: -4 cells, 100.00% of keys change home, -2 overrides, -2 migrations"},
	}
	for _, tt := range tests {
		if got := tt.got.String(); got != tt.want {
			t.Errorf("%s: String() = %q; want %q", tt.name, got, tt.want)
		}
	}
	c := Diff(nil, b)
	if !slices.Equal(c.Added, []string{"c1", "c2", "c3", "c4"}) || len(c.Moves) != 0 || c.HomeShare != 1 ||
		!slices.Equal(c.OverridesAdded, []string{"k1", "k2"}) || len(c.MigrationsAdded) != 2 || c.From != 0 || c.To != 1 {
		t.Errorf("Diff(nil, b) = %#v", c)
	}
	if got, want := c.Moved([]string{"k1"}), []KeyMove{{"k1", "", "c1"}}; !slices.Equal(got, want) {
		t.Errorf("Diff(nil, b).Moved = %v; want %v", got, want)
	}
	if got, want := Diff(b, nil).Moved([]string{"k2"}), []KeyMove{{"k2", "c2", ""}}; !slices.Equal(got, want) {
		t.Errorf("Diff(b, nil).Moved = %v; want %v", got, want)
	}
	if got := Diff(nil, nil).Moved([]string{"k1"}); got != nil {
		t.Errorf("Diff(nil, nil).Moved = %v; want none", got)
	}
}

func TestDiffMoved(t *testing.T) {
	a := diffParse(t, diffBase())
	k5, k20, k40, k50 := diffKeyIn(t, a, 5), diffKeyIn(t, a, 20), diffKeyIn(t, a, 40), diffKeyIn(t, a, 50)
	doc := diffBase()
	doc.Version = 2
	doc.Cells[3].State = "disabled"
	doc.Overrides = map[string]string{"k1": "c4", "k2": "c2", k5: "c3"}
	doc.Migrations[0].Phase = "flipped"
	doc.Table = diffTable("0-15", "c1", "16-31", "c3", "32-47", "c3", "48-63", "c4")
	b := diffParse(t, doc)
	keys := []string{"k1", "k2", k5, "m525", k20, k40, k50, "k1"}
	want := []KeyMove{
		{"k1", "c1", "c4"},   // pinned to a disabled cell: still its home
		{k5, "c1", "c3"},     // pinned
		{"m525", "c1", "c2"}, // flipped
		{k20, "c2", "c3"},    // table
		{"k1", "c1", "c4"},   // asked twice, reported twice
	}
	got := Diff(a, b).Moved(keys)
	if !slices.Equal(got, want) {
		t.Errorf("Moved(%q) =\n%v\nwant\n%v", keys, got, want)
	}
	if got := Diff(a, b).Moved(nil); got != nil {
		t.Errorf("Moved(nil) = %v; want none", got)
	}
}

// diffKeyIn returns a key that falls in bucket b of m.
func diffKeyIn(t *testing.T, m *Map, b int) string {
	t.Helper()
	for i := range 100_000 {
		k := fmt.Sprintf("t%d", i)
		if asg, _ := m.Locate(k); asg.Bucket == b {
			return k
		}
	}
	t.Fatalf("no key in bucket %d", b)
	return ""
}

func TestDiffExplicit(t *testing.T) {
	doc := diffBase()
	doc.Table, doc.Migrations = nil, nil
	a := diffParse(t, doc)
	doc.Version = 2
	for _, r := range a.Table() {
		doc.Table = append(doc.Table, diffRange{r.Range.String(), r.Cell})
	}
	b := diffParse(t, doc)
	if c := Diff(a, b); !c.ExplicitChanged || c.Empty() || c.MovedBuckets != 0 || c.HomeShare != 0 ||
		c.String() != "v1→v2: table now explicit" {
		t.Errorf("Diff(derived, explicit) = %v, %#v", c, c)
	}
	if got, want := Diff(b, a).String(), "v2→v1: table now derived"; got != want {
		t.Errorf("Diff(explicit, derived) = %q; want %q", got, want)
	}
}

func TestDiffString(t *testing.T) {
	doc := diffBase()
	a := diffParse(t, doc)
	doc.Version = 42
	doc.Seed = "0x7"
	doc.Buckets = 128
	doc.ShardSize = 3
	doc.Table = diffTable("0-127", "c1")
	doc.Cells = append(doc.Cells[:3], diffCell{ID: "c5", Zone: "az1", Weight: 1}, diffCell{ID: "c6", Zone: "az2", Weight: 1})
	doc.Cells[1].Weight = 3
	doc.Overrides = map[string]string{"k1": "c2", "k3": "c1", "k4": "c1"}
	doc.Migrations = nil
	b := diffParse(t, doc)
	want := "v1→v42: seed changed, buckets 64→128, shardSize 1→3, +2 cells, -1 cell, 1 cell changed, " +
		"75.00% of keys change home, +2 overrides, -1 override, 1 override changed, -2 migrations"
	if got := Diff(a, b).String(); got != want {
		t.Errorf("String() =\n%q\nwant\n%q", got, want)
	}
	for _, tt := range []struct {
		share float64
		want  string
	}{{1, "100.00%"}, {0.0098876953125, "0.99%"}, {1.0 / 16384, "<0.01%"}, {0.0002, "0.02%"}} {
		if got := percent(tt.share); got != tt.want {
			t.Errorf("percent(%v) = %q; want %q", tt.share, got, tt.want)
		}
	}
}

// diffRandDoc builds a random document in a small space, so that documents
// share cells, keys and buckets. Each part of the document draws from its own
// seed: a document made with one seed changed differs from the original in
// that part only (and in what depends on it).
func diffRandDoc(version uint64, seeds *[diffParts]uint64, keys []string) *diffDoc {
	rng := func(part int) *rand.Rand { return rand.New(rand.NewPCG(seeds[part], uint64(part))) }
	r := rng(0)
	d := &diffDoc{Version: version, Seed: fmt.Sprint(1 + r.IntN(2)), Buckets: []int{1, 7, 64, 100, 128}[r.IntN(5)]}
	shard := r.IntN(3)
	states := []string{"active", "active", "active", "draining", "disabled", "canary"}
	d.Cells = []diffCell{{ID: "c0", Zone: "az0", Weight: 1}}
	placeable := []string{"c0"} // cells a table or migration may name
	eligible := 1
	for i := 1; i <= 5; i++ {
		r := rng(i)
		if r.IntN(4) == 0 {
			continue
		}
		c := diffCell{ID: fmt.Sprintf("c%d", i), Zone: fmt.Sprintf("az%d", r.IntN(3)), Weight: float64(r.IntN(3)), State: states[r.IntN(len(states))]}
		if r.IntN(3) == 0 {
			c.Endpoints = []diffEndpoint{{fmt.Sprintf("https://c%d.%d", i, r.IntN(2)), c.Zone}}
		}
		if r.IntN(3) == 0 {
			c.Labels = map[string]string{"wave": fmt.Sprint(r.IntN(2))}
		}
		d.Cells = append(d.Cells, c)
		if c.State != "canary" {
			placeable = append(placeable, c.ID)
		}
		if c.State == "active" && c.Weight > 0 {
			eligible++
		}
	}
	d.ShardSize = 1 + shard%eligible
	if r := rng(6); r.IntN(3) > 0 {
		// Runs of random length, sometimes one cell for everything.
		for lo := 0; lo < d.Buckets; {
			hi := min(d.Buckets-1, lo+r.IntN(d.Buckets))
			d.Table = append(d.Table, diffRange{fmt.Sprintf("%d-%d", lo, hi), placeable[r.IntN(len(placeable))]})
			lo = hi + 1
		}
	}
	r = rng(7)
	d.Overrides = map[string]string{}
	for _, k := range keys[:10] {
		if r.IntN(2) == 0 {
			d.Overrides[k] = d.Cells[r.IntN(len(d.Cells))].ID
		}
	}
	r = rng(8)
	for _, k := range keys[5:] {
		if _, pinned := d.Overrides[k]; pinned || r.IntN(3) > 0 {
			continue
		}
		from, to := placeable[r.IntN(len(placeable))], placeable[r.IntN(len(placeable))]
		if from != to {
			// Pinned to its data: a key migration's From is the key's home.
			d.Overrides[k] = from
			d.Migrations = append(d.Migrations, diffMig{Key: k, From: from, To: to, Phase: phaseNames[r.IntN(3)]})
		}
	}
	r = rng(9)
	for _, t := range d.Table {
		rg, _ := ParseRange(t.Buckets)
		to := placeable[r.IntN(len(placeable))]
		if r.IntN(2) == 0 && to != t.Cell {
			lo := rg.Lo + r.IntN(rg.Len())
			hi := lo + r.IntN(rg.Hi-lo+1)
			d.Migrations = append(d.Migrations, diffMig{Buckets: Range{lo, hi}.String(), From: t.Cell, To: to, Phase: phaseNames[r.IntN(3)]})
		}
	}
	return d
}

// diffParts are the parts of a random document: globals, five cells, table,
// overrides, key migrations, bucket migrations.
const diffParts = 10

// diffNaive is Diff's meaning written out the slow way, through exported
// methods only.
func diffNaive(a, b *Map, keys []string) Changes {
	c := Changes{From: a.Version(), To: b.Version(), a: a, b: b}
	c.SeedChanged = a.Seed() != b.Seed()
	c.BucketsChanged = a.Buckets() != b.Buckets()
	c.ShardSizeChanged = a.ShardSize() != b.ShardSize()
	c.ExplicitChanged = a.Explicit() != b.Explicit()
	for _, x := range a.Cells() {
		y, ok := b.Cell(x.ID)
		if !ok {
			c.Removed = append(c.Removed, x.ID)
			continue
		}
		var f []string
		for _, name := range []string{"zone", "weight", "state", "endpoints", "labels"} {
			var same bool
			switch name {
			case "zone":
				same = x.Zone == y.Zone
			case "weight":
				same = x.Weight == y.Weight
			case "state":
				same = x.State == y.State
			case "endpoints":
				same = reflect.DeepEqual(x.Endpoints, y.Endpoints)
			case "labels":
				same = len(x.Labels) == 0 && len(y.Labels) == 0 || reflect.DeepEqual(x.Labels, y.Labels)
			}
			if !same {
				f = append(f, name)
			}
		}
		if f != nil {
			c.Changed = append(c.Changed, CellChange{x.ID, f, x, y})
		}
	}
	for _, y := range b.Cells() {
		if _, ok := a.Cell(y.ID); !ok {
			c.Added = append(c.Added, y.ID)
		}
	}
	if !c.BucketsChanged {
		for bk := range a.Buckets() {
			from, _ := a.BucketOwner(bk)
			to, _ := b.BucketOwner(bk)
			if from == to {
				continue
			}
			c.MovedBuckets++
			i := slices.IndexFunc(c.Moves, func(m BucketMove) bool { return m.From == from && m.To == to })
			if i < 0 {
				i = len(c.Moves)
				c.Moves = append(c.Moves, BucketMove{From: from, To: to})
			}
			mv := &c.Moves[i]
			mv.Count++
			if n := len(mv.Ranges); n > 0 && mv.Ranges[n-1].Hi == bk-1 {
				mv.Ranges[n-1].Hi = bk
				continue
			}
			mv.Ranges = append(mv.Ranges, Range{bk, bk})
		}
		slices.SortFunc(c.Moves, func(x, y BucketMove) int {
			return strings.Compare(x.From+"\x00"+x.To, y.From+"\x00"+y.To)
		})
	}
	for _, k := range keys {
		x, inA := a.Override(k)
		y, inB := b.Override(k)
		switch {
		case inA && !inB:
			c.OverridesRemoved = append(c.OverridesRemoved, k)
		case !inA && inB:
			c.OverridesAdded = append(c.OverridesAdded, k)
		case inA && x != y:
			c.OverridesChanged = append(c.OverridesChanged, k)
		}
	}
	slices.Sort(c.OverridesAdded)
	slices.Sort(c.OverridesRemoved)
	slices.Sort(c.OverridesChanged)
	subject := func(g Migration) string { return g.Key + "/" + g.Buckets.String() }
	ma, mb := map[string]Migration{}, map[string]Migration{}
	for _, g := range a.Migrations() {
		ma[subject(g)] = g
	}
	for _, g := range b.Migrations() {
		mb[subject(g)] = g
		if old, ok := ma[subject(g)]; !ok {
			c.MigrationsAdded = append(c.MigrationsAdded, g)
		} else if old != g {
			c.MigrationsChanged = append(c.MigrationsChanged, MigrationChange{old, g})
		}
	}
	for _, g := range a.Migrations() {
		if _, ok := mb[subject(g)]; !ok {
			c.MigrationsRemoved = append(c.MigrationsRemoved, g)
		}
	}
	c.HomeShare = naiveHomeShare(a, b)
	return c
}

// naiveHomeShare enumerates every class of hashes mod lcm(Ba, Bb) under the
// same seed, and every pair of buckets under different seeds.
func naiveHomeShare(a, b *Map) float64 {
	home := func(m *Map, bk int) string {
		for _, g := range m.Migrations() {
			if g.Key == "" && g.Phase == Flipped && g.Buckets.Lo <= bk && bk <= g.Buckets.Hi {
				return g.To
			}
		}
		c, _ := m.BucketOwner(bk)
		return c
	}
	na, nb := a.Buckets(), b.Buckets()
	same, all := 0, 0
	if a.Seed() == b.Seed() {
		for h := range na / gcd(na, nb) * nb {
			all++
			if home(a, h%na) == home(b, h%nb) {
				same++
			}
		}
	} else {
		for x := range na {
			for y := range nb {
				all++
				if home(a, x) == home(b, y) {
					same++
				}
			}
		}
	}
	return 1 - float64(same)/float64(all)
}

// TestDiffNaive checks Diff against diffNaive, Moved against Locate, Empty
// against the canonical documents, and HomeShare against random keys.
func TestDiffNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var keys []string
	for i := range 20 {
		keys = append(keys, fmt.Sprintf("key-%d", i))
	}
	probe := slices.Clone(keys)
	for i := range 2000 {
		probe = append(probe, fmt.Sprintf("probe-%d", i))
	}
	for i := range 300 {
		// b redraws up to three parts of a; every tenth pair compares a
		// map with itself, and the next with its reparsed twin.
		var seeds [diffParts]uint64
		for p := range seeds {
			seeds[p] = r.Uint64()
		}
		a := diffParse(t, diffRandDoc(1, &seeds, keys))
		for range r.IntN(4) {
			seeds[r.IntN(diffParts)] = r.Uint64()
		}
		b := diffParse(t, diffRandDoc(2, &seeds, keys))
		switch i % 10 {
		case 0:
			b = a
		case 1:
			b = diffMust(Parse(diffMust(a.MarshalJSON())))
		}
		got := Diff(a, b)
		want := diffNaive(a, b, keys)
		if math.Abs(got.HomeShare-want.HomeShare) < 1e-12 {
			want.HomeShare = got.HomeShare
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("pair %d: Diff =\n%#v\nwant\n%#v", i, got, want)
		}

		moved := got.Moved(probe)
		var wantMoved []KeyMove
		stay := 0
		for _, k := range probe {
			x, _ := a.Locate(k)
			y, _ := b.Locate(k)
			if x.Cell != y.Cell {
				wantMoved = append(wantMoved, KeyMove{k, x.Cell, y.Cell})
			} else if !strings.HasPrefix(k, "key-") {
				stay++
			}
		}
		if !slices.Equal(moved, wantMoved) {
			t.Fatalf("pair %d: Moved =\n%v\nwant\n%v", i, moved, wantMoved)
		}
		if share := 1 - float64(stay)/2000; math.Abs(share-got.HomeShare) > 0.06 {
			t.Errorf("pair %d: %.3f of random keys moved; HomeShare = %.3f", i, share, got.HomeShare)
		}

		ja, jb := diffMust(a.MarshalJSON()), diffMust(b.MarshalJSON())
		ja = bytes.Replace(ja, fmt.Appendf(nil, `"version": %d,`, a.Version()), []byte(`"version": 0,`), 1)
		jb = bytes.Replace(jb, fmt.Appendf(nil, `"version": %d,`, b.Version()), []byte(`"version": 0,`), 1)
		if got.Empty() != bytes.Equal(ja, jb) {
			t.Errorf("pair %d: Empty() = %v; documents equal: %v", i, got.Empty(), bytes.Equal(ja, jb))
		}

		back := Diff(b, a)
		if !slices.Equal(back.Added, got.Removed) || !slices.Equal(back.OverridesRemoved, got.OverridesAdded) ||
			back.MovedBuckets != got.MovedBuckets || math.Abs(back.HomeShare-got.HomeShare) > 1e-12 {
			t.Errorf("pair %d: Diff(b, a) = %v; Diff(a, b) = %v", i, back, got)
		}
	}
}

// FuzzDiff diffs two arbitrary documents. Its seeds are small (a few
// hundred bytes, 8 to 16 buckets) and it parses with fuzzLimits, so that
// the fuzzer spends its time executing, not minimising: the large and
// varied pairs are TestDiffNaive's.
func FuzzDiff(f *testing.F) {
	small := []string{
		`{"version":1,"buckets":8,"cells":[{"id":"a"},{"id":"b","zone":"z"}],"overrides":{"k":"a"}}`,
		`{"version":2,"seed":"9","buckets":16,"shardSize":2,"cells":[{"id":"a","weight":2},{"id":"b","zone":"z"},{"id":"c","state":"draining"}]}`,
		`{"version":3,"buckets":8,"cells":[{"id":"a"},{"id":"b"},{"id":"c","state":"disabled"}],"table":[{"buckets":"0-3","cell":"a"},{"buckets":"4-7","cell":"b"}],` +
			`"overrides":{"m":"a","k":"c"},"migrations":[{"key":"m","from":"a","to":"b","phase":"flipped"},{"buckets":"0-1","from":"a","to":"c","phase":"copying"}]}`,
	}
	for _, x := range small {
		for _, y := range small {
			f.Add([]byte(x), []byte(y))
		}
	}
	f.Fuzz(func(t *testing.T, x, y []byte) {
		a, errA := ParseWith(x, Options{Limits: fuzzLimits})
		b, errB := ParseWith(y, Options{Limits: fuzzLimits})
		if errA != nil {
			a = nil
		}
		if errB != nil {
			b = nil
		}
		c := Diff(a, b)
		_ = c.String()
		_ = c.Moved([]string{"tenant-42", "k1", ""})
		if c.HomeShare < 0 || c.HomeShare > 1 || math.IsNaN(c.HomeShare) {
			t.Errorf("HomeShare = %v", c.HomeShare)
		}
		n := 0
		for _, mv := range c.Moves {
			n += mv.Count
		}
		if n != c.MovedBuckets {
			t.Errorf("MovedBuckets = %d; Moves count %d", c.MovedBuckets, n)
		}
		if a != nil && !Diff(a, a).Empty() {
			t.Errorf("Diff(a, a) is not empty")
		}
	})
}

// diffFleet is n cells over three zones, with a derived table or, when
// explicit, that table written out.
func diffFleet(b *testing.B, version uint64, n int, explicit bool, overrides map[string]string) *Map {
	d := &diffDoc{Version: version, Seed: "0x9e3779b97f4a7c15", Overrides: overrides}
	for i := range n {
		zone := fmt.Sprintf("az%d", i%3)
		d.Cells = append(d.Cells, diffCell{ID: fmt.Sprintf("cell-%03d", i), Zone: zone, Weight: 1,
			Endpoints: []diffEndpoint{{fmt.Sprintf("https://cell-%03d.internal:8443", i), zone}}})
	}
	m := diffParse(b, d)
	if !explicit {
		return m
	}
	for _, r := range m.Table() {
		d.Table = append(d.Table, diffRange{r.Range.String(), r.Cell})
	}
	return diffParse(b, d)
}

func BenchmarkDiff(b *testing.B) {
	b.Run("cells=100/derived", func(b *testing.B) {
		x, y := diffFleet(b, 1, 100, false, nil), diffFleet(b, 2, 101, false, nil)
		benchDiff(b, x, y)
	})
	b.Run("cells=100/derived/seed", func(b *testing.B) {
		x := diffFleet(b, 1, 100, false, nil)
		y := diffParse(b, &diffDoc{Version: 2, Seed: "7", Cells: []diffCell{{ID: "cell-000", Zone: "az0", Weight: 1}}})
		benchDiff(b, x, y)
	})
	b.Run("cells=100/explicit/overrides=100000", func(b *testing.B) {
		r := rand.New(rand.NewPCG(3, 4))
		pins := func(changed int) map[string]string {
			o := make(map[string]string, 100_000)
			for i := range 100_000 {
				c := i % 100
				if i < changed {
					c = r.IntN(100)
				}
				o[fmt.Sprintf("tenant-%06d", i)] = fmt.Sprintf("cell-%03d", c)
			}
			return o
		}
		// The new map moves about 1% of the buckets to a new cell, and
		// repins about 1% of the keys.
		x := diffFleet(b, 1, 100, true, pins(0))
		y := diffFleet(b, 2, 101, true, pins(1000))
		benchDiff(b, x, y)
	})
}

func benchDiff(b *testing.B, x, y *Map) {
	b.ReportAllocs()
	var c Changes
	for b.Loop() {
		c = Diff(x, y)
	}
	b.ReportMetric(float64(c.MovedBuckets), "buckets")
	b.ReportMetric(float64(len(c.OverridesChanged)), "overrides")
}
