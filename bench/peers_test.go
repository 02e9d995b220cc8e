package bench

import (
	"fmt"
	"slices"
	"testing"

	buraksezer "github.com/buraksezer/consistent"
	"github.com/cellkit/cellkit/ring"
	"github.com/cespare/xxhash/v2"
	jump "github.com/dgryski/go-jump"
	rendezvous "github.com/dgryski/go-rendezvous"
	"github.com/golang/groupcache/consistenthash"
	"github.com/kkdai/maglev"
	"github.com/serialx/hashring"
	stathat "github.com/stathat/consistent"
)

// seed is the key-hash seed of the ring impls. With seed 0, ring.Hash(seed,
// key) is xxhash.Sum64String(key), the hash given to the peers that take
// one, so ring's Jump and go-jump see the same 64 bits (the quality test
// checks that they then agree on every key).
const seed = 0

const (
	tableBuckets    = 16384 // the README's table: ±1 bucket is ±0.6% at n=100
	maglevM         = 65537 // prime, as Maglev requires; the paper's small table
	groupcacheReps  = 50    // groupcache's HTTPPool default
	buraksezerParts = 2711  // for n > 271, where the default 271 panics
	shardK          = 4
)

var sink int

// memberIDs returns the IDs of n members. The IDs of memberIDs(n) are a
// prefix of those of memberIDs(n+1), and sort in the same order.
func memberIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("cell-%04d", i)
	}
	return ids
}

// tenantKeys returns n keys of 16 bytes, "tenant-000000000" onwards. They
// share one string: fmt.Sprintf for each of 400,000 keys takes seconds under
// the race detector.
func tenantKeys(n int) []string {
	const prefix, width = "tenant-", 16
	buf := make([]byte, 0, n*width)
	for i := range n {
		buf = append(buf, prefix...)
		var d [width - len(prefix)]byte
		for j, v := len(d)-1, i; j >= 0; j, v = j-1, v/10 {
			d[j] = byte('0' + v%10)
		}
		buf = append(buf, d[:]...)
	}
	all := string(buf)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = all[i*width : (i+1)*width]
	}
	return keys
}

