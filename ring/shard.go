package ring

import (
	"fmt"
	"slices"
)

// Shard returns the shuffle shard of hash h: k distinct members with positive
// weight, Owner(h) first, appended to dst[:0]. When k exceeds the number of
// such members it returns all of them; when k < 1, none. Shard does not
// allocate when cap(dst) ≥ k.
//
// Members are taken from the zones in turn, starting with the owner's zone,
// so per-zone counts differ by at most one while every zone has members left.
// Shard(h, k) is a prefix of Shard(h, k+1). See the package documentation for
// the exact rule and its guarantees.
func (r *Ring) Shard(h uint64, k int, dst []int) []int {
	return r.shard(h, -1, k, dst)
}

// ShardFrom returns the shard of hash h around a given home member: home
// first, then k−1 members chosen for h exactly as Shard chooses them after the
// owner, starting with the home's zone. It serves keys whose home is not
// their owner (pinned keys, table buckets, migrations). The home may have
// weight 0; it is still first. ShardFrom(h, r.Owner(h), k, dst) equals
// Shard(h, k, dst). It returns an error wrapping ErrMember when home is not a
// member index, and does not allocate when cap(dst) ≥ k.
func (r *Ring) ShardFrom(h uint64, home, k int, dst []int) ([]int, error) {
	if home < 0 || home >= len(r.members) {
		return dst[:0], fmt.Errorf("%w: home %d, ring of %d", ErrMember, home, len(r.members))
	}
	return r.shard(h, home, k, dst), nil
}

// A column is one zone's part of a shard: the zone's members in rank order,
// led by the home when the home is in this zone.
type column struct {
	zone  int32
	size  int32  // members the zone can give, the home included
	key   uint64 // rank of the zone for this hash: mix(h ^ zone seed)
	home  bool   // the home leads this column
	off   int32  // the ranked members kept are picks[off : off+n]
	take  int32  // how many to keep
	n     int32
	count int32 // members the shard takes from this column
}

// shardScratch is the working memory of one shard.
type shardScratch struct {
	cols  []column
	picks []cand
}

// Shards of up to 8 members work on the stack; larger ones borrow their
// working memory from the ring's pool.
const (
	stackCols  = 9
	stackPicks = 17
)

func (r *Ring) shard(h uint64, home, k int, dst []int) []int {
	if home < 0 || r.members[home].Weight > 0 {
		k := min(k, len(r.eIdx))
		if k >= 2 && k <= maxFastK {
			return r.shardFast(h, home, k, dst[:0])
		}
		if k > maxFastK && k <= maxSpreadK && len(r.live) > k {
			// More zones than members to take: one member from each of
			// the best zones.
			return r.shardSpread(h, home, k, dst[:0])
		}
	}
	return r.shardGeneral(h, home, k, dst)
}

// shardGeneral is shard without the sieve: top-k insertion per zone with a
// moving threshold, columns and a water level. It serves the shards the sieve
// does not (k > maxFastK, a home of weight 0, k ≤ 1), and is the reference
// the sieve is tested against, bit for bit.
func (r *Ring) shardGeneral(h uint64, home, k int, dst []int) []int {
	dst = dst[:0]
	homeExtra := home >= 0 && r.members[home].Weight == 0
	total := len(r.eIdx)
	if homeExtra {
		total++
	}
	k = min(k, total)
	if k < 1 {
		return dst
	}
	if k == 1 {
		if home < 0 {
			home = r.Owner(h)
		}
		return append(dst, home)
	}
	homeZone := int32(-1)
	if home >= 0 {
		homeZone = r.zoneOf[home]
	}
	size := func(z int32) int32 {
		n := r.zones[z].hi - r.zones[z].lo
		if homeExtra && z == homeZone {
			n++
		}
		return n
	}
	// Water level: every column gives min(size, level) members, and the
	// first extra columns in zone order that have members left give one more.
	level, extra := r.waterLevel(int32(k), size)
	if level == 0 && home < 0 {
		// Only k zones give a member, the owner's first: find it now so
		// that only those zones need ranking.
		home = r.Owner(h)
		homeZone = r.zoneOf[home]
	}

	var colBuf [stackCols]column
	var pickBuf [stackPicks]cand
	s := shardScratch{cols: colBuf[:0], picks: pickBuf[:0]}
	if k+1 > stackCols || 2*k+1 > stackPicks {
		p, _ := r.scratch.Get().(*shardScratch)
		if p == nil {
			p = &shardScratch{cols: make([]column, 0, k+1), picks: make([]cand, 0, 2*k+1)}
		}
		p.cols, p.picks = slices.Grow(p.cols[:0], k+1), slices.Grow(p.picks[:0], 2*k+1)
		defer r.scratch.Put(p)
		s = *p
	}

	// The columns, in zone index order. Above level 0 every zone with
	// members is one; at level 0, the home's zone and the best k−1 others.
	for z := range r.zones {
		z := int32(z)
		n := size(z)
		if n == 0 {
			continue
		}
		c := column{zone: z, size: n, key: mix(h ^ r.zones[z].seed), home: z == homeZone}
		if level > 0 || c.home || len(s.cols) < k {
			s.cols = append(s.cols, c)
			continue
		}
		if worst := worstOther(s.cols); zoneAhead(&c, &s.cols[worst]) {
			s.cols[worst] = c
		}
	}
	if level == 0 && len(s.cols) > k {
		// One column too many: k others were kept before the home's came.
		worst := worstOther(s.cols)
		s.cols = slices.Delete(s.cols, worst, worst+1)
	}

	// Rank each column's members, keeping as many as it may give.
	more := int32(0)
	if extra > 0 {
		more = 1
	}
	for i := range s.cols {
		c := &s.cols[i]
		c.take = min(c.size, level+more)
		if home >= 0 && c.home {
			c.take = min(c.size-1, level) // after the home, which is placed
		}
		c.off = int32(len(s.picks))
		s.picks = s.picks[:len(s.picks)+int(c.take)]
		if c.take == 0 {
			continue
		}
		r.rankZone(h, c, s.picks[c.off:c.off+c.take], int32(home))
	}
	if home < 0 {
		// Every zone is a column, so the owner leads one of them.
		lead := -1
		for i := range s.cols {
			if lead < 0 || ahead(&s.picks[s.cols[i].off], &s.picks[s.cols[lead].off]) {
				lead = i
			}
		}
		c := &s.cols[lead]
		home, c.home = int(s.picks[c.off].i), true
		c.off++
		c.n--
	}

	// Zone order: the home's column, then the others by rank. Then the
	// counts, and the shard, round by round.
	slices.SortFunc(s.cols, func(a, b column) int {
		switch {
		case a.home != b.home:
			if a.home {
				return -1
			}
			return 1
		case zoneAhead(&a, &b):
			return -1
		case zoneAhead(&b, &a):
			return 1
		}
		return 0
	})
	for i := range s.cols {
		c := &s.cols[i]
		c.count = min(c.size, level)
		if level == 0 {
			c.count = 1
		} else if extra > 0 && c.size > level {
			c.count++
			extra--
		}
	}
	for round := int32(0); len(dst) < k; round++ {
		for i := range s.cols {
			c := &s.cols[i]
			switch {
			case round >= c.count:
			case !c.home:
				dst = append(dst, int(s.picks[c.off+round].i))
			case round == 0:
				dst = append(dst, home)
			default:
				dst = append(dst, int(s.picks[c.off+round-1].i))
			}
		}
	}
	return dst
}

