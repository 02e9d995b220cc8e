// Command shardstats shows what shuffle sharding buys: for a fleet of cells
// in zones, it prints how evenly tenants spread, how often two tenants share
// cells next to the hypergeometric law, how many tenants a poison tenant
// takes down with it, and how many keys move when a cell is added.
//
//	go run ./examples/shardstats -cells 100 -zones 3 -k 4 -tenants 100000
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/cellkit/cellkit/ring"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "shardstats:", err)
		os.Exit(2)
	}
}

type config struct {
	cells, zones, k, tenants int
	seed                     uint64
}

func run(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("shardstats", flag.ContinueOnError)
	fs.SetOutput(w)
	var c config
	fs.IntVar(&c.cells, "cells", 100, "number of cells")
	fs.IntVar(&c.zones, "zones", 3, "number of zones the cells spread over")
	fs.IntVar(&c.k, "k", 4, "shard size: cells per tenant")
	fs.IntVar(&c.tenants, "tenants", 100000, "number of tenants")
	fs.Uint64Var(&c.seed, "seed", 0x9e3779b97f4a7c15, "key hash seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case c.cells < 1 || c.cells > 100000:
		return errors.New("-cells must be in [1, 100000]")
	case c.zones < 1 || c.zones > c.cells:
		return errors.New("-zones must be in [1, cells]")
	case c.k < 1 || c.k > c.cells:
		return errors.New("-k must be in [1, cells]")
	case c.tenants < 2 || c.tenants > 10_000_000:
		return errors.New("-tenants must be in [2, 10000000]")
	}
	return report(c, w)
}

func cells(n, zones int) []ring.Member {
	ms := make([]ring.Member, n)
	for i := range ms {
		ms[i] = ring.Member{ID: fmt.Sprintf("cell-%03d", i), Zone: fmt.Sprintf("az%d", i%zones), Weight: 1}
	}
	return ms
}

func report(c config, w io.Writer) error {
	members := cells(c.cells, c.zones)
	r, err := ring.New(members)
	if err != nil {
		return err
	}
	hashes := make([]uint64, c.tenants)
	shards := make([][]int, c.tenants)
	slots := make([]int, c.cells)
	for i := range hashes {
		hashes[i] = ring.Hash(c.seed, fmt.Sprintf("tenant-%d", i))
		shards[i] = r.Shard(hashes[i], c.k, nil)
		for _, m := range shards[i] {
			slots[m]++
		}
	}
	fmt.Fprintf(w, "%d cells in %d zones, shards of %d, %d tenants\n\n", c.cells, c.zones, c.k, c.tenants)
	fmt.Fprintf(w, "balance: shard slots peak/mean %.3f (min %d, max %d per cell)\n", peakOverMean(slots), slices.Min(slots), slices.Max(slots))

	// Overlap of random pairs of tenants.
	rng := rand.New(rand.NewPCG(c.seed, 1))
	pairs := min(200000, c.tenants*(c.tenants-1)/2)
	hist := make([]int, c.k+1)
	for range pairs {
		a := rng.IntN(c.tenants)
		b := rng.IntN(c.tenants - 1)
		if b >= a {
			b++
		}
		hist[overlap(shards[a], shards[b])]++
	}
	fmt.Fprintf(w, "\noverlap of %d random tenant pairs (law: one zone, uniform shards)\n", pairs)
	fmt.Fprintf(w, "%8s %12s %12s\n", "shared", "observed", "law")
	for o, n := range hist {
		fmt.Fprintf(w, "%8d %11.4f%% %11.4f%%\n", o, 100*float64(n)/float64(pairs), 100*ring.Overlap(c.cells, c.k, o))
	}

	// A poison tenant takes out its cells: who loses everything?
	dead := map[int]bool{}
	for _, m := range shards[0] {
		dead[m] = true
	}
	lostAll, hit := 0, 0
	for i := 1; i < c.tenants; i++ {
		n := 0
		for _, m := range shards[i] {
			if dead[m] {
				n++
			}
		}
		if n == len(shards[i]) {
			lostAll++
		}
		if n > 0 {
			hit++
		}
	}
	fmt.Fprintf(w, "\npoison tenant takes out its %d cells: %.4f%% of tenants lose every cell (1/C(n,k) = %.6f%%), %.2f%% lose at least one\n",
		len(shards[0]), 100*float64(lostAll)/float64(c.tenants-1), 100/combinations(c.cells, c.k), 100*float64(hit)/float64(c.tenants-1))

	// One cell joins.
	grown, err := ring.New(append(members, ring.Member{ID: "cell-new", Zone: "az0", Weight: 1}))
	if err != nil {
		return err
	}
	ownerMoved, changed := 0, 0
	var buf []int
	for i, h := range hashes {
		if r.Member(r.Owner(h)).ID != grown.Member(grown.Owner(h)).ID {
			ownerMoved++
		}
		buf = grown.Shard(h, c.k, buf)
		for _, m := range shards[i] {
			if !slices.ContainsFunc(buf, func(x int) bool { return grown.Member(x).ID == r.Member(m).ID }) {
				changed++
			}
		}
	}
	fmt.Fprintf(w, "\none cell added: %.3f%% of tenants change home (ideal 1/(n+1) = %.3f%%), %.4f shard members change per tenant\n",
		100*float64(ownerMoved)/float64(c.tenants), 100/float64(c.cells+1), float64(changed)/float64(c.tenants))
	return nil
}

func overlap(a, b []int) int {
	n := 0
	for _, x := range a {
		if slices.Contains(b, x) {
			n++
		}
	}
	return n
}

func peakOverMean(counts []int) float64 {
	sum := 0
	for _, c := range counts {
		sum += c
	}
	return float64(slices.Max(counts)) / (float64(sum) / float64(len(counts)))
}

// combinations returns C(n, k) as a float64.
func combinations(n, k int) float64 {
	f, _ := new(big.Float).SetInt(ring.Shards(n, k)).Float64()
	return f
}
