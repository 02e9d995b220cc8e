package ring

import (
	"cmp"
	"fmt"
	"slices"
)

// MaxBuckets is the largest bucket count of a Table.
const MaxBuckets = 1 << 20

// A Table is an O(1) owner lookup: B buckets, hash h falls in bucket h mod B,
// and each bucket has an owner among the members of its ring. A Table is
// immutable and safe for concurrent use. Owners are stored in two bytes a
// bucket for rings of up to 65,536 members, four beyond.
type Table struct {
	ring   *Ring
	n      uint64 // buckets
	m      uint64 // ⌊(2⁶⁴−1)/n⌋, for reduce
	narrow []uint16
	wide   []uint32
}

// NewTable returns the table of B buckets whose owners are chosen by weighted
// rendezvous: bucket b belongs to r.Owner(BucketHash(b)). Such a table is a
// pure function of the members, with rendezvous' movement: adding a member
// moves about B/(n+1) buckets, all to it; removing one moves only its
// buckets; changing one weight moves buckets only to or from that member.
// Its balance is that of B independent draws (a member's count has a standard
// deviation of about √(B/n)); NewBalancedTable trades some movement for ±1.
func NewTable(r *Ring, buckets int) (*Table, error) {
	t, err := newTable(r, buckets)
	if err != nil {
		return nil, err
	}
	if r.uniform && len(r.eSeed) <= directOwners {
		for b := range buckets {
			t.set(b, r.ownerDirect(BucketHash(b)))
		}
		return t, nil
	}
	for b := range buckets {
		t.set(b, r.Owner(BucketHash(b)))
	}
	return t, nil
}

// directOwners is the most members of equal weight whose owner NewTable
// finds by scoring each, without the sieve: with few members the scan is
// cheaper (measured 2 to 4 times for 2 to 8 members, even at 16).
const directOwners = 8

// ownerDirect is Owner for a ring whose members of positive weight all
// weigh the same: the member with the largest mix(h ^ seed), the smaller
// index on a tie (the rule of ahead for equal weights).
func (r *Ring) ownerDirect(h uint64) int {
	bx, bi := uint64(0), int32(-1)
	for p, s := range r.eSeed {
		x := mix(h ^ s)
		if i := r.eIdx[p]; bi < 0 || x > bx || x == bx && i < bi {
			bx, bi = x, i
		}
	}
	return int(bi)
}

// NewBalancedTable returns NewTable(r, buckets) after Rebalance(r): every
// member owns within one bucket of its weighted share.
func NewBalancedTable(r *Ring, buckets int) (*Table, error) {
	t, err := NewTable(r, buckets)
	if err != nil {
		return nil, err
	}
	t, _, err = t.Rebalance(r)
	return t, err
}

// NewTableOwners returns the table whose bucket b belongs to member
// owners[b]: an explicit table, as a control plane stores it. Owners may have
// weight 0. It returns an error wrapping ErrBuckets or ErrOwners when the
// length or an owner is out of range.
func NewTableOwners(r *Ring, owners []int) (*Table, error) {
	t, err := newTable(r, len(owners))
	if err != nil {
		return nil, err
	}
	for b, o := range owners {
		if o < 0 || o >= r.Len() {
			return nil, fmt.Errorf("%w: bucket %d has owner %d, ring of %d", ErrOwners, b, o, r.Len())
		}
		t.set(b, o)
	}
	return t, nil
}

func newTable(r *Ring, buckets int) (*Table, error) {
	if buckets < 1 || buckets > MaxBuckets {
		return nil, fmt.Errorf("%w: %d buckets, want 1 to %d", ErrBuckets, buckets, MaxBuckets)
	}
	t := &Table{ring: r, n: uint64(buckets), m: ^uint64(0) / uint64(buckets)}
	if r.Len() <= 1<<16 {
		t.narrow = make([]uint16, buckets)
	} else {
		t.wide = make([]uint32, buckets)
	}
	return t, nil
}

func (t *Table) set(b, owner int) {
	if t.narrow != nil {
		t.narrow[b] = uint16(owner)
	} else {
		t.wide[b] = uint32(owner)
	}
}

// Ring returns the ring whose member indexes the table holds.
func (t *Table) Ring() *Ring { return t.ring }

// Buckets returns the number of buckets.
func (t *Table) Buckets() int { return int(t.n) }

// Bucket returns the bucket of hash h: h mod Buckets().
func (t *Table) Bucket(h uint64) int { return int(reduce(h, t.n, t.m)) }

// Owner returns the member index that owns the bucket of hash h. It does not
// allocate and costs one multiply and one load.
func (t *Table) Owner(h uint64) int {
	b := reduce(h, t.n, t.m)
	if t.narrow != nil {
		return int(t.narrow[b])
	}
	return int(t.wide[b])
}

// BucketOwner returns the owner of bucket b, and false when b is out of range.
func (t *Table) BucketOwner(b int) (int, bool) {
	if b < 0 || uint64(b) >= t.n {
		return 0, false
	}
	if t.narrow != nil {
		return int(t.narrow[b]), true
	}
	return int(t.wide[b]), true
}

// Owners returns a copy of the owner of every bucket, in bucket order.
func (t *Table) Owners() []int {
	out := make([]int, t.n)
	for b := range out {
		out[b], _ = t.BucketOwner(b)
	}
	return out
}