// rankZone fills column c with the best members of its zone, except skip, in
// rank order.
func (r *Ring) rankZone(h uint64, c *column, picks []cand, skip int32) {
	zn := r.zones[c.zone]
	for _, g := range r.groups[zn.glo:zn.ghi] {
		r.rank(h, g, c, picks, skip)
	}
}

// rank offers the members of group g, except skip, to column c, which keeps
// the best of them in picks[:c.n] in rank order. Once the column is full a
// member can only enter when its x reaches the column's threshold, so most
// members cost one hash and one compare. The equal-weight comparisons (x,
// then index) are written out so that the loop makes no call unless weights
// differ.
func (r *Ring) rank(h uint64, g group, c *column, picks []cand, skip int32) {
	seeds, idx := r.eSeed[g.lo:g.hi], r.eIdx[g.lo:g.hi]
	thr := c.threshold(picks, g.w)
	for p, s := range seeds {
		x := mix(h ^ s)
		if x < thr {
			continue
		}
		m := cand{x: x, w: g.w, q: -1, i: idx[p]}
		if m.i == skip {
			continue
		}
		n := c.n
		if n == int32(len(picks)) {
			if last := &picks[n-1]; last.w == m.w {
				if x == last.x && m.i > last.i {
					continue // x ≥ thr = last.x: only a tie can lose
				}
			} else if !aheadWeighted(&m, last) {
				continue
			}
			n--
		} else {
			c.n++
		}
		for ; n > 0; n-- {
			b := &picks[n-1]
			if b.w == m.w {
				if x < b.x || x == b.x && m.i > b.i {
					break
				}
			} else if !aheadWeighted(&m, b) {
				break
			}
			picks[n] = *b
		}
		picks[n] = m
		if c.n == int32(len(picks)) {
			thr = c.threshold(picks, g.w)
		}
	}
}

// threshold returns an x below which no member of weight w can enter the
// column: 0 while it has room; the x of its last member when that has weight
// w, since equal weights rank by x; otherwise weightedThreshold.
func (c *column) threshold(picks []cand, w float64) uint64 {
	if c.n < int32(len(picks)) {
		return 0
	}
	if last := &picks[c.n-1]; last.w != w {
		return weightedThreshold(last, w)
	}
	return picks[c.n-1].x
}

// weightedThreshold bounds the x of a member of weight w that could rank
// before last, whose score is q. By −ln u ≥ 1−u, a member with 1−u > q·w ranks
// after it, and as u ≤ x/2⁶⁴ + 2⁻⁵³ that holds for x < (1 − q·w − margin)·2⁶⁴.
// The margins cover every rounding of expScore and of this bound.
func weightedThreshold(last *cand, w float64) uint64 {
	q := last.score()
	if !(q > 0x1p-900 && q < 0x1p900) {
		return 0
	}
	f := 1 - float64(q*w*(1+1e-9)) - 0x1p-40
	if f <= 0 {
		return 0
	}
	return uint64(f * 0x1p64)
}

// worstOther returns the index of the last-ranked column that is not the
// home's; cols holds at least one.
func worstOther(cols []column) int {
	worst := -1
	for i := range cols {
		if !cols[i].home && (worst < 0 || zoneAhead(&cols[worst], &cols[i])) {
			worst = i
		}
	}
	return worst
}

// zoneAhead reports whether column a's zone ranks before b's: the larger key,
// then the smaller zone name (zone indexes follow name order).
func zoneAhead(a, b *column) bool {
	if a.key != b.key {
		return a.key > b.key
	}
	return a.zone < b.zone
}

// waterLevel returns the largest level at which the zones give at most k
// members when each gives min(size, level), and how many are still missing.
func (r *Ring) waterLevel(k int32, size func(int32) int32) (level, extra int32) {
	give := func(l int32) int32 {
		var n int32
		for z := range r.zones {
			n += min(size(int32(z)), l)
		}
		return n
	}
	lo, hi := int32(0), k // give(0) ≤ k
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if give(mid) <= k {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, k - give(lo)
}
