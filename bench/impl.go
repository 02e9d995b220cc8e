package bench

import (
	"errors"
	"slices"
	"testing"
)

// ErrUnsupported is returned by a Build function for a parameter the
// implementation has no form of (dskit's Get only at its configured
// replication factor of 3). The comparison leaves that cell of its table
// blank; every other cell must have a number.
var ErrUnsupported = errors.New("bench: not supported by this implementation")

// An OwnerImpl is one owner lookup under test: cellkit's or a peer's.
type OwnerImpl struct {
	Name string
	Ours bool // cellkit's: the comparison holds it to cellkit's promises
	// NoQuality, when set, says why the impl has no row in the balance and
	// movement table (it places keys exactly as another row does).
	NoQuality string
	// MaxN, when set, is the largest n it is timed at, and NoScale says
	// why (its setup takes minutes past it).
	MaxN    int
	NoScale string
	// Build returns the lookup over the members ids, with the library's
	// defaults except where the README says otherwise.
	Build func(ids []string) (*Owners, error)
}

// Owners is an OwnerImpl built over one set of members.
type Owners struct {
	// Owner returns the ID of the member that owns key.
	Owner func(key string) string
	// Loop looks up keys[i mod len(keys)] in a b.Loop, the key hash
	// included, and returns a checksum of the answers. len(keys) must be a
	// power of two. Every Loop is its own //go:noinline function, since Go
	// keeps in memory any variable assigned in a b.Loop body.
	Loop func(b *testing.B, keys []string) int
	// Next returns the lookup over ids made the way the library's users
	// change members (Rebalance for a table, the same tokens for the old
	// members of a dskit ring). Nil means Build(ids).
	Next func(ids []string) (*Owners, error)
	// Close releases what the lookup holds (dskit's ring service). Nil
	// means nothing.
	Close func()
}

// A ShardImpl is one replica or shard selection under test.
type ShardImpl struct {
	Name string
	Ours bool
	// Ks lists the k it supports; nil means every k.
	Ks []int
	// NoStability, when set, says why the impl has no row in the stability
	// table.
	NoStability string
	// MaxN and NoScale: as in OwnerImpl.
	MaxN    int
	NoScale string
	// Build returns the selection of k members out of ids, or an error
	// matching ErrUnsupported for a k outside Ks.
	Build func(ids []string, k int) (*Shards, error)
}

// Supports reports whether the impl selects k members.
func (s ShardImpl) Supports(k int) bool { return s.Ks == nil || slices.Contains(s.Ks, k) }

// Shards is a ShardImpl built over one set of members for one k.
type Shards struct {
	// Shard returns the IDs of the members selected for key, in any order.
	Shard func(key string) []string
	// Prepare, when set, runs before Loop with the same keys, outside the
	// CPU time the case reports (dskit's cached subrings).
	Prepare func(keys []string)
	// Loop selects for keys[i mod len(keys)] in a b.Loop; see Owners.Loop.
	Loop func(b *testing.B, keys []string) int
	// Next returns the selection over ids made the way the library's users
	// change members; nil means Build(ids, k).
	Next  func(ids []string) (*Shards, error)
	Close func()
}

// A BreakerImpl is one circuit breaker's per-call cost under test: admit a
// call on a closed breaker, make no call, report success.
type BreakerImpl struct {
	Name string
	Ours bool
	// Build returns the breaker's loop; parallel selects b.RunParallel, with
	// every goroutine calling the same breaker (one hot cell).
	Build func() (loop func(b *testing.B, parallel bool) int, err error)
}

func closeAll(fs ...func()) {
	for _, f := range fs {
		if f != nil {
			f()
		}
	}
}
