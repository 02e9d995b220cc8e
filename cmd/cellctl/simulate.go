package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/ring"
)

var simulateCmd = &command{
	name:    "simulate",
	args:    "[--fail CELL]... [--fail-zone Z]... [--poison KEY] [--keys N] [--json] FILE",
	summary: "estimate the blast radius of losing cells or of a poison tenant",
	help: `Simulate places N sample keys (key-0, key-1, …) in the map FILE and
reports, for the cells named by --fail and --fail-zone failing together:

  - the share of keys whose home cell is lost (their writes fail), beside
    the share of the table's buckets on those cells;
  - with shard size k > 1, the share of keys that lose every cell of their
    shuffle shard (stateless calls have nowhere to fail over), beside the
    hypergeometric expectation C(f,k)/C(n,k) for f failed cells out of n
    eligible ones with uniform shards in one zone (zone-spread shards do
    better when a whole zone fails), and the share that lose at least one
    member, beside 1 − C(n−f,k)/C(n,k).

With --poison KEY, a tenant whose requests crash the cells they reach: the
cells it takes down (its shard, or its home when k = 1), and the share of the
other sample keys that share its whole shard, beside 1/C(n,k), or any of its
cells, beside 1 − C(n−k,k)/C(n,k). Keys homed on a disabled cell are counted
apart: they fail already.`,
	examples: `cellctl simulate --fail c3 map.json
cellctl simulate --fail-zone az1 --keys 1000000 map.json
cellctl simulate --poison tenant-666 map.json
cellctl simulate --json --fail c1,c2 map.json | jq .shardLost`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var d docFlags
		d.register(fs, true)
		var fail, zones stringList
		fs.Var(&fail, "fail", "fail `CELL` (repeatable, or comma-separated)")
		fs.Var(&zones, "fail-zone", "fail every cell of zone `Z` (repeatable)")
		poison := fs.String("poison", "", "the poison tenant `KEY`")
		keys := fs.Int("keys", 100_000, "the number of sample keys `N`")
		asJSON := fs.Bool("json", false, "print the result as JSON")
		return func(e *env, args []string) error {
			if len(args) != 1 {
				return usagef("simulate needs one map FILE")
			}
			if len(fail) == 0 && len(zones) == 0 && *poison == "" {
				return usagef("name cells to fail (--fail, --fail-zone) or a --poison key")
			}
			if *keys < 1 || *keys > 100_000_000 {
				return usagef("--keys must be between 1 and 100000000, not %d", *keys)
			}
			m, _, _, err := d.load(args[0])
			if err != nil {
				return err
			}
			r, err := simulate(m, fail, zones, *poison, *poison != "", *keys)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(e.stdout, r)
			}
			r.print(e.stdout)
			return nil
		}
	},
}

// simulation is simulate's result. Shares are fractions of the sample keys.
type simulation struct {
	Version   uint64 `json:"version"`
	Cells     int    `json:"cells"`
	Eligible  int    `json:"eligible"` // active cells with positive weight: shard members
	ShardSize int    `json:"shardSize"`
	Keys      int    `json:"keys"`
	Disabled  int    `json:"keysOnDisabledCells"`

	Failed         []string `json:"failed,omitempty"`
	FailedEligible int      `json:"failedEligible,omitempty"`
	HomeLost       *float64 `json:"homeLost,omitempty"`
	TableShare     *float64 `json:"tableShare,omitempty"` // of buckets on failed cells
	ShardLost      *float64 `json:"shardLost,omitempty"`
	ShardLostExp   *float64 `json:"shardLostExpected,omitempty"`
	ShardHit       *float64 `json:"shardHit,omitempty"` // lose at least one member
	ShardHitExp    *float64 `json:"shardHitExpected,omitempty"`

	Poison *poisonResult `json:"poison,omitempty"`
}

type poisonResult struct {
	Key         string   `json:"key"`
	Cells       []string `json:"cells"`
	SameShard   float64  `json:"sameShard"`
	SameShardEx float64  `json:"sameShardExpected"`
	Touching    float64  `json:"touching"`
	TouchingEx  float64  `json:"touchingExpected"`
}

