package ring

import "slices"

// This file keeps, unchanged but for its names, the Owner, Shard and
// ShardFrom of cellkit before the sieve (commit 291dcec): a top-k insertion
// per zone with a moving threshold, columns and a water level. It is the
// reference of TestSieveDifferential and the "today" side of
// BenchmarkSieveVsRef; nothing outside the tests calls it. Its scratch for
// large shards is allocated, not pooled.

// refShardOf is the old Shard.
func refShardOf(r *Ring, h uint64, k int, dst []int) []int { return refShard(r, h, -1, k, dst) }

// refShardFrom is the old ShardFrom, for a valid home.
func refShardFrom(r *Ring, h uint64, home, k int, dst []int) []int {
	return refShard(r, h, home, k, dst)
}

// refOwner (the old Owner) returns the index of the member that owns hash h: the member with
// positive weight that ranks first for h by weighted rendezvous (see the
// package documentation for the exact rule). Owner does not allocate; it
// reads every member with positive weight, so it costs O(n). For O(1) owners
// of a fixed member set, build a Table.
func refOwner(r *Ring, h uint64) int {
	best := refCand{i: -1}
	for _, g := range r.groups {
		c := refArgmax(r, h, g)
		if best.i < 0 || refAhead(&c, &best) {
			best = c
		}
	}
	return int(best.i)
}

// refArgmax returns the first member of group g for h. Within a group all
// weights are equal, so the largest x wins, and on equal x the first seen,
// which has the smaller index.
func refArgmax(r *Ring, h uint64, g group) refCand {
	seeds := r.eSeed[g.lo:g.hi]
	bx, bp := mix(h^seeds[0]), 0
	for p := 1; p < len(seeds); p++ {
		if x := mix(h ^ seeds[p]); x > bx {
			bx, bp = x, p
		}
	}
	return refCand{x: bx, w: g.w, q: -1, i: r.eIdx[g.lo+int32(bp)]}
}

// refCand is a member ranked for one hash.
type refCand struct {
	x uint64  // rendezvous hash, mix(h ^ seed)
	w float64 // weight
	q float64 // expScore(x)/w; negative until computed
	i int32   // member index
}

func (c *refCand) refScore() float64 {
	if c.q < 0 {
		c.q = expScore(c.x) / c.w
	}
	return c.q
}

// refAhead reports whether a ranks before b: the smaller expScore(x)/w first,
// then the larger x, then the smaller index. Members of equal weight compare
// by x alone, as expScore never increases with x.
func refAhead(a, b *refCand) bool {
	if a.w == b.w {
		return a.x > b.x || a.x == b.x && a.i < b.i
	}
	return refAheadWeighted(a, b)
}

// refAheadWeighted is refAhead for unequal weights. A cheap lower bound of a's
// score rejects most losers before the full score is computed.
func refAheadWeighted(a, b *refCand) bool {
	qb := b.refScore()
	if qb > 0x1p-900 && qb < 0x1p900 && expScoreFloor(a.x)/a.w > qb*(1+1e-9) {
		return false
	}
	if qa := a.refScore(); qa != qb {
		return qa < qb
	}
	if a.x != b.x {
		return a.x > b.x
	}
	return a.i < b.i
}

// A refColumn is one zone's part of a shard: the zone's members in rank order,
// led by the home when the home is in this zone.
type refColumn struct {
	zone  int32
	size  int32  // members the zone can give, the home included
	key   uint64 // rank of the zone for this hash: mix(h ^ zone seed)
	home  bool   // the home leads this refColumn
	off   int32  // the ranked members kept are picks[off : off+n]
	take  int32  // how many to keep
	n     int32
	count int32 // members the shard takes from this refColumn
}

// refScratch is the working memory of one shard.
type refScratch struct {
	cols  []refColumn
	picks []refCand
}

// Shards of up to 8 members work on the stack; larger ones allocate.
const (
	refStackCols  = 9
	refStackPicks = 17
)