// newRing returns a ring of equal weights spread over three zones, as cells
// are; zones change neither the owner nor its cost.
func newRing(tb testing.TB, ids []string) *ring.Ring {
	tb.Helper()
	ms := make([]ring.Member, len(ids))
	for i, id := range ids {
		ms[i] = ring.Member{ID: id, Zone: fmt.Sprintf("az%d", i%3+1), Weight: 1}
	}
	r, err := ring.New(ms)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func newTable(tb testing.TB, r *ring.Ring) *ring.Table {
	tb.Helper()
	t, err := ring.NewBalancedTable(r, tableBuckets)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

type xxh struct{}

func (xxh) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

type burakMember string

func (m burakMember) String() string { return string(m) }

// newBuraksezer uses the library's defaults (271 partitions, 20 replicas,
// load 1.25) with xxhash; it has no default hasher. Its default partition
// count panics ("not enough room to distribute partitions") once members
// outnumber partitions, so n = 1000 gets 2711.
func newBuraksezer(ids []string) *buraksezer.Consistent {
	ms := make([]buraksezer.Member, len(ids))
	for i, id := range ids {
		ms[i] = burakMember(id)
	}
	cfg := buraksezer.Config{Hasher: xxh{}}
	if len(ids) > buraksezer.DefaultPartitionCount {
		cfg.PartitionCount = buraksezerParts
	}
	return buraksezer.New(ms, cfg)
}

// newStathat uses the library's defaults: 20 replicas, CRC-32.
func newStathat(ids []string) *stathat.Consistent {
	c := stathat.New()
	c.Set(ids)
	return c
}

// newGroupcache uses 50 replicas, as groupcache's HTTPPool, and its default
// hash, CRC-32.
func newGroupcache(ids []string) *consistenthash.Map {
	m := consistenthash.New(groupcacheReps, nil)
	m.Add(ids...)
	return m
}

// newSerialx uses the library's defaults: one point per member, MD5.
func newSerialx(ids []string) *hashring.HashRing {
	return hashring.New(slices.Clone(ids)) // it keeps the slice
}

// newMaglev builds a table of maglevM entries with the library's SipHash.
// Building keeps n·maglevM uint64 permutations: 524 MB at n = 1000.
func newMaglev(tb testing.TB, ids []string) *maglev.Maglev {
	tb.Helper()
	m, err := maglev.NewMaglev(ids, maglevM)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// owner is one benchmarked lookup: build the structure for ids, then look up
// keys[i&1023] in the b.Loop.
type owner struct {
	name string
	run  func(b *testing.B, ids, keys []string)
}

var owners = []owner{
	{"ring-owner", func(b *testing.B, ids, keys []string) {
		r := newRing(b, ids)
		i := 0
		for b.Loop() {
			sink += r.Owner(ring.Hash(seed, keys[i&1023]))
			i++
		}
	}},
	{"ring-table", func(b *testing.B, ids, keys []string) {
		t := newTable(b, newRing(b, ids))
		i := 0
		for b.Loop() {
			sink += t.Owner(ring.Hash(seed, keys[i&1023]))
			i++
		}
	}},
	{"ring-jump", func(b *testing.B, ids, keys []string) {
		n := len(ids)
		i := 0
		for b.Loop() {
			sink += ring.Jump(ring.Hash(seed, keys[i&1023]), n)
			i++
		}
	}},
	{"go-jump", func(b *testing.B, ids, keys []string) {
		n := len(ids)
		i := 0
		for b.Loop() {
			sink += int(jump.Hash(xxhash.Sum64String(keys[i&1023]), n))
			i++
		}
	}},
	{"go-rendezvous", func(b *testing.B, ids, keys []string) {
		r := rendezvous.New(ids, xxhash.Sum64String)
		i := 0
		for b.Loop() {
			sink += len(r.Lookup(keys[i&1023]))
			i++
		}
	}},
	{"maglev", func(b *testing.B, ids, keys []string) {
		m := newMaglev(b, ids)
		i := 0
		for b.Loop() {
			s, _ := m.Get(keys[i&1023])
			sink += len(s)
			i++
		}
	}},
	{"buraksezer", func(b *testing.B, ids, keys []string) {
		c := newBuraksezer(ids)
		kb := make([][]byte, len(keys)) // it takes []byte; converting is not its cost
		for j, k := range keys {
			kb[j] = []byte(k)
		}
		i := 0
		for b.Loop() {
			sink += len(c.LocateKey(kb[i&1023]).String())
			i++
		}
	}},
	{"stathat", func(b *testing.B, ids, keys []string) {
		c := newStathat(ids)
		i := 0
		for b.Loop() {
			s, _ := c.Get(keys[i&1023])
			sink += len(s)
			i++
		}
	}},
	{"groupcache", func(b *testing.B, ids, keys []string) {
		m := newGroupcache(ids)
		i := 0
		for b.Loop() {
			sink += len(m.Get(keys[i&1023]))
			i++
		}
	}},
	{"serialx", func(b *testing.B, ids, keys []string) {
		r := newSerialx(ids)
		i := 0
		for b.Loop() {
			s, _ := r.GetNode(keys[i&1023])
			sink += len(s)
			i++
		}
	}},
}

// BenchmarkOwner is the owner of a 16-byte key, the key hash included, for
// every impl at n members. grafana/dskit is left out (its ring needs a KV
// store and lifecycler); its published Get costs 0.5–1.4 µs.
func BenchmarkOwner(b *testing.B) {
	keys := tenantKeys(1024)
	for _, o := range owners {
		b.Run("impl="+o.name, func(b *testing.B) {
			for _, n := range []int{10, 100, 1000} {
				ids := memberIDs(n)
				b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
					b.ReportAllocs()
					o.run(b, ids, keys)
				})
			}
		})
	}
}

// BenchmarkShard is the shuffle shard of k = 4 out of n members in three
// zones, the key hash included. No peer above has zone-aware shuffle shards;
// grafana/dskit's ShuffleShard publishes 16–300 µs uncached and 139–988 ns
// from its cache.
func BenchmarkShard(b *testing.B) {
	keys := tenantKeys(1024)
	b.Run("impl=ring", func(b *testing.B) {
		for _, n := range []int{100, 1000} {
			r := newRing(b, memberIDs(n))
			b.Run(fmt.Sprintf("n=%d/k=%d", n, shardK), func(b *testing.B) {
				b.ReportAllocs()
				dst := make([]int, 0, shardK)
				i := 0
				for b.Loop() {
					dst = r.Shard(ring.Hash(seed, keys[i&1023]), shardK, dst)
					i++
				}
				sink += len(dst)
			})
		}
	})
}