func simulate(m *placement.Map, fail, zones []string, poison string, withPoison bool, n int) (*simulation, error) {
	cells := m.Cells()
	k := m.ShardSize()
	s := &simulation{Version: m.Version(), Cells: len(cells), ShardSize: k, Keys: n}
	eligible := map[string]bool{}
	for _, c := range cells {
		if c.State == placement.Active && c.Weight > 0 {
			eligible[c.ID] = true
		}
	}
	s.Eligible = len(eligible)
	failed := map[string]bool{}
	for _, id := range fail {
		if _, ok := m.Cell(id); !ok {
			return nil, &placement.FieldError{Field: "--fail", Value: strconv.Quote(id), Err: placement.ErrUnknownCell, Detail: fmt.Sprintf("cell %q is not defined", id)}
		}
		failed[id] = true
	}
	for _, z := range zones {
		found := false
		for _, c := range cells {
			if c.Zone == z {
				failed[c.ID], found = true, true
			}
		}
		if !found {
			return nil, &placement.FieldError{Field: "--fail-zone", Value: strconv.Quote(z), Err: placement.ErrNotFound, Detail: fmt.Sprintf("no cell in zone %q", z)}
		}
	}
	for id := range failed {
		s.Failed = append(s.Failed, id)
		if eligible[id] {
			s.FailedEligible++
		}
	}
	slices.Sort(s.Failed)

	var poisonSet []string
	if withPoison {
		a, err := m.AppendLocate(nil, poison)
		if err != nil && !errors.Is(err, placement.ErrCellDisabled) {
			return nil, err
		}
		poisonSet = []string{a.Cell}
		if k > 1 && len(a.Shard) > 0 {
			poisonSet = slices.Clone(a.Shard)
		}
		s.Poison = &poisonResult{Key: poison, Cells: slices.Sorted(slices.Values(poisonSet))}
	}

	var homeLost, shardLost, shardHit, sameShard, touching, others int
	buf := make([]string, 0, k+2) // room for the read set and the shard
	for i := range n {
		key := "key-" + strconv.Itoa(i)
		a, err := m.AppendLocate(buf[:0], key)
		if err != nil {
			if !errors.Is(err, placement.ErrCellDisabled) {
				return nil, err
			}
			s.Disabled++
			continue
		}
		members := a.Shard
		if k == 1 || len(members) == 0 {
			members = []string{a.Cell}
		}
		if failed[a.Cell] {
			homeLost++
		}
		lost := 0
		for _, c := range members {
			if failed[c] {
				lost++
			}
		}
		if lost == len(members) {
			shardLost++
		}
		if lost > 0 {
			shardHit++
		}
		if withPoison && key != poison {
			others++
			common := 0
			for _, c := range members {
				if slices.Contains(poisonSet, c) {
					common++
				}
			}
			if common == len(members) {
				sameShard++
			}
			if common > 0 {
				touching++
			}
		}
	}
	share := func(x, of int) *float64 {
		f := 0.0
		if of > 0 {
			f = float64(x) / float64(of)
		}
		return &f
	}
	if len(failed) > 0 {
		s.HomeLost = share(homeLost, n)
		onFailed := 0
		for b := range m.Buckets() {
			if c, _ := m.BucketOwner(b); failed[c] {
				onFailed++
			}
		}
		s.TableShare = share(onFailed, m.Buckets())
		if k > 1 {
			s.ShardLost, s.ShardHit = share(shardLost, n), share(shardHit, n)
			e, f := s.Eligible, s.FailedEligible
			s.ShardLostExp = ratio(ring.Shards(f, k), ring.Shards(e, k))
			hit := 1 - *ratio(ring.Shards(e-f, k), ring.Shards(e, k))
			s.ShardHitExp = &hit
		}
	}
	if withPoison {
		p := s.Poison
		p.SameShard, p.Touching = *share(sameShard, others), *share(touching, others)
		e := s.Eligible
		p.SameShardEx = *ratio(big.NewInt(1), ring.Shards(e, k))
		p.TouchingEx = 1 - *ratio(ring.Shards(e-k, k), ring.Shards(e, k))
	}
	return s, nil
}

// ratio returns a/b as a float, 0 when b is 0.
func ratio(a, b *big.Int) *float64 {
	f := 0.0
	if b.Sign() != 0 {
		f, _ = new(big.Rat).SetFrac(a, b).Float64()
	}
	return &f
}

func (s *simulation) print(w io.Writer) {
	fmt.Fprintf(w, "v%d: %s, %d eligible, shard size %d; %d sample keys\n", s.Version, plural(s.Cells, "cell"), s.Eligible, s.ShardSize, s.Keys)
	if s.Disabled > 0 {
		fmt.Fprintf(w, "  %d keys already homed on disabled cells (left out)\n", s.Disabled)
	}
	if len(s.Failed) > 0 {
		fmt.Fprintf(w, "failing %s (%d of %d eligible cells)\n", strings.Join(s.Failed, ", "), s.FailedEligible, s.Eligible)
		fmt.Fprintf(w, "  home lost            %8s   (table: %s of buckets)\n", percent(*s.HomeLost), percent(*s.TableShare))
		if s.ShardLost != nil {
			f, e, k := s.FailedEligible, s.Eligible, s.ShardSize
			fmt.Fprintf(w, "  whole shard lost     %8s   (hypergeometric C(%d,%d)/C(%d,%d) = %s)\n", percent(*s.ShardLost), f, k, e, k, percent(*s.ShardLostExp))
			fmt.Fprintf(w, "  some member lost     %8s   (1 − C(%d,%d)/C(%d,%d) = %s)\n", percent(*s.ShardHit), e-f, k, e, k, percent(*s.ShardHitExp))
		}
	}
	if p := s.Poison; p != nil {
		what := "its home"
		if s.ShardSize > 1 {
			what = "its shard"
		}
		fmt.Fprintf(w, "poison %s takes down %s (%s)\n", quoteKey(p.Key), strings.Join(p.Cells, ", "), what)
		k, e := s.ShardSize, s.Eligible
		fmt.Fprintf(w, "  sharing all of them  %8s   (1/C(%d,%d) = %s)\n", percent(p.SameShard), e, k, percent(p.SameShardEx))
		fmt.Fprintf(w, "  sharing any of them  %8s   (1 − C(%d,%d)/C(%d,%d) = %s)\n", percent(p.Touching), e-k, k, e, k, percent(p.TouchingEx))
	}
}
