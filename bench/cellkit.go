package bench

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/ring"
)

// seed is the key-hash seed of ring's impls and of the placement maps. With
// seed 0, ring.Hash(seed, key) is xxhash.Sum64String(key), the hash given to
// the peers that take one, so ring.Jump and go-jump see the same 64 bits.
const seed = 0

// tableBuckets is the bucket count of ring's table and of placement's
// derived table (placement.DefaultBuckets): ±1 bucket is ±0.6% at n = 100.
const tableBuckets = placement.DefaultBuckets

// NewRing returns a ring of equal weights over ids, member i in Zone(i).
func NewRing(ids []string) (*ring.Ring, error) {
	ms := make([]ring.Member, len(ids))
	for i, id := range ids {
		ms[i] = ring.Member{ID: id, Zone: Zone(i), Weight: 1}
	}
	return ring.New(ms)
}

// NewMap returns a placement map of the cells ids, cell i in Zone(i), with
// the default seed (0) and buckets (16,384) and shard size k. With a nil
// table the map's table is derived; otherwise it is explicit, bucket b homed
// on t's owner of b, as a control plane publishes a table it balanced with
// ring.NewBalancedTable and keeps balanced with Table.Rebalance.
func NewMap(ids []string, k int, t *ring.Table) (*placement.Map, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `{"version": 1, "shardSize": %d, "cells": [`, k)
	for i, id := range ids {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id": %q, "zone": %q}`, id, Zone(i))
	}
	b.WriteString("]")
	if t != nil {
		owners, r := t.Owners(), t.Ring()
		b.WriteString(`, "table": [`)
		for lo := 0; lo < len(owners); {
			hi := lo
			for hi+1 < len(owners) && owners[hi+1] == owners[lo] {
				hi++
			}
			if lo > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"buckets": "%d-%d", "cell": %q}`, lo, hi, r.Member(owners[lo]).ID)
			lo = hi + 1
		}
		b.WriteString("]")
	}
	b.WriteString("}")
	return placement.Parse([]byte(b.String()))
}

// balancedMap is a map of ids with the explicit table t (the balanced table
// of ids when t is nil), and that table.
func balancedMap(ids []string, k int, t *ring.Table) (*placement.Map, *ring.Table, error) {
	r, err := NewRing(ids)
	if err != nil {
		return nil, nil, err
	}
	if t == nil {
		t, err = ring.NewBalancedTable(r, tableBuckets)
	} else {
		t, _, err = t.Rebalance(r)
	}
	if err != nil {
		return nil, nil, err
	}
	m, err := NewMap(ids, k, t)
	return m, t, err
}

// ringOwners maps ring indexes to IDs.
func ringIDs(r *ring.Ring) []string {
	ids := make([]string, r.Len())
	for i := range ids {
		ids[i] = r.Member(i).ID
	}
	return ids
}

func buildRingOwner(ids []string) (*Owners, error) {
	r, err := NewRing(ids)
	if err != nil {
		return nil, err
	}
	byIndex := ringIDs(r)
	return &Owners{
		Owner: func(key string) string { return byIndex[r.Owner(ring.Hash(seed, key))] },
		Loop:  func(b *testing.B, keys []string) int { return ringOwnerLoop(b, r, keys) },
	}, nil
}

//go:noinline
func ringOwnerLoop(b *testing.B, r *ring.Ring, keys []string) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		s += r.Owner(ring.Hash(seed, keys[i&mask]))
		i++
	}
	return s
}

func buildRingTable(ids []string) (*Owners, error) {
	r, err := NewRing(ids)
	if err != nil {
		return nil, err
	}
	t, err := ring.NewBalancedTable(r, tableBuckets)
	if err != nil {
		return nil, err
	}
	return tableOwners(r, t), nil
}

// tableOwners is the lookup of table t over ring r; a membership change goes
// through t.Rebalance, as a control plane makes it.
func tableOwners(r *ring.Ring, t *ring.Table) *Owners {
	byIndex := ringIDs(r)
	return &Owners{
		Owner: func(key string) string { return byIndex[t.Owner(ring.Hash(seed, key))] },
		Loop:  func(b *testing.B, keys []string) int { return ringTableLoop(b, t, keys) },
		Next: func(ids []string) (*Owners, error) {
			r1, err := NewRing(ids)
			if err != nil {
				return nil, err
			}
			t1, _, err := t.Rebalance(r1)
			if err != nil {
				return nil, err
			}
			return tableOwners(r1, t1), nil
		},
	}
}

//go:noinline
func ringTableLoop(b *testing.B, t *ring.Table, keys []string) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		s += t.Owner(ring.Hash(seed, keys[i&mask]))
		i++
	}
	return s
}

func buildRingJump(ids []string) (*Owners, error) {
	n := len(ids)
	return &Owners{
		Owner: func(key string) string { return ids[ring.Jump(ring.Hash(seed, key), n)] },
		Loop:  func(b *testing.B, keys []string) int { return ringJumpLoop(b, n, keys) },
	}, nil
}

//go:noinline
func ringJumpLoop(b *testing.B, n int, keys []string) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		s += ring.Jump(ring.Hash(seed, keys[i&mask]), n)
		i++
	}
	return s
}

// buildLocate is Map.AppendLocate (into a buffer) over an explicit balanced table; a membership
// change rebalances the table with ring's planner, the fewest bucket moves.
func buildLocate(ids []string) (*Owners, error) { return locateOwners(ids, nil) }

func locateOwners(ids []string, prev *ring.Table) (*Owners, error) {
	m, t, err := balancedMap(ids, 1, prev)
	if err != nil {
		return nil, err
	}
	o := mapOwners(m)
	o.Next = func(ids []string) (*Owners, error) { return locateOwners(ids, t) }
	return o, nil
}

// buildLocateDerived is Map.AppendLocate over the derived table, a pure function
// of the cells: no control plane keeps it balanced.
func buildLocateDerived(ids []string) (*Owners, error) {
	m, err := NewMap(ids, 1, nil)
	if err != nil {
		return nil, err
	}
	return mapOwners(m), nil
}

func mapOwners(m *placement.Map) *Owners {
	return &Owners{
		Owner: func(key string) string {
			a, err := m.Locate(key)
			if err != nil {
				return ""
			}
			return a.Cell
		},
		Loop: func(b *testing.B, keys []string) int { return locateLoop(b, m, keys) },
	}
}

//go:noinline
func locateLoop(b *testing.B, m *placement.Map, keys []string) int {
	s, i, mask := 0, 0, len(keys)-1
	var buf [2]string // room for the read set: Locate with no allocation
	for b.Loop() {
		a, err := m.AppendLocate(buf[:0], keys[i&mask])
		if err != nil {
			b.Fatal(err)
		}
		s += a.Bucket
		i++
	}
	return s
}

func buildRingShard(ids []string, k int) (*Shards, error) {
	r, err := NewRing(ids)
	if err != nil {
		return nil, err
	}
	byIndex := ringIDs(r)
	return &Shards{
		Shard: func(key string) []string {
			var out []string
			for _, i := range r.Shard(ring.Hash(seed, key), k, nil) {
				out = append(out, byIndex[i])
			}
			return out
		},
		Loop: func(b *testing.B, keys []string) int { return ringShardLoop(b, r, k, keys) },
	}, nil
}

//go:noinline
func ringShardLoop(b *testing.B, r *ring.Ring, k int, keys []string) int {
	dst := make([]int, 0, k)
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		dst = r.Shard(ring.Hash(seed, keys[i&mask]), k, dst)
		s += dst[0]
		i++
	}
	return s
}

// buildLocateShard is Map.AppendLocate with shard size k over an explicit
// balanced table (the shard is ring.ShardFrom the key's home); a membership
// change rebalances the table.
func buildLocateShard(ids []string, k int) (*Shards, error) { return locateShards(ids, k, nil) }

func locateShards(ids []string, k int, prev *ring.Table) (*Shards, error) {
	m, t, err := balancedMap(ids, k, prev)
	if err != nil {
		return nil, err
	}
	return &Shards{
		Shard: func(key string) []string {
			shard, err := locateShard(m, nil, key)
			if err != nil {
				return nil
			}
			return shard
		},
		Loop: func(b *testing.B, keys []string) int { return locateShardLoop(b, m, k, keys) },
		Next: func(ids []string) (*Shards, error) { return locateShards(ids, k, t) },
	}, nil
}

//go:noinline
func locateShardLoop(b *testing.B, m *placement.Map, k int, keys []string) int {
	dst := make([]string, 0, 2*k) // room for Read and Shard alike
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		shard, err := locateShard(m, dst, keys[i&mask])
		if err != nil {
			b.Fatal(err)
		}
		s += len(shard[0])
		i++
	}
	return s
}
