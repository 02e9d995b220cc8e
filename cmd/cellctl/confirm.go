package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// awaitFlags are the flags of the commands that produce the next phase of
// a migration only once the previous one is confirmed: edit and publish.
type awaitFlags struct {
	on      bool
	timeout time.Duration
	path    string
	via     string // a target with confirmations of its own (etcd:…), or "": HTTP
}

func (a *awaitFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&a.on, "await-confirmed", false, "first wait until every cell of a migration that changes has confirmed the version it replaces")
	fs.DurationVar(&a.timeout, "confirm-timeout", 2*time.Minute, "with --await-confirmed, give up after `D`, naming the cells that have not confirmed")
	fs.StringVar(&a.path, "confirm-path", source.ConfirmedPath, "with --await-confirmed over HTTP, the `PATH` of each cell endpoint's confirmation handler")
	fs.StringVar(&a.via, "confirm-via", "", "with --await-confirmed, read the confirmations the cells write to `etcd:ENDPOINTS/PREFIX` (placement/etcdsource) instead of asking them over HTTP (default for publish to etcd: the target's)")
}

// awaitedResult is what --json prints of a wait.
type awaitedResult struct {
	Version uint64   `json:"version"` // the version the cells confirmed
	Cells   []string `json:"cells"`   // the cells waited for, sorted
}

// migrationCells returns the cells a change from prev to next concerns:
// the from and to cells of every migration that next adds, removes or
// moves to another phase (or another cell). Sorted, without duplicates.
func migrationCells(prev, next *placement.Map) []string {
	type entry = placement.Migration
	subject := func(g entry) string {
		if g.Key != "" {
			return "key " + g.Key
		}
		return "buckets " + g.Buckets.String()
	}
	before := map[string]entry{}
	for _, g := range prev.Migrations() {
		before[subject(g)] = g
	}
	var cells []string
	add := func(g entry) { cells = append(cells, g.From, g.To) }
	for _, g := range next.Migrations() {
		s := subject(g)
		old, ok := before[s]
		delete(before, s)
		if ok && old == g {
			continue
		}
		add(g)
		if ok {
			add(old)
		}
	}
	for _, old := range before { // ended (or rolled back to nothing)
		add(old)
	}
	slices.Sort(cells)
	return slices.Compact(cells)
}

// awaitPrevious waits until the cells that the change from prev to next
// concerns have confirmed prev's version, through the confirmations of via
// when it has its own (etcd), else over HTTP at each cell's endpoints in
// prev. It says what it waits for on w. With no
// migration changing, there is nothing to wait for. A timeout returns an
// error that names the cells that have not confirmed and matches
// source.ErrNotConfirmed.
func (a *awaitFlags) awaitPrevious(ctx context.Context, w io.Writer, via target, prev, next *placement.Map) (*awaitedResult, error) {
	cells := migrationCells(prev, next)
	res := &awaitedResult{Version: prev.Version(), Cells: cells}
	if len(cells) == 0 {
		fmt.Fprintf(w, "no migration changes from v%d to v%d: no confirmation to await\n", prev.Version(), next.Version())
		return res, nil
	}
	var c source.Confirmer
	how := "over HTTP"
	if ct, ok := via.(confirmingTarget); ok {
		cc, release, err := ct.confirmer(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
		c, how = cc, "at "+via.String()
	} else if via != nil && a.via != "" {
		return nil, usagef("--confirm-via %s: only etcd targets hold confirmations", a.via)
	} else {
		hc, err := source.NewHTTPConfirmer(source.Fixed(prev), source.HTTPConfirmerConfig{Path: a.path})
		if err != nil {
			return nil, usageError{err.Error()}
		}
		c = hc
	}
	fmt.Fprintf(w, "awaiting confirmation of v%d by %d cell(s) %s: %v\n", prev.Version(), len(cells), how, cells)
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	if err := c.AwaitConfirmed(ctx, prev.Version(), cells); err != nil {
		return nil, fmt.Errorf("cellctl: v%d not written: the cells of its migrations have not all confirmed v%d within %v: %w",
			next.Version(), prev.Version(), a.timeout, err)
	}
	fmt.Fprintf(w, "v%d confirmed by %v\n", prev.Version(), cells)
	return res, nil
}
