package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/go-kit/log"
	"github.com/grafana/dskit/kv/consul"
	dskit "github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
)

const (
	// dskitTokens is the token count of every instance: the lifecycler's
	// default (-ingester.num-tokens 128).
	dskitTokens = 128
	// dskitReplicas is the replication factor, one replica per zone.
	dskitReplicas = 3
	// dskitCachedKeys is how many tenants the cached ShuffleShard rows
	// cycle through, their subrings built before timing: one subring per
	// tenant is tens of KB, so caching all KeyCount of them would hold
	// gigabytes.
	dskitCachedKeys = 1024
	dskitKey        = "ring"
)

// dskitFleet is a dskit ring without servers: an in-memory Consul KV holding
// a ring.Desc of ACTIVE instances, and a ring client watching it.
type dskitFleet struct {
	ring   *dskit.Ring
	closer func()
	tokens map[string][]uint32 // every instance's tokens, kept across Next
}

// dskitToken is the ring token of a key: dskit's ring takes a uint32 and
// leaves the key hash to its users; xxhash, as for the other peers.
func dskitToken(key string) uint32 { return uint32(xxhash.Sum64String(key)) }

// newDskitFleet registers ids in a new in-memory KV, instance i in Zone(i)
// with the tokens of prev for the IDs prev has and dskitTokens new random
// ones (seeded by the ID, so runs agree) for the others, and starts a ring
// client over it: zone-aware, replication factor 3, the default replication
// strategy, the subring cache on unless uncached.
// dskit's rows stop at n = 1000: generating 128 random tokens an instance,
// each checked against every token taken before, and registering the
// instances takes minutes at 10,000 on the 2-core VM, for every build of
// every pass.
const (
	dskitMaxN    = 1000
	dskitNoScale = "dskit is timed up to n = 1000: building its ring of 10,000 instances (128 tokens each) takes minutes a build here"
)

func newDskitFleet(ids []string, prev map[string][]uint32, uncached bool) (*dskitFleet, error) {
	tokens := make(map[string][]uint32, len(ids))
	var taken []uint32
	for _, id := range ids {
		if t, ok := prev[id]; ok {
			tokens[id] = t
			taken = append(taken, t...)
		}
	}
	for _, id := range ids {
		if _, ok := tokens[id]; ok {
			continue
		}
		g := dskit.NewRandomTokenGeneratorWithSeed(int64(xxhash.Sum64String(id)))
		t := g.GenerateTokens(dskitTokens, taken)
		tokens[id] = t
		taken = append(taken, t...)
	}

	logger := log.NewNopLogger()
	store, closer := consul.NewInMemoryClient(dskit.GetCodec(), logger, nil)
	desc := dskit.NewDesc()
	now := time.Now()
	for i, id := range ids {
		desc.AddIngester(id, fmt.Sprintf("10.0.%d.%d:9095", i/250, i%250), Zone(i), tokens[id], dskit.ACTIVE, now, false, time.Time{}, nil)
	}
	ctx := context.Background()
	err := store.CAS(ctx, dskitKey, func(any) (any, bool, error) { return desc, true, nil })
	if err != nil {
		closer.Close()
		return nil, fmt.Errorf("bench: dskit: writing the ring: %w", err)
	}
	cfg := dskit.Config{
		HeartbeatTimeout:     time.Hour, // heartbeats never arrive here
		ReplicationFactor:    dskitReplicas,
		ZoneAwarenessEnabled: true,
		SubringCacheDisabled: uncached,
	}
	r, err := dskit.NewWithStoreClientAndStrategy(cfg, "bench", dskitKey, store, dskit.NewDefaultReplicationStrategy(), nil, logger)
	if err == nil {
		err = services.StartAndAwaitRunning(ctx, r)
	}
	if err != nil {
		closer.Close()
		return nil, fmt.Errorf("bench: dskit: starting the ring: %w", err)
	}
	if got := r.InstancesCount(); got != len(ids) {
		closer.Close()
		return nil, fmt.Errorf("bench: dskit: ring has %d instances; want %d", got, len(ids))
	}
	return &dskitFleet{
		ring:   r,
		tokens: tokens,
		closer: func() {
			_ = services.StopAndAwaitTerminated(ctx, r)
			closer.Close()
		},
	}, nil
}

