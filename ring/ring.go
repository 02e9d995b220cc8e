package ring

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Errors returned by New and by the Table constructors. Errors that concern
// one member are *MemberError values that wrap one of these.
var (
	ErrNoMembers      = errors.New("ring: no members")
	ErrTooManyMembers = errors.New("ring: too many members")
	ErrEmptyID        = errors.New("ring: empty member ID")
	ErrDuplicateID    = errors.New("ring: duplicate member ID")
	ErrBadWeight      = errors.New("ring: weight must be finite and not negative")
	ErrNoWeight       = errors.New("ring: no member has a positive weight")
	ErrBuckets        = errors.New("ring: bucket count out of range")
	ErrMember         = errors.New("ring: member index out of range")
	ErrOwners         = errors.New("ring: bucket owners do not match the table")
)

// MaxMembers is the largest ring New accepts.
const MaxMembers = 1 << 24

// A MemberError reports a member that New rejects. It wraps ErrEmptyID,
// ErrDuplicateID or ErrBadWeight.
type MemberError struct {
	Index  int    // position in the slice given to New
	Member Member // the member as given
	Err    error  // the sentinel
}

func (e *MemberError) Error() string {
	switch e.Err {
	case ErrEmptyID:
		return fmt.Sprintf("ring: member %d has an empty ID", e.Index)
	case ErrDuplicateID:
		return fmt.Sprintf("ring: member %d: duplicate ID %q", e.Index, e.Member.ID)
	case ErrBadWeight:
		return fmt.Sprintf("ring: member %q: weight %v must be finite and not negative", e.Member.ID, e.Member.Weight)
	}
	return fmt.Sprintf("ring: member %d (%q): %v", e.Index, e.Member.ID, e.Err)
}

func (e *MemberError) Unwrap() error { return e.Err }

// A Member is one node of a ring: a cell, in cellkit. ID names it and is the
// only input to its hashes, so an ID keeps its keys wherever it appears in the
// slice. Zone groups members for shard spreading (the empty string is a zone
// like any other). Weight scales its share of keys; 0 keeps the member in the
// ring (tables may still name it) but out of every choice.
type Member struct {
	ID     string
	Zone   string
	Weight float64
}

// A Ring is an immutable set of members that answers owner and shard queries
// for key hashes. A Ring is safe for concurrent use. Members are indexed in
// the byte order of their IDs, whatever the order given to New, so every
// answer depends only on the set of members.
type Ring struct {
	members []Member
	seed    []uint64 // seed[i] = Hash(memberSeed, members[i].ID)
	zoneOf  []int32  // zone index of each member
	zones   []zone   // sorted by name

	// The members with positive weight, grouped by zone in zone order, then
	// by weight, then in index order: the arrays every scan walks. groups
	// splits them into runs of one zone and one weight.
	eSeed  []uint64
	eIdx   []int32
	groups []group

	// The fast path's key-independent part (sieve.go).
	pre     []uint64    // pre[p] = eSeed[p] ^ eSeed[p]>>30, mix's first step
	eW      []float64   // weight of eSeed[p]
	eInv    []float64   // 1/eW[p], rounded
	pos     []int32     // position in eSeed of each member; −1 for weight 0
	live    []int32     // the zones with members of positive weight
	thr     []uint64    // thr[g*ladder+ℓ]: sieve threshold of equal zone g at level ℓ
	mthr    []uint32    // mthr[ℓ*len(pre)+p]: member p's in a mixed zone, in units of 2³³
	zoneQ   []float64   // zoneQ[z*ladder+ℓ]: mixed zone z's score bound at level ℓ
	ownThr  [][2]uint64 // thresholds for group g's best member
	allThr  [2]uint64   // thresholds for the best of all, when uniform
	uniform bool        // every member of positive weight has the same weight
	levels  [maxFastK + 1]waterMark
	zpre    []uint64    // zpre[i] = first step of live zone i's mix, with more than sieveZonesAbove live zones
	zoneThr [][2]uint64 // zoneThr[t]: sieve thresholds for the best t of the live zones

	scratch sync.Pool // *shardScratch, for shards too large for the stack
}

// zone is one failure domain: its members with positive weight are
// eSeed[lo:hi], in the groups groups[glo:ghi], and weigh weight in all.
type zone struct {
	name     string
	seed     uint64 // Hash(zoneSeed, name)
	lo, hi   int32
	glo, ghi int32
	weight   float64
	bits     uint8 // bit length of hi−lo: a position's bits in a sieve key
	mixed    bool  // more than one weight
}

// group is a run eSeed[lo:hi] of members of one zone and one weight.
type group struct {
	lo, hi int32
	w      float64
}

