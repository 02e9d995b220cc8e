package bench

import (
	"slices"
	"testing"

	buraksezer "github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
	jump "github.com/dgryski/go-jump"
	rendezvous "github.com/dgryski/go-rendezvous"
	"github.com/golang/groupcache/consistenthash"
	"github.com/kkdai/maglev"
	"github.com/serialx/hashring"
	stathat "github.com/stathat/consistent"
)

const (
	maglevM         = 65537 // prime, as Maglev requires; the paper's small table
	groupcacheReps  = 50    // groupcache's HTTPPool default
	buraksezerParts = 2711  // for n > 271, where the default 271 panics; 2.711 a member past 1000
)

type xxh struct{}

func (xxh) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

type burakMember string

func (m burakMember) String() string { return string(m) }

// newBuraksezer uses the library's defaults (271 partitions, 20 replicas,
// load 1.25) with xxhash; it has no default hasher. Its default partition
// count panics ("not enough room to distribute partitions") once members
// outnumber partitions, so n = 1000 gets 2,711.
func newBuraksezer(ids []string) *buraksezer.Consistent {
	ms := make([]buraksezer.Member, len(ids))
	for i, id := range ids {
		ms[i] = burakMember(id)
	}
	cfg := buraksezer.Config{Hasher: xxh{}}
	if len(ids) > buraksezer.DefaultPartitionCount {
		cfg.PartitionCount = max(buraksezerParts, buraksezerParts*len(ids)/1000)
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

func buildGoJump(ids []string) (*Owners, error) {
	n := len(ids)
	return &Owners{
		Owner: func(key string) string { return ids[jump.Hash(xxhash.Sum64String(key), n)] },
		Loop:  func(b *testing.B, keys []string) int { return goJumpLoop(b, n, keys) },
	}, nil
}

//go:noinline
func goJumpLoop(b *testing.B, n int, keys []string) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		s += int(jump.Hash(xxhash.Sum64String(keys[i&mask]), n))
		i++
	}
	return s
}

func buildGoRendezvous(ids []string) (*Owners, error) {
	r := rendezvous.New(ids, xxhash.Sum64String)
	return &Owners{
		Owner: r.Lookup,
		Loop:  func(b *testing.B, keys []string) int { return goRendezvousLoop(b, r, keys) },
	}, nil
}

//go:noinline
func goRendezvousLoop(b *testing.B, r *rendezvous.Rendezvous, keys []string) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		s += len(r.Lookup(keys[i&mask]))
		i++
	}
	return s
}

// buildMaglev builds a table of maglevM entries with the library's SipHash.
// It keeps n·maglevM uint64 permutations: 524 MB at n = 1000.
func buildMaglev(ids []string) (*Owners, error) {
	m, err := maglev.NewMaglev(ids, maglevM)
	if err != nil {
		return nil, err
	}
	return &Owners{
		Owner: func(key string) string { s, _ := m.Get(key); return s },
		Loop:  func(b *testing.B, keys []string) int { return maglevLoop(b, m, keys) },
	}, nil
}

//go:noinline
func maglevLoop(b *testing.B, m *maglev.Maglev, keys []string) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		id, err := m.Get(keys[i&mask])
		if err != nil {
			b.Fatal(err)
		}
		s += len(id)
		i++
	}
	return s
}

// byteKeys converts keys for the libraries that take []byte, outside the
// timed loop: the conversion is not their cost.
func byteKeys(keys []string) [][]byte {
	kb := make([][]byte, len(keys))
	for i, k := range keys {
		kb[i] = []byte(k)
	}
	return kb
}

func buildBuraksezer(ids []string) (*Owners, error) {
	c := newBuraksezer(ids)
	return &Owners{
		Owner: func(key string) string { return c.LocateKey([]byte(key)).String() },
		Loop: func(b *testing.B, keys []string) int {
			return buraksezerLoop(b, c, byteKeys(keys))
		},
	}, nil
}

//go:noinline
func buraksezerLoop(b *testing.B, c *buraksezer.Consistent, keys [][]byte) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		s += len(c.LocateKey(keys[i&mask]).String())
		i++
	}
	return s
}

