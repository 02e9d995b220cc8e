package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cellkit/cellkit/placement"
)

var drainCmd = &command{
	name:    "drain",
	args:    "--steps N -o DIR [--json] FILE CELL|zone=Z",
	summary: "write the versions that move traffic off cells in weight steps",
	help: `Drain writes the series of versions that moves the derived placement off a
cell, or off every active cell of a zone, in N weight steps: step i sets each
drained cell's weight to its weight × (N−i)/N, and the last step sets it to 0
and the cell's state to draining. Each step is the next version of the one
before, written to DIR/step-I.json, and printed with its diff, so that the
operator publishes them in order and watches each one settle.

Weights move only derived placement: a map with an explicit table is refused
(drain it with 'edit … rebalance' and the migrations' 'advance'). Overrides
and migrations that name the drained cells are not moved; drain lists them.
Every step is built before any is written: a refused step writes nothing.`,
	examples: `cellctl drain --steps 3 -o drain-az1 map.json zone=az1
cellctl publish drain-az1/step-1.json --to file:/srv/placement/map.json
cellctl drain --steps 4 -o drain-c3 map.json c3`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var d docFlags
		d.register(fs, true)
		steps := fs.Int("steps", 0, "the number of weight `N` steps (required, at least 1)")
		out := fs.String("o", "", "write the steps to `DIR` (required; created if missing)")
		asJSON := fs.Bool("json", false, "print the steps as JSON")
		return func(e *env, args []string) error {
			if len(args) != 2 {
				return usagef("drain needs a map FILE and a CELL or zone=Z")
			}
			if *steps < 1 || *steps > 1000 {
				return usagef("--steps must be between 1 and 1000, not %d", *steps)
			}
			if *out == "" {
				return usagef("-o DIR is required")
			}
			base, _, _, err := d.load(args[0])
			if err != nil {
				return err
			}
			return drain(e, base, d.lim, args[1], *steps, *out, *asJSON)
		}
	},
}

// drainTargets returns the cells a drain names, with their weights: the
// cell, or the active cells of the zone with positive weight.
func drainTargets(m *placement.Map, what string) ([]placement.Cell, error) {
	var out []placement.Cell
	if zone, ok := strings.CutPrefix(what, "zone="); ok {
		n := 0
		for _, c := range m.Cells() {
			if c.Zone != zone {
				continue
			}
			n++
			if c.State == placement.Active && c.Weight > 0 {
				out = append(out, c)
			}
		}
		if n == 0 {
			return nil, &placement.FieldError{Field: "cells", Value: fmt.Sprintf("%q", zone), Err: placement.ErrNotFound, Detail: fmt.Sprintf("no cell in zone %q", zone)}
		}
		if len(out) == 0 {
			return nil, &placement.FieldError{Field: "cells", Value: fmt.Sprintf("%q", zone), Err: placement.ErrEdit, Detail: fmt.Sprintf("no active cell with positive weight in zone %q: nothing to drain", zone)}
		}
		return out, nil
	}
	c, ok := m.Cell(what)
	if !ok {
		return nil, &placement.FieldError{Field: "cells", Value: fmt.Sprintf("%q", what), Err: placement.ErrUnknownCell, Detail: fmt.Sprintf("cell %q is not defined", what)}
	}
	if c.State != placement.Active || c.Weight == 0 {
		return nil, &placement.FieldError{Field: "cells", Value: fmt.Sprintf("%q", what), Err: placement.ErrEdit, Detail: fmt.Sprintf("cell %q is %s with weight %v: nothing to drain", what, c.State, c.Weight)}
	}
	return []placement.Cell{c}, nil
}

func drain(e *env, base *placement.Map, lim placement.Limits, what string, steps int, dir string, asJSON bool) error {
	if base.Explicit() {
		return &placement.FieldError{Field: "table", Err: placement.ErrEdit,
			Detail: "the table is explicit, so weights move no bucket: drain it with 'edit FILE rebalance' and advance the migrations"}
	}
	cells, err := drainTargets(base, what)
	if err != nil {
		return err
	}
	var results []editResult
	var maps []*placement.Map
	prev := base
	for i := 1; i <= steps; i++ {
		b := placement.NewBuilderWith(prev, lim)
		for _, c := range cells {
			// Four decimals keep the documents readable; the last step is 0.
			w := math.Round(c.Weight*float64(steps-i)/float64(steps)*1e4) / 1e4
			if err := b.SetWeight(c.ID, w); err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
			if i == steps {
				if err := b.SetState(c.ID, placement.Draining); err != nil {
					return fmt.Errorf("step %d: %w", i, err)
				}
			}
		}
		next, err := b.Build()
		if err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		results = append(results, editResult{
			Version: next.Version(),
			File:    filepath.Join(dir, fmt.Sprintf("step-%d.json", i)),
			Changes: diffOf(prev, next, nil, false),
		})
		maps = append(maps, next)
		prev = next
	}
	last := &results[len(results)-1]
	last.Notes = remaining(prev, cells)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, m := range maps {
		if err := saveDoc(results[i].File, m.Bytes(), nil); err != nil {
			return err
		}
	}
	if asJSON {
		return writeJSON(e.stdout, results)
	}
	ids := make([]string, len(cells))
	for i, c := range cells {
		ids[i] = c.ID
	}
	fmt.Fprintf(e.stdout, "draining %s in %d steps, v%d to v%d\n", strings.Join(ids, ", "), steps, results[0].Version, last.Version)
	for i, r := range results {
		fmt.Fprintf(e.stdout, "step %d: %s: ", i+1, r.File)
		r.Changes.print(e.stdout)
		for _, n := range r.Notes {
			fmt.Fprintf(e.stdout, "  note: %s\n", n)
		}
	}
	return nil
}

// remaining describes what a drain leaves on the cells: overrides and
// migrations that still name them.
func remaining(m *placement.Map, cells []placement.Cell) []string {
	var notes []string
	drained := func(id string) bool {
		return slices.ContainsFunc(cells, func(c placement.Cell) bool { return c.ID == id })
	}
	for _, g := range m.Migrations() {
		if drained(g.From) || drained(g.To) {
			notes = append(notes, "migration "+toMigration(g).String()+" still names a drained cell")
		}
	}
	const maxListed = 10
	pinned := 0
	for _, k := range placement.Diff(nil, m).OverridesAdded {
		if c, _ := m.Override(k); drained(c) {
			if pinned++; pinned <= maxListed {
				notes = append(notes, fmt.Sprintf("override %s still pins a key to %s (a draining cell keeps its pinned keys)", quoteKey(k), c))
			}
		}
	}
	if pinned > maxListed {
		notes = append(notes, fmt.Sprintf("and %d more overrides pin keys to the drained cells", pinned-maxListed))
	}
	return notes
}