func refShard(r *Ring, h uint64, home, k int, dst []int) []int {
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
			home = refOwner(r, h)
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
	// Water level: every refColumn gives min(size, level) members, and the
	// first extra columns in zone order that have members left give one more.
	level, extra := refWaterLevel(r, int32(k), size)
	if level == 0 && home < 0 {
		// Only k zones give a member, the owner's first: find it now so
		// that only those zones need ranking.
		home = refOwner(r, h)
		homeZone = r.zoneOf[home]
	}

	var colBuf [refStackCols]refColumn
	var pickBuf [refStackPicks]refCand
	s := refScratch{cols: colBuf[:0], picks: pickBuf[:0]}
	if k+1 > refStackCols || 2*k+1 > refStackPicks {
		s = refScratch{cols: make([]refColumn, 0, k+1), picks: make([]refCand, 0, 2*k+1)}
	}

	// The columns, in zone index order. Above level 0 every zone with
	// members is one; at level 0, the home's zone and the best k−1 others.
	for z := range r.zones {
		z := int32(z)
		n := size(z)
		if n == 0 {
			continue
		}
		c := refColumn{zone: z, size: n, key: mix(h ^ r.zones[z].seed), home: z == homeZone}
		if level > 0 || c.home || len(s.cols) < k {
			s.cols = append(s.cols, c)
			continue
		}
		if worst := refWorstOther(s.cols); refZoneAhead(&c, &s.cols[worst]) {
			s.cols[worst] = c
		}
	}
	if level == 0 && len(s.cols) > k {
		// One refColumn too many: k others were kept before the home's came.
		worst := refWorstOther(s.cols)
		s.cols = slices.Delete(s.cols, worst, worst+1)
	}

	// Rank each refColumn's members, keeping as many as it may give.
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
		refRankZone(r, h, c, s.picks[c.off:c.off+c.take], int32(home))
	}
	if home < 0 {
		// Every zone is a refColumn, so the owner leads one of them.
		lead := -1
		for i := range s.cols {
			if lead < 0 || refAhead(&s.picks[s.cols[i].off], &s.picks[s.cols[lead].off]) {
				lead = i
			}
		}
		c := &s.cols[lead]
		home, c.home = int(s.picks[c.off].i), true
		c.off++
		c.n--
	}

	// Zone order: the home's refColumn, then the others by rank. Then the
	// counts, and the shard, round by round.
	slices.SortFunc(s.cols, func(a, b refColumn) int {
		switch {
		case a.home != b.home:
			if a.home {
				return -1
			}
			return 1
		case refZoneAhead(&a, &b):
			return -1
		case refZoneAhead(&b, &a):
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

// refRankZone fills refColumn c with the best members of its zone, except skip, in
// rank order.
func refRankZone(r *Ring, h uint64, c *refColumn, picks []refCand, skip int32) {
	zn := r.zones[c.zone]
	for _, g := range r.groups[zn.glo:zn.ghi] {
		refRank(r, h, g, c, picks, skip)
	}
}

// refRank offers the members of group g, except skip, to refColumn c, which keeps
// the best of them in picks[:c.n] in rank order. Once the refColumn is full a
// member can only enter when its x reaches the refColumn's threshold, so most
// members cost one hash and one compare. The equal-weight comparisons (x,
// then index) are written out so that the loop makes no call unless weights
// differ.
func refRank(r *Ring, h uint64, g group, c *refColumn, picks []refCand, skip int32) {
	seeds, idx := r.eSeed[g.lo:g.hi], r.eIdx[g.lo:g.hi]
	thr := c.refThreshold(picks, g.w)
	for p, s := range seeds {
		x := mix(h ^ s)
		if x < thr {
			continue
		}
		m := refCand{x: x, w: g.w, q: -1, i: idx[p]}
		if m.i == skip {
			continue
		}
		n := c.n
		if n == int32(len(picks)) {
			if last := &picks[n-1]; last.w == m.w {
				if x == last.x && m.i > last.i {
					continue // x ≥ thr = last.x: only a tie can lose
				}
			} else if !refAheadWeighted(&m, last) {
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
			} else if !refAheadWeighted(&m, b) {
				break
			}
			picks[n] = *b
		}
		picks[n] = m
		if c.n == int32(len(picks)) {
			thr = c.refThreshold(picks, g.w)
		}
	}
}

// refThreshold returns an x below which no member of weight w can enter the
// refColumn: 0 while it has room; the x of its last member when that has weight
// w, since equal weights rank by x; otherwise refWeightedThreshold.
func (c *refColumn) refThreshold(picks []refCand, w float64) uint64 {
	if c.n < int32(len(picks)) {
		return 0
	}
	if last := &picks[c.n-1]; last.w != w {
		return refWeightedThreshold(last, w)
	}
	return picks[c.n-1].x
}

// refWeightedThreshold bounds the x of a member of weight w that could rank
// before last, whose score is q. By −ln u ≥ 1−u, a member with 1−u > q·w ranks
// after it, and as u ≤ x/2⁶⁴ + 2⁻⁵³ that holds for x < (1 − q·w − margin)·2⁶⁴.
// The margins cover every rounding of expScore and of this bound.
func refWeightedThreshold(last *refCand, w float64) uint64 {
	q := last.refScore()
	if !(q > 0x1p-900 && q < 0x1p900) {
		return 0
	}
	f := 1 - float64(q*w*(1+1e-9)) - 0x1p-40
	if f <= 0 {
		return 0
	}
	return uint64(f * 0x1p64)
}

// refWorstOther returns the index of the last-ranked refColumn that is not the
// home's; cols holds at least one.
func refWorstOther(cols []refColumn) int {
	worst := -1
	for i := range cols {
		if !cols[i].home && (worst < 0 || refZoneAhead(&cols[worst], &cols[i])) {
			worst = i
		}
	}
	return worst
}

// refZoneAhead reports whether refColumn a's zone ranks before b's: the larger key,
// then the smaller zone name (zone indexes follow name order).
func refZoneAhead(a, b *refColumn) bool {
	if a.key != b.key {
		return a.key > b.key
	}
	return a.zone < b.zone
}

// refWaterLevel returns the largest level at which the zones give at most k
// members when each gives min(size, level), and how many are still missing.
func refWaterLevel(r *Ring, k int32, size func(int32) int32) (level, extra int32) {
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
