package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cellkit/cellkit/cmd/cellctl/internal/editlang"
	"github.com/cellkit/cellkit/placement"
)

var diffCmd = &command{
	name:    "diff",
	args:    "[--keys FILE] [--json] OLD NEW",
	summary: "show what changes from one map to the next",
	help: `Diff compares two maps: the cells added, removed and changed (and which of
their fields), the table's bucket moves for each pair of cells, the overrides
and migrations added, removed and changed, and the share of the key space
whose home cell changes. With --keys, it also lists which of the keys in FILE
(one a line; blank lines are skipped) change home, and from where to where,
with the full rules of Locate: overrides, migrations, table.`,
	examples: `cellctl diff v41.json v42.json
cellctl diff --keys tenants.txt v41.json v42.json
cellctl diff --json v41.json v42.json | jq .homeShare`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var d docFlags
		d.register(fs, true)
		keys := fs.String("keys", "", "list which keys of `FILE` (one a line) change home")
		asJSON := fs.Bool("json", false, "print the changes as JSON")
		return func(e *env, args []string) error {
			if len(args) != 2 {
				return usagef("diff needs two maps, OLD and NEW")
			}
			a, _, _, err := d.load(args[0])
			if err != nil {
				return err
			}
			b, _, _, err := d.load(args[1])
			if err != nil {
				return err
			}
			var ks []string
			if *keys != "" {
				if ks, err = readKeys(*keys); err != nil {
					return err
				}
			}
			c := diffOf(a, b, ks, *keys != "")
			if *asJSON {
				return writeJSON(e.stdout, c)
			}
			c.print(e.stdout)
			return nil
		}
	},
}

// readKeys reads one key a line, skipping blank lines.
func readKeys(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if k := strings.TrimRight(sc.Text(), "\r"); strings.TrimSpace(k) != "" {
			keys = append(keys, k)
		}
	}
	return keys, sc.Err()
}

// changes is a placement.Changes as cellctl prints it.
type changes struct {
	From              uint64            `json:"from"`
	To                uint64            `json:"to"`
	Summary           string            `json:"summary"`
	SeedChanged       bool              `json:"seedChanged"`
	BucketsChanged    bool              `json:"bucketsChanged"`
	ShardSizeChanged  bool              `json:"shardSizeChanged"`
	ExplicitChanged   bool              `json:"explicitChanged"`
	CellsAdded        []string          `json:"cellsAdded"`
	CellsRemoved      []string          `json:"cellsRemoved"`
	CellsChanged      []cellChange      `json:"cellsChanged"`
	Moves             []bucketMove      `json:"moves"`
	MovedBuckets      int               `json:"movedBuckets"`
	HomeShare         float64           `json:"homeShare"`
	OverridesAdded    []string          `json:"overridesAdded"`
	OverridesRemoved  []string          `json:"overridesRemoved"`
	OverridesChanged  []string          `json:"overridesChanged"`
	MigrationsAdded   []*migration      `json:"migrationsAdded"`
	MigrationsRemoved []*migration      `json:"migrationsRemoved"`
	MigrationsChanged []migrationChange `json:"migrationsChanged"`
	KeysChecked       *int              `json:"keysChecked,omitempty"`
	KeysMoved         []keyMove         `json:"keysMoved,omitempty"`

	a, b *placement.Map // for the overrides' cells in print
}

// keyMove is a placement.KeyMove; From or To is "" for no map.
type keyMove struct {
	Key  string `json:"key"`
	From string `json:"from"`
	To   string `json:"to"`
}

type cellChange struct {
	ID     string   `json:"id"`
	Fields []string `json:"fields"`
	Old    cellInfo `json:"old"`
	New    cellInfo `json:"new"`
}

type cellInfo struct {
	Zone      string            `json:"zone"`
	Weight    float64           `json:"weight"`
	State     string            `json:"state"`
	Endpoints []string          `json:"endpoints"`
	Labels    map[string]string `json:"labels,omitempty"`
}

func toCellInfo(c placement.Cell) cellInfo {
	ci := cellInfo{Zone: c.Zone, Weight: c.Weight, State: c.State.String(), Labels: c.Labels, Endpoints: []string{}}
	for _, ep := range c.Endpoints {
		ci.Endpoints = append(ci.Endpoints, editlang.FormatEndpoint(ep, c.Zone))
	}
	return ci
}

type bucketMove struct {
	From   string   `json:"from"`
	To     string   `json:"to"`
	Count  int      `json:"count"`
	Ranges []string `json:"ranges"`
}

type migrationChange struct {
	Old *migration `json:"old"`
	New *migration `json:"new"`
}