// New returns a ring of the given members. It rejects an empty list, more than
// MaxMembers members, empty or duplicate IDs, weights that are NaN, infinite
// or negative, and lists where no weight is positive.
func New(members []Member) (*Ring, error) {
	switch {
	case len(members) == 0:
		return nil, ErrNoMembers
	case len(members) > MaxMembers:
		return nil, fmt.Errorf("%w: %d members, at most %d", ErrTooManyMembers, len(members), MaxMembers)
	}
	order := make([]int, len(members))
	for i, m := range members {
		if m.ID == "" {
			return nil, &MemberError{Index: i, Member: m, Err: ErrEmptyID}
		}
		if math.IsNaN(m.Weight) || math.IsInf(m.Weight, 0) || m.Weight < 0 {
			return nil, &MemberError{Index: i, Member: m, Err: ErrBadWeight}
		}
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(members[a].ID, members[b].ID) })
	r := &Ring{
		members: make([]Member, len(members)),
		seed:    make([]uint64, len(members)),
		zoneOf:  make([]int32, len(members)),
	}
	positive := 0
	for i, o := range order {
		m := members[o]
		if i > 0 && m.ID == r.members[i-1].ID {
			return nil, &MemberError{Index: o, Member: m, Err: ErrDuplicateID}
		}
		r.members[i] = m
		r.seed[i] = Hash(memberSeed, m.ID)
		if m.Weight > 0 {
			positive++
		}
	}
	if positive == 0 {
		return nil, ErrNoWeight
	}

	// Zones in name order; within a zone, weights in increasing order, then
	// members in index order.
	byZone := make([]int32, len(members))
	for i := range byZone {
		byZone[i] = int32(i)
	}
	slices.SortStableFunc(byZone, func(a, b int32) int {
		ma, mb := &r.members[a], &r.members[b]
		if c := cmp.Compare(ma.Zone, mb.Zone); c != 0 {
			return c
		}
		return cmp.Compare(ma.Weight, mb.Weight)
	})
	r.eSeed = make([]uint64, 0, positive)
	r.eIdx = make([]int32, 0, positive)
	for _, i := range byZone {
		m := r.members[i]
		if len(r.zones) == 0 || r.zones[len(r.zones)-1].name != m.Zone {
			n, g := int32(len(r.eIdx)), int32(len(r.groups))
			r.zones = append(r.zones, zone{name: m.Zone, seed: Hash(zoneSeed, m.Zone), lo: n, hi: n, glo: g, ghi: g})
		}
		z := &r.zones[len(r.zones)-1]
		r.zoneOf[i] = int32(len(r.zones) - 1)
		if m.Weight == 0 {
			continue
		}
		if z.ghi == z.glo || r.groups[z.ghi-1].w != m.Weight {
			r.groups = append(r.groups, group{lo: z.hi, hi: z.hi, w: m.Weight})
			z.ghi++
		}
		r.groups[z.ghi-1].hi++
		r.eSeed = append(r.eSeed, r.seed[i])
		r.eIdx = append(r.eIdx, i)
		z.hi++
		z.weight += m.Weight
	}
	r.prepareSieve()
	return r, nil
}

// Len returns the number of members, including those of weight 0.
func (r *Ring) Len() int { return len(r.members) }

// Eligible returns the number of members with a positive weight: the members
// that owners and shards choose from.
func (r *Ring) Eligible() int { return len(r.eIdx) }

// Member returns member i, in the byte order of IDs. It returns the zero
// Member when i is out of range.
func (r *Ring) Member(i int) Member {
	if i < 0 || i >= len(r.members) {
		return Member{}
	}
	return r.members[i]
}

// Index returns the index of the member with the given ID.
func (r *Ring) Index(id string) (int, bool) {
	return slices.BinarySearchFunc(r.members, id, func(m Member, id string) int { return cmp.Compare(m.ID, id) })
}

// Zones returns the number of distinct zones among all members.
func (r *Ring) Zones() int { return len(r.zones) }

// Owner returns the index of the member that owns hash h: the member with
// positive weight that ranks first for h by weighted rendezvous (see the
// package documentation for the exact rule). Owner does not allocate; it
// reads every member with positive weight, so it costs O(n). For O(1) owners
// of a fixed member set, build a Table.
func (r *Ring) Owner(h uint64) int {
	if r.uniform {
		if p, ok := r.sieveFirst(h, 0, len(r.eSeed), r.allThr); ok {
			return int(r.eIdx[p])
		}
	}
	race := newContest()
	for g := range r.groups {
		race.enter(r.first(h, g), r.eInv[r.groups[g].lo], g)
	}
	if race.sure() {
		return int(race.m.i)
	}
	best := cand{i: -1}
	for g := range r.groups {
		c := r.first(h, g)
		if best.i < 0 || ahead(&c, &best) {
			best = c
		}
	}
	return int(best.i)
}

// argmax returns the first member of group g for h. Within a group all
// weights are equal, so the largest x wins, and on equal x the first seen,
// which has the smaller index.
func (r *Ring) argmax(h uint64, g group) cand {
	seeds := r.eSeed[g.lo:g.hi]
	bx, bp := mix(h^seeds[0]), 0
	for p := 1; p < len(seeds); p++ {
		if x := mix(h ^ seeds[p]); x > bx {
			bx, bp = x, p
		}
	}
	return cand{x: bx, w: g.w, q: -1, i: r.eIdx[g.lo+int32(bp)]}
}

// cand is a member ranked for one hash.
type cand struct {
	x uint64  // rendezvous hash, mix(h ^ seed)
	w float64 // weight
	q float64 // expScore(x)/w; negative until computed
	i int32   // member index
}

func (c *cand) score() float64 {
	if c.q < 0 {
		c.q = expScore(c.x) / c.w
	}
	return c.q
}

// ahead reports whether a ranks before b: the smaller expScore(x)/w first,
// then the larger x, then the smaller index. Members of equal weight compare
// by x alone, as expScore never increases with x.
func ahead(a, b *cand) bool {
	if a.w == b.w {
		return a.x > b.x || a.x == b.x && a.i < b.i
	}
	return aheadWeighted(a, b)
}

// aheadWeighted is ahead for unequal weights. A cheap lower bound of a's
// score rejects most losers before the full score is computed.
func aheadWeighted(a, b *cand) bool {
	qb := b.score()
	if qb > 0x1p-900 && qb < 0x1p900 && expScoreFloor(a.x)/a.w > qb*(1+1e-9) {
		return false
	}
	if qa := a.score(); qa != qb {
		return qa < qb
	}
	if a.x != b.x {
		return a.x > b.x
	}
	return a.i < b.i
}