// buildBuraksezerString is LocateKey as a caller holding string keys calls
// it: the conversion to []byte is made per call (and escapes to the heap
// through the Hasher interface).
func buildBuraksezerString(ids []string) (*Owners, error) {
	c := newBuraksezer(ids)
	return &Owners{
		Owner: func(key string) string { return c.LocateKey([]byte(key)).String() },
		Loop:  func(b *testing.B, keys []string) int { return buraksezerStringLoop(b, c, keys) },
	}, nil
}

//go:noinline
func buraksezerStringLoop(b *testing.B, c *buraksezer.Consistent, keys []string) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		s += len(c.LocateKey([]byte(keys[i&mask])).String())
		i++
	}
	return s
}

func buildStathat(ids []string) (*Owners, error) {
	c := newStathat(ids)
	return &Owners{
		Owner: func(key string) string { s, _ := c.Get(key); return s },
		Loop:  func(b *testing.B, keys []string) int { return stathatLoop(b, c, keys) },
	}, nil
}

//go:noinline
func stathatLoop(b *testing.B, c *stathat.Consistent, keys []string) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		id, err := c.Get(keys[i&mask])
		if err != nil {
			b.Fatal(err)
		}
		s += len(id)
		i++
	}
	return s
}

func buildGroupcache(ids []string) (*Owners, error) {
	m := newGroupcache(ids)
	return &Owners{
		Owner: m.Get,
		Loop:  func(b *testing.B, keys []string) int { return groupcacheLoop(b, m, keys) },
	}, nil
}

//go:noinline
func groupcacheLoop(b *testing.B, m *consistenthash.Map, keys []string) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		s += len(m.Get(keys[i&mask]))
		i++
	}
	return s
}

func buildSerialx(ids []string) (*Owners, error) {
	r := newSerialx(ids)
	return &Owners{
		Owner: func(key string) string { s, _ := r.GetNode(key); return s },
		Loop:  func(b *testing.B, keys []string) int { return serialxLoop(b, r, keys) },
	}, nil
}

//go:noinline
func serialxLoop(b *testing.B, r *hashring.HashRing, keys []string) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		id, ok := r.GetNode(keys[i&mask])
		if !ok {
			b.Fatal("serialx: no node")
		}
		s += len(id)
		i++
	}
	return s
}

func buildBuraksezerN(ids []string, k int) (*Shards, error) {
	c := newBuraksezer(ids)
	return &Shards{
		Shard: func(key string) []string {
			ms, err := c.GetClosestN([]byte(key), k)
			if err != nil {
				return nil
			}
			out := make([]string, len(ms))
			for i, m := range ms {
				out[i] = m.String()
			}
			return out
		},
		Loop: func(b *testing.B, keys []string) int { return buraksezerNLoop(b, c, k, byteKeys(keys)) },
	}, nil
}

//go:noinline
func buraksezerNLoop(b *testing.B, c *buraksezer.Consistent, k int, keys [][]byte) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		ms, err := c.GetClosestN(keys[i&mask], k)
		if err != nil {
			b.Fatal(err)
		}
		s += len(ms)
		i++
	}
	return s
}

func buildStathatN(ids []string, k int) (*Shards, error) {
	c := newStathat(ids)
	return &Shards{
		Shard: func(key string) []string { s, _ := c.GetN(key, k); return s },
		Loop:  func(b *testing.B, keys []string) int { return stathatNLoop(b, c, k, keys) },
	}, nil
}

//go:noinline
func stathatNLoop(b *testing.B, c *stathat.Consistent, k int, keys []string) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		ids, err := c.GetN(keys[i&mask], k)
		if err != nil {
			b.Fatal(err)
		}
		s += len(ids)
		i++
	}
	return s
}

func buildSerialxN(ids []string, k int) (*Shards, error) {
	r := newSerialx(ids)
	return &Shards{
		Shard: func(key string) []string { s, _ := r.GetNodes(key, k); return s },
		Loop:  func(b *testing.B, keys []string) int { return serialxNLoop(b, r, k, keys) },
	}, nil
}

//go:noinline
func serialxNLoop(b *testing.B, r *hashring.HashRing, k int, keys []string) int {
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		ids, ok := r.GetNodes(keys[i&mask], k)
		if !ok {
			b.Fatal("serialx: fewer nodes than asked")
		}
		s += len(ids)
		i++
	}
	return s
}