// diffOf compares a and b; with withKeys it also checks keys.
func diffOf(a, b *placement.Map, keys []string, withKeys bool) *changes {
	pc := placement.Diff(a, b)
	c := &changes{
		From: pc.From, To: pc.To, Summary: pc.String(),
		SeedChanged: pc.SeedChanged, BucketsChanged: pc.BucketsChanged,
		ShardSizeChanged: pc.ShardSizeChanged, ExplicitChanged: pc.ExplicitChanged,
		CellsAdded: nonNil(pc.Added), CellsRemoved: nonNil(pc.Removed), CellsChanged: []cellChange{},
		Moves: []bucketMove{}, MovedBuckets: pc.MovedBuckets, HomeShare: pc.HomeShare,
		OverridesAdded: nonNil(pc.OverridesAdded), OverridesRemoved: nonNil(pc.OverridesRemoved),
		OverridesChanged: nonNil(pc.OverridesChanged),
		MigrationsAdded:  []*migration{}, MigrationsRemoved: []*migration{}, MigrationsChanged: []migrationChange{},
		a: a, b: b,
	}
	for _, cc := range pc.Changed {
		c.CellsChanged = append(c.CellsChanged, cellChange{ID: cc.ID, Fields: cc.Fields, Old: toCellInfo(cc.Old), New: toCellInfo(cc.New)})
	}
	for _, mv := range pc.Moves {
		bm := bucketMove{From: mv.From, To: mv.To, Count: mv.Count}
		for _, r := range mv.Ranges {
			bm.Ranges = append(bm.Ranges, r.String())
		}
		c.Moves = append(c.Moves, bm)
	}
	for _, g := range pc.MigrationsAdded {
		c.MigrationsAdded = append(c.MigrationsAdded, toMigration(g))
	}
	for _, g := range pc.MigrationsRemoved {
		c.MigrationsRemoved = append(c.MigrationsRemoved, toMigration(g))
	}
	for _, g := range pc.MigrationsChanged {
		c.MigrationsChanged = append(c.MigrationsChanged, migrationChange{toMigration(g.Old), toMigration(g.New)})
	}
	if withKeys {
		n := len(keys)
		c.KeysChecked = &n
		c.KeysMoved = []keyMove{}
		for _, mv := range pc.Moved(keys) {
			c.KeysMoved = append(c.KeysMoved, keyMove(mv))
		}
	}
	return c
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// print writes the changes for people: the summary line, then one line per
// change.
func (c *changes) print(w io.Writer) {
	fmt.Fprintln(w, c.Summary)
	for _, id := range c.CellsAdded {
		fmt.Fprintf(w, "  + cell %s\n", id)
	}
	for _, id := range c.CellsRemoved {
		fmt.Fprintf(w, "  - cell %s\n", id)
	}
	for _, cc := range c.CellsChanged {
		var parts []string
		for _, f := range cc.Fields {
			switch f {
			case "zone":
				parts = append(parts, fmt.Sprintf("zone %s→%s", cc.Old.Zone, cc.New.Zone))
			case "weight":
				parts = append(parts, fmt.Sprintf("weight %v→%v", cc.Old.Weight, cc.New.Weight))
			case "state":
				parts = append(parts, fmt.Sprintf("state %s→%s", cc.Old.State, cc.New.State))
			case "endpoints":
				parts = append(parts, fmt.Sprintf("endpoints [%s]→[%s]", strings.Join(cc.Old.Endpoints, " "), strings.Join(cc.New.Endpoints, " ")))
			default:
				parts = append(parts, f+" changed")
			}
		}
		fmt.Fprintf(w, "  ~ cell %s: %s\n", cc.ID, strings.Join(parts, ", "))
	}
	for _, mv := range c.Moves {
		ranges := strings.Join(mv.Ranges, ",")
		if len(mv.Ranges) > 4 {
			ranges = strings.Join(mv.Ranges[:4], ",") + fmt.Sprintf(",… (%d ranges)", len(mv.Ranges))
		}
		fmt.Fprintf(w, "  buckets %s→%s: %d (%s)\n", mv.From, mv.To, mv.Count, ranges)
	}
	if c.HomeShare > 0 {
		fmt.Fprintf(w, "  keys changing home: %s\n", percent(c.HomeShare))
	}
	pinned := func(m *placement.Map, k string) string {
		if m == nil {
			return "?"
		}
		cell, _ := m.Override(k)
		return cell
	}
	for _, k := range c.OverridesAdded {
		fmt.Fprintf(w, "  + override %s → %s\n", quoteKey(k), pinned(c.b, k))
	}
	for _, k := range c.OverridesRemoved {
		fmt.Fprintf(w, "  - override %s (was → %s)\n", quoteKey(k), pinned(c.a, k))
	}
	for _, k := range c.OverridesChanged {
		fmt.Fprintf(w, "  ~ override %s: %s→%s\n", quoteKey(k), pinned(c.a, k), pinned(c.b, k))
	}
	for _, g := range c.MigrationsAdded {
		fmt.Fprintf(w, "  + migration %s\n", g)
	}
	for _, g := range c.MigrationsRemoved {
		fmt.Fprintf(w, "  - migration %s\n", g)
	}
	for _, g := range c.MigrationsChanged {
		if o, n := *g.Old, *g.New; o.From == n.From && o.To == n.To {
			o.Phase = o.Phase + "→" + n.Phase
			fmt.Fprintf(w, "  ~ migration %s\n", &o)
		} else {
			fmt.Fprintf(w, "  ~ migration %s → %s\n", g.Old, g.New)
		}
	}
	if c.KeysChecked != nil {
		fmt.Fprintf(w, "  %d of %d keys change home\n", len(c.KeysMoved), *c.KeysChecked)
		for _, k := range c.KeysMoved {
			fmt.Fprintf(w, "    %s: %s → %s\n", quoteKey(k.Key), orNone(k.From), orNone(k.To))
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// percent writes a share for people, never a misleading 0.00%.
func percent(f float64) string {
	switch p := 100 * f; {
	case p == 0:
		return "0%"
	case p < 0.01:
		return "<0.01%"
	default:
		return fmt.Sprintf("%.2f%%", p)
	}
}
