package ring

import (
	"cmp"
	"slices"
)

// This file is the plain reference the package is tested against: it ranks
// every member with the full score and sorts, in O(n log n), with none of the
// shortcuts of the real code (no integer fast path, no lower-bound filter, no
// water level, no partial selection).

type naiveMember struct {
	Member
	x uint64
	q float64
}

// naiveRank returns the members with positive weight in rank order for h.
func naiveRank(members []Member, h uint64) []naiveMember {
	var out []naiveMember
	for _, m := range members {
		if m.Weight > 0 {
			x := mix(h ^ Hash(memberSeed, m.ID))
			out = append(out, naiveMember{m, x, expScore(x) / m.Weight})
		}
	}
	slices.SortFunc(out, func(a, b naiveMember) int {
		if c := cmp.Compare(a.q, b.q); c != 0 {
			return c
		}
		if c := cmp.Compare(b.x, a.x); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

func naiveOwner(members []Member, h uint64) string {
	return naiveRank(members, h)[0].ID
}

// naiveShard returns the IDs of the shard of h around home (the owner when
// home is nil), k of them at most.
func naiveShard(members []Member, h uint64, home *Member, k int) []string {
	ranked := naiveRank(members, h)
	if home == nil {
		home = &ranked[0].Member
	}
	cols := map[string][]string{home.Zone: {home.ID}}
	for _, m := range ranked {
		if m.ID != home.ID {
			cols[m.Zone] = append(cols[m.Zone], m.ID)
		}
	}
	var zones []string
	for z := range cols {
		if z != home.Zone {
			zones = append(zones, z)
		}
	}
	slices.SortFunc(zones, func(a, b string) int {
		ka, kb := mix(h^Hash(zoneSeed, a)), mix(h^Hash(zoneSeed, b))
		if c := cmp.Compare(kb, ka); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	zones = append([]string{home.Zone}, zones...)
	var out []string
	for round := 0; len(out) < k; round++ {
		added := false
		for _, z := range zones {
			if round < len(cols[z]) && len(out) < k {
				out = append(out, cols[z][round])
				added = true
			}
		}
		if !added {
			break
		}
	}
	return out
}
