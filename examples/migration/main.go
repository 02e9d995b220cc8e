package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "migration:", err)
		os.Exit(1)
	}
}

// first is the fleet before the move: four cells in two zones, a derived
// table.
const first = `{
  "version": 1,
  "seed": "0x9e3779b97f4a7c15",
  "cells": [
    {"id": "c1", "zone": "az1", "endpoints": [{"url": "https://c1.cells.internal"}]},
    {"id": "c2", "zone": "az1", "endpoints": [{"url": "https://c2.cells.internal"}]},
    {"id": "c3", "zone": "az2", "endpoints": [{"url": "https://c3.cells.internal"}]},
    {"id": "c4", "zone": "az2", "endpoints": [{"url": "https://c4.cells.internal"}]}
  ]
}`

func run(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("migration", flag.ContinueOnError)
	fs.SetOutput(w)
	tenant := fs.String("tenant", "acme", "the tenant to move")
	to := fs.String("to", "c3", "the cell to move it to")
	dir := fs.String("dir", "", "publish each version to `dir`/map.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case *tenant == "":
		return errors.New("-tenant: want a tenant")
	}
	m, err := placement.Parse([]byte(first))
	if err != nil {
		return err
	}
	publish := func(m *placement.Map) error {
		if *dir == "" {
			return nil
		}
		return source.SaveFile(filepath.Join(*dir, "map.json"), m)
	}
	if err := publish(m); err != nil {
		return err
	}
	show(w, m, *tenant)

	// Each step is a new version built from the last one. Between steps a
	// real control plane waits until every cell serves the new version (and,
	// after frozen, until the final copy is done) before it goes on.
	steps := []struct {
		what string
		edit func(*placement.Builder) error
	}{
		{"start copying", func(b *placement.Builder) error { return b.MigrateKey(*tenant, *to) }},
		{"freeze writes", func(b *placement.Builder) error { return b.Advance(placement.Migration{Key: *tenant}) }},
		{"flip to the new cell", func(b *placement.Builder) error { return b.Advance(placement.Migration{Key: *tenant}) }},
		{"finish", func(b *placement.Builder) error { return b.Advance(placement.Migration{Key: *tenant}) }},
	}
	for _, s := range steps {
		b := placement.NewBuilder(m)
		if err := s.edit(b); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
		next, err := b.Build()
		if err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
		c := placement.Diff(m, next)
		fmt.Fprintf(w, "\n%s: %s\n", s.what, c)
		for _, km := range c.Moved([]string{*tenant}) {
			fmt.Fprintf(w, "    home of %s: %s → %s\n", km.Key, km.From, km.To)
		}
		if err := publish(next); err != nil {
			return err
		}
		m = next
		show(w, m, *tenant)
	}

	// Moving a tenant onto the cell it is on is refused, with an error that
	// says why.
	if err := placement.NewBuilder(m).MigrateKey(*tenant, *to); err != nil {
		fmt.Fprintf(w, "\nmoving %s to %s again: %v\n", *tenant, *to, err)
	} else {
		return errors.New("moving a tenant to its own cell was accepted")
	}
	return nil
}

// show prints where the tenant's writes and reads go in m.
func show(w io.Writer, m *placement.Map, tenant string) {
	a, err := m.Locate(tenant)
	if err != nil {
		fmt.Fprintf(w, "v%d  %s: %v\n", m.Version(), tenant, err)
		return
	}
	writes := a.Cell
	if !a.Writable {
		writes = "refused (frozen)"
	}
	phase := a.Reason.String()
	if a.Reason == placement.ReasonMigration {
		phase += " " + a.Phase.String()
	}
	fmt.Fprintf(w, "v%d  %s: writes → %s, reads → %v  (%s)\n", m.Version(), tenant, writes, a.Read, phase)
}