// Counts returns how many buckets each member owns, by member index.
func (t *Table) Counts() []int {
	out := make([]int, t.ring.Len())
	for b := range int(t.n) {
		o, _ := t.BucketOwner(b)
		out[o]++
	}
	return out
}

// A Move is one bucket changing owner, between members named by ID.
type Move struct {
	Bucket   int
	From, To string
}

// Rebalance plans the move from this table to a table of the same buckets
// over the members of next, which may add, remove or reweight members. It
// returns the new table and the moves, in bucket order, and guarantees:
//
//   - afterwards every member of next owns ⌊tᵢ⌋ or ⌈tᵢ⌉ buckets, where
//     tᵢ = B·wᵢ/Σw is its weighted share (so members of weight 0, and members
//     not in next, own none);
//   - every move goes from a member above its share (or not in next) to a
//     member below it, and no bucket moves twice;
//   - the number of moves is the least that achieves the first point:
//     max(Σ excess above ⌈tᵢ⌉, Σ shortfall below ⌊tᵢ⌋).
//
// A member gives up the buckets it ranks lowest by rendezvous, and each moved
// bucket goes, in bucket order, to the receiver with room that ranks it
// highest, so an explicit table drifts toward the rendezvous table. Planning
// costs O(B + moves × receivers).
func (t *Table) Rebalance(next *Ring) (*Table, []Move, error) {
	nt, err := newTable(next, int(t.n))
	if err != nil {
		return nil, nil, err
	}
	n := next.Len()
	// Current owners, as indexes of next (−1: not in next).
	cur := make([]int32, t.n)
	count := make([]int, n)
	byOld := make([]int32, t.ring.Len())
	for i := range byOld {
		j, ok := next.Index(t.ring.members[i].ID)
		byOld[i] = int32(j)
		if !ok {
			byOld[i] = -1
		}
	}
	for b := range int(t.n) {
		o, _ := t.BucketOwner(b)
		cur[b] = byOld[o]
		if cur[b] >= 0 {
			count[cur[b]]++
		}
	}

	// Shares, and what each member must give or get.
	var total float64
	for _, m := range next.members {
		total += m.Weight
	}
	share := make([]float64, n)
	give := make([]int, n)
	get := make([]int, n)
	moves, short := 0, 0
	for b := range cur {
		if cur[b] < 0 {
			moves++
		}
	}
	for i, m := range next.members {
		share[i] = float64(float64(t.n)*m.Weight) / total
		lo, hi := int(share[i]), int(share[i]) // floor; share ≥ 0
		if float64(hi) < share[i] {
			hi++
		}
		give[i] = max(0, count[i]-hi)
		get[i] = max(0, lo-count[i])
		moves += give[i]
		short += get[i]
	}
	// Balance the two sides with the members closest to their bounds.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if moves > short {
		// Extra receivers: below ⌈share⌉ after their shortfall, the most
		// under their share first.
		slices.SortStableFunc(order, func(a, b int) int {
			return cmp.Compare(share[b]-float64(count[b]+get[b]), share[a]-float64(count[a]+get[a]))
		})
		for _, i := range order {
			if short == moves {
				break
			}
			if float64(count[i]+get[i]) < share[i] {
				get[i]++
				short++
			}
		}
	} else if short > moves {
		// Extra givers: above ⌊share⌋ after their excess, the most over
		// their share first.
		slices.SortStableFunc(order, func(a, b int) int {
			return cmp.Compare(float64(count[b]-give[b])-share[b], float64(count[a]-give[a])-share[a])
		})
		for _, i := range order {
			if short == moves {
				break
			}
			if float64(count[i]-give[i]) > share[i] {
				give[i]++
				moves++
			}
		}
	}

	// The buckets that move: those of departed owners, and each giver's
	// lowest-ranked ones.
	var pool []int
	mine := make([][]int, n)
	for b, o := range cur {
		switch {
		case o < 0:
			pool = append(pool, b)
		case give[o] > 0:
			mine[o] = append(mine[o], b)
		}
	}
	for i, bs := range mine {
		if give[i] == 0 {
			continue
		}
		seed := next.seed[i]
		slices.SortFunc(bs, func(a, b int) int {
			return cmp.Or(cmp.Compare(mix(BucketHash(a)^seed), mix(BucketHash(b)^seed)), cmp.Compare(a, b))
		})
		pool = append(pool, bs[:give[i]]...)
	}
	slices.Sort(pool)

	// Each moved bucket goes to the receiver with room that ranks it first.
	var receivers []int32
	for i := range get {
		if get[i] > 0 {
			receivers = append(receivers, int32(i))
		}
	}
	plan := make([]Move, 0, len(pool))
	for _, b := range pool {
		bh := BucketHash(b)
		best := cand{i: -1}
		for _, i := range receivers {
			if get[i] == 0 {
				continue
			}
			c := cand{x: mix(bh ^ next.seed[i]), w: next.members[i].Weight, q: -1, i: i}
			if best.i < 0 || ahead(&c, &best) {
				best = c
			}
		}
		get[best.i]--
		old, _ := t.BucketOwner(b)
		plan = append(plan, Move{Bucket: b, From: t.ring.members[old].ID, To: next.members[best.i].ID})
		cur[b] = best.i
	}
	for b, o := range cur {
		nt.set(b, int(o))
	}
	return nt, plan, nil
}