func dskitGetOwners(f *dskitFleet) *Owners {
	return &Owners{
		Owner: func(key string) string {
			set, err := f.ring.Get(dskitToken(key), dskit.Write, nil, nil, nil)
			if err != nil || len(set.Instances) == 0 {
				return ""
			}
			return set.Instances[0].Id // the first instance on the token walk
		},
		Loop: func(b *testing.B, keys []string) int { return dskitGetLoop(b, f.ring, keys) },
		Next: func(ids []string) (*Owners, error) {
			f1, err := newDskitFleet(ids, f.tokens, false)
			if err != nil {
				return nil, err
			}
			return dskitGetOwners(f1), nil
		},
		Close: f.closer,
	}
}

// buildDskitGet is the owner lookup of a dskit ring: Get with its 3
// replicas, one per zone (dskit has no single-owner lookup under zone
// awareness); the owner is the first instance of the token walk.
func buildDskitGet(ids []string) (*Owners, error) {
	f, err := newDskitFleet(ids, nil, false)
	if err != nil {
		return nil, err
	}
	return dskitGetOwners(f), nil
}

//go:noinline
func dskitGetLoop(b *testing.B, r *dskit.Ring, keys []string) int {
	bufDescs, bufHosts, bufZones := dskit.MakeBuffersForGet()
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		set, err := r.Get(dskitToken(keys[i&mask]), dskit.Write, bufDescs, bufHosts, bufZones)
		if err != nil {
			b.Fatal(err)
		}
		s += len(set.Instances)
		i++
	}
	return s
}

// buildDskitGetN is Get as a replica selection, at its replication factor
// only.
func buildDskitGetN(ids []string, k int) (*Shards, error) {
	if k != dskitReplicas {
		return nil, ErrUnsupported
	}
	f, err := newDskitFleet(ids, nil, false)
	if err != nil {
		return nil, err
	}
	return &Shards{
		Shard: func(key string) []string {
			set, err := f.ring.Get(dskitToken(key), dskit.Write, nil, nil, nil)
			if err != nil {
				return nil
			}
			return instanceIDs(set)
		},
		Loop:  func(b *testing.B, keys []string) int { return dskitGetLoop(b, f.ring, keys) },
		Close: f.closer,
	}, nil
}

func instanceIDs(set dskit.ReplicationSet) []string {
	ids := make([]string, len(set.Instances))
	for i, in := range set.Instances {
		ids[i] = in.Id
	}
	slices.Sort(ids)
	return ids
}

func dskitShardMembers(r *dskit.Ring, key string, k int) []string {
	set, err := r.ShuffleShard(key, k).GetAllHealthy(dskit.Reporting)
	if err != nil {
		return nil
	}
	return instanceIDs(set)
}

// buildDskitShuffle is ShuffleShard(key, k) with the subring cache off: the
// cost of a tenant's first request after a ring change, or of every request
// where the cache is disabled. dskit rounds k up to a multiple of the zone
// count: k = 4 over 3 zones returns 6 instances.
func buildDskitShuffle(ids []string, k int) (*Shards, error) {
	f, err := newDskitFleet(ids, nil, true)
	if err != nil {
		return nil, err
	}
	return &Shards{
		Shard: func(key string) []string { return dskitShardMembers(f.ring, key, k) },
		Loop:  func(b *testing.B, keys []string) int { return dskitShuffleLoop(b, f.ring, k, keys) },
		Close: f.closer,
	}, nil
}

// buildDskitShuffleCached is ShuffleShard(key, k) answered from the
// subring cache: the first dskitCachedKeys keys, their subrings built
// before timing.
func buildDskitShuffleCached(ids []string, k int) (*Shards, error) {
	f, err := newDskitFleet(ids, nil, false)
	if err != nil {
		return nil, err
	}
	return &Shards{
		Shard: func(key string) []string { return dskitShardMembers(f.ring, key, k) },
		Prepare: func(keys []string) {
			for _, key := range keys[:min(len(keys), dskitCachedKeys)] {
				f.ring.ShuffleShard(key, k)
			}
		},
		Loop: func(b *testing.B, keys []string) int {
			return dskitShuffleLoop(b, f.ring, k, keys[:min(len(keys), dskitCachedKeys)])
		},
		Close: f.closer,
	}, nil
}

//go:noinline
func dskitShuffleLoop(b *testing.B, r *dskit.Ring, k int, keys []string) int {
	var sub dskit.ReadRing
	i, mask := 0, len(keys)-1
	for b.Loop() {
		sub = r.ShuffleShard(keys[i&mask], k)
		i++
	}
	if sub == nil {
		return 0
	}
	return sub.InstancesCount()
}
