package ring

import (
	"math"
	"math/bits"
)

// This file is the fast path of Owner, Shard and ShardFrom: a sieve that
// drops, without a branch or a store, every member that cannot be among a
// zone's best t, then a branch-free rank of the few survivors. Its answers
// are those of the general path (shard.go) bit for bit; the package
// documentation says why.

const (
	// maxFastK is the largest shard the fast path builds; larger ones, and
	// shards around a home of weight 0, take the general path.
	maxFastK = 16
	// ladder is the number of sieve levels of each zone.
	ladder = 16
)

// sieveTarget[ℓ] is the number of members expected to survive a sieve at
// level ℓ. Each zone sieves first at firstLevel[t] to rank its best t
// members, then, if too few survive, at retryLevel[t]; if that fails too, the
// general rank decides.
var sieveTarget = [ladder]float64{2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 17, 20, 26, 34, 48}

var firstLevel, retryLevel = levelsFor(func(t int) float64 { return float64(t + 2 + t/2) },
	func(t int) float64 { return float64(3*t + 8) })

// levelsFor returns, for each t ≤ maxFastK, the first ladder level whose
// target reaches first(t), and the first that reaches retry(t).
func levelsFor(first, retry func(int) float64) (f, r [maxFastK + 1]uint8) {
	at := func(s float64) uint8 {
		for l, target := range sieveTarget {
			if target >= s {
				return uint8(l)
			}
		}
		return ladder - 1
	}
	for t := 1; t <= maxFastK; t++ {
		f[t], r[t] = at(first(t)), at(retry(t))
	}
	return f, r
}

// prepareSieve computes what the fast path needs and no key changes: the
// first step of every member's mix, weights by position, the live zones,
// every threshold and the water levels of small shards. New calls it last.
func (r *Ring) prepareSieve() {
	n := len(r.eSeed)
	r.pre = make([]uint64, n)
	r.eW = make([]float64, n)
	r.eInv = make([]float64, n)
	for p, s := range r.eSeed {
		r.pre[p] = s ^ s>>30
	}
	r.pos = make([]int32, len(r.members))
	for i := range r.pos {
		r.pos[i] = -1
	}
	for p, i := range r.eIdx {
		r.pos[i] = int32(p)
	}
	r.uniform = true
	for _, g := range r.groups {
		for p := g.lo; p < g.hi; p++ {
			r.eW[p], r.eInv[p] = g.w, 1/g.w
		}
		r.uniform = r.uniform && g.w == r.groups[0].w
	}
	r.allThr = firstThresholds(n)
	r.ownThr = make([][2]uint64, len(r.groups))
	for g, gr := range r.groups {
		r.ownThr[g] = firstThresholds(int(gr.hi - gr.lo))
	}
	r.thr = make([]uint64, len(r.groups)*ladder)
	r.zoneQ = make([]float64, len(r.zones)*ladder)
	for z := range r.zones {
		zn := &r.zones[z]
		size := int(zn.hi - zn.lo)
		if size == 0 {
			continue
		}
		r.live = append(r.live, int32(z))
		zn.bits = uint8(bits.Len(uint(size)))
		zn.mixed = zn.ghi-zn.glo > 1
		for l, s := range sieveTarget {
			if !zn.mixed {
				r.thr[int(zn.glo)*ladder+l] = drawThreshold(size, s)
				continue
			}
			q := r.scoreBound(zn, s)
			r.zoneQ[z*ladder+l] = q
			if r.mthr == nil {
				r.mthr = make([]uint32, ladder*n)
			}
			for _, g := range r.groups[zn.glo:zn.ghi] {
				t := uint32(scoreThreshold(q, g.w) >> 33)
				for p := g.lo; p < g.hi; p++ {
					r.mthr[l*n+int(p)] = t
				}
			}
		}
	}
	size := func(z int32) int32 { return r.zones[z].hi - r.zones[z].lo }
	for k := 2; k <= maxFastK; k++ {
		r.levels[k].level, r.levels[k].extra = r.waterLevel(int32(k), size)
	}
	r.prepareZones()
}

// waterMark is the water level of a shard size: every column gives
// min(size, level) members, and the first extra columns one more.
type waterMark struct{ level, extra int32 }

// firstThresholds returns the two sieve thresholds, first and retry, for the
// best member of size members of equal weight.
func firstThresholds(size int) [2]uint64 {
	return [2]uint64{drawThreshold(size, sieveTarget[firstLevel[1]]), drawThreshold(size, sieveTarget[retryLevel[1]])}
}

// drawThreshold returns the threshold T that about s of size members of
// equal weight reach (x ≥ T), or 0 when s ≥ size. T is a multiple of 2³³,
// so that x ≥ T exactly when the product before the last step of mix
// reaches T (the last step, z ^ z>>31, keeps its top 31 bits, and those
// decide x ≥ T when the low 33 bits of T are zero).
func drawThreshold(size int, s float64) uint64 {
	if s >= float64(size) {
		return 0
	}
	return uint64((1-s/float64(size))*0x1p31) << 33
}

// scoreBound returns a score Q that about s members of zone zn have reached
// (expScore(x)/w ≤ Q), from Σ 1 − exp(−w·Q) = s, or +Inf when s ≥ the
// zone's size. Only the number of survivors depends on its precision; which
// members the fast path returns does not.
func (r *Ring) scoreBound(zn *zone, s float64) float64 {
	size := float64(zn.hi - zn.lo)
	if s >= size {
		return math.Inf(1)
	}
	q := -math.Log1p(-s/size) * size / zn.weight // exact for equal weights
	for range 2 {                                // Newton steps
		f, df := -s, 0.0
		for _, g := range r.groups[zn.glo:zn.ghi] {
			e := math.Exp(-g.w * q)
			f += float64(g.hi-g.lo) * (1 - e)
			df += float64(g.hi-g.lo) * g.w * e
		}
		if next := q - f/df; df > 0 && next > 0 && !math.IsInf(next, 0) {
			q = next
		}
	}
	return q
}

// scoreThreshold returns a multiple T of 2³³ such that every x < T scores
// expScore(x)/w > q: a member of weight w that draws below T ranks after
// every member whose score is at most q. It is about the largest such T.
// Each candidate is checked with expScore itself, and expScore never
// increases with x, so checking x = T−1 checks every x below T.
func scoreThreshold(q, w float64) uint64 {
	if !(q < math.Inf(1)) {
		return 0
	}
	ok := func(t uint64) bool { return t == 0 || expScore(t<<33-1)/w > q }
	t := uint64(min(math.Exp(-w*q)*0x1p31, 0x1p31-1))
	if ok(t) {
		for i := 0; i < 4 && t+1 < 1<<31 && ok(t+1); i++ {
			t++
		}
		return t << 33
	}
	for step := uint64(1); !ok(t); step *= 2 {
		t -= min(step, t)
	}
	return t << 33
}

// mixTail finishes mix(h ^ s) from y = (h ^ h>>30) ^ (s ^ s>>30), the value
// after its first step: z ^ z>>30 distributes over the xor of h and s.
func mixTail(y uint64) uint64 {
	z := y * mixM1
	z = (z ^ z>>27) * mixM2
	return z ^ z>>31
}

// sieve returns the bit mask of the members pre[i] (at most 64) whose draw
// x = mix(h ^ s) reaches t, a multiple of 2³³, for hp = h ^ h>>30; m1 and m2
// are mix's multipliers, passed so that they stay in registers. Each member
// costs its two multiplications and a few integer operations: no branch, no
// store (the compare's borrow is shifted into the mask by an add with
// carry).
//
//go:noinline
func sieve(pre []uint64, hp, t, m1, m2 uint64) uint64 {
	var drop uint64 // bit i: member i draws below t
	i := len(pre) - 1
	for ; i >= 1; i -= 2 {
		z, y := (hp^pre[i])*m1, (hp^pre[i-1])*m1
		z, y = (z^z>>27)*m2, (y^y>>27)*m2
		_, bz := bits.Sub64(z, t, 0)
		drop, _ = bits.Add64(drop, drop, bz)
		_, by := bits.Sub64(y, t, 0)
		drop, _ = bits.Add64(drop, drop, by)
	}
	if i == 0 {
		z := (hp ^ pre[0]) * m1
		z = (z ^ z>>27) * m2
		_, bz := bits.Sub64(z, t, 0)
		drop, _ = bits.Add64(drop, drop, bz)
	}
	return ^drop & (uint64(1)<<uint(len(pre)) - 1)
}

// sieveEach is sieve with a threshold per member, thr[i]·2³³ for pre[i].
//
//go:noinline
func sieveEach(pre []uint64, thr []uint32, hp, m1, m2 uint64) uint64 {
	var drop uint64
	thr = thr[:len(pre)]
	for i := len(pre) - 1; i >= 0; i-- {
		z := (hp ^ pre[i]) * m1
		z = (z ^ z>>27) * m2
		_, below := bits.Sub64(z, uint64(thr[i])<<33, 0)
		drop, _ = bits.Add64(drop, drop, below)
	}
	return ^drop & (uint64(1)<<uint(len(pre)) - 1)
}

// sieveWords is sieve for up to 15 words of members: masks[w] is the mask
// of pre[64w:64w+64]. Its loop keeps little alive across each call, where
// the caller's would spill and reload much.
//
//go:noinline
func sieveWords(pre []uint64, hp, t, m1, m2 uint64, masks *[15]uint64) {
	for w := range masks {
		if 64*w >= len(pre) {
			return
		}
		masks[w] = sieve(pre[64*w:min(64*w+64, len(pre))], hp, t, m1, m2)
	}
}

// The top-t networks: net holds the largest keys offered so far in
// decreasing order; each key costs one max and one min per slot and no
// branch. The small sizes keep the slots in registers.

func top2(net []uint64, keys []uint64) {
	a0, a1 := net[0], net[1]
	for _, v := range keys {
		a0, v = max(a0, v), min(a0, v)
		a1 = max(a1, v)
	}
	net[0], net[1] = a0, a1
}

func top3(net []uint64, keys []uint64) {
	a0, a1, a2 := net[0], net[1], net[2]
	for _, v := range keys {
		a0, v = max(a0, v), min(a0, v)
		a1, v = max(a1, v), min(a1, v)
		a2 = max(a2, v)
	}
	net[0], net[1], net[2] = a0, a1, a2
}

func top5(net []uint64, keys []uint64) {
	a0, a1, a2, a3, a4 := net[0], net[1], net[2], net[3], net[4]
	for _, v := range keys {
		a0, v = max(a0, v), min(a0, v)
		a1, v = max(a1, v), min(a1, v)
		a2, v = max(a2, v), min(a2, v)
		a3, v = max(a3, v), min(a3, v)
		a4 = max(a4, v)
	}
	net[0], net[1], net[2], net[3], net[4] = a0, a1, a2, a3, a4
}

func topN(net []uint64, keys []uint64) {
	for _, v := range keys {
		for j := range net {
			a := net[j]
			net[j] = max(a, v)
			v = min(a, v)
		}
	}
}

// netSize returns the network size that ranks t members and the next: the
// smallest specialised size of at least t+1.
func netSize(t int) int {
	switch {
	case t <= 1:
		return 2
	case t == 2:
		return 3
	case t <= 4:
		return 5
	}
	return t + 1
}

// offer offers keys to net.
func offer(net []uint64, keys []uint64) {
	switch len(net) {
	case 2:
		top2(net, keys)
	case 3:
		top3(net, keys)
	case 5:
		top5(net, keys)
	default:
		topN(net, keys)
	}
}

// A sift is the working memory of the sieves of one query: the keys of the
// survivors of a word, and the network they go to. One sift serves every
// zone of a shard, so that its memory is cleared once.
type sift struct {
	keys [16]uint64
	pos  [16]int32 // for scores: the survivors' positions
	net  [maxFastK + 1]uint64
}

// sieveDraws offers to net every member of eSeed[lo:hi] but position skip
// whose draw reaches t, keyed by the draw with its low b bits replaced by the
// position after zlo, and returns how many it offered.
func (r *Ring) sieveDraws(s *sift, net []uint64, hp uint64, lo, hi, zlo int, t uint64, skip int, b uint) int {
	if hi-lo > 4*64 {
		return r.sieveWide(s, net, hp, lo, hi, zlo, t, skip, b)
	}
	low := uint64(1)<<b - 1
	n := 0
	for base := lo; base < hi; base += 64 {
		m := sieve(r.pre[base:min(base+64, hi)], hp, t, mixM1, mixM2)
		if d := uint(skip - base); d < 64 {
			m &^= 1 << d
		}
		for ; m != 0; m &= m - 1 {
			p := base + bits.TrailingZeros64(m)
			s.keys[n&15] = mixTail(hp^r.pre[p])&^low | uint64(p-zlo)
			n++
			if n&15 == 0 {
				offer(net, s.keys[:])
			}
		}
	}
	offer(net, s.keys[:n&15])
	return n
}

// sieveWide is sieveDraws for zones of more than four words, where a
// branch per word on whether it has survivors would cost more than it
// saves: the masks of a block of 15 words are compacted without a branch,
// and one loop visits their survivors, loading the next mask instead of
// branching to it when the current one runs out.
func (r *Ring) sieveWide(s *sift, net []uint64, hp uint64, lo, hi, zlo int, t uint64, skip int, b uint) int {
	low := uint64(1)<<b - 1
	n := 0
	var words [16]uint64 // the non-empty masks of a block
	var bases [16]int    // and the position of each one's bit 0
	for blk := lo; blk < hi; blk += 15 * 64 {
		end := min(blk+15*64, hi)
		var masks [15]uint64
		sieveWords(r.pre[blk:end], hp, t, mixM1, mixM2, &masks)
		if d := uint(skip - blk); d < uint(end-blk) {
			masks[d/64] &^= 1 << (d % 64)
		}
		nw, total := 0, 0
		for i, m := range masks[:(end-blk+63)/64] {
			words[nw&15], bases[nw&15] = m, blk+64*i
			nw += int((m | -m) >> 63) // one more when m has survivors
			total += bits.OnesCount64(m)
		}
		words[nw&15] = 0
		cur, base, w := words[0], bases[0], 0
		for range total {
			p := base + bits.TrailingZeros64(cur)
			cur &= cur - 1
			next := 1 - (cur|-cur)>>63 // 1 when cur ran out
			w += int(next)
			keep := next - 1
			cur |= words[w&15] &^ keep
			base = base&int(keep) | bases[w&15]&^int(keep)
			s.keys[n&15] = mixTail(hp^r.pre[p])&^low | uint64(p-zlo)
			n++
			if n&15 == 0 {
				offer(net, s.keys[:])
			}
		}
	}
	offer(net, s.keys[:n&15])
	return n
}

// sieveScores is sieveDraws for mixed zone zn at level l, where each member
// has its own threshold: every survivor pays for its score, keyed by the
// complement of the score's bits (the bits of a positive double grow with
// it), and it returns how many are certain to score at most bound. With
// approx, the score is approxScore's, within a factor 1 ± approxErr of the
// exact one, and odd reports one outside the range where that holds for its
// bits.
func (r *Ring) sieveScores(s *sift, net []uint64, hp uint64, zn *zone, l int, bound float64, skip int, approx bool) (n int, odd bool) {
	lo, hi := int(zn.lo), int(zn.hi)
	thr := r.mthr[l*len(r.pre):][:len(r.pre)]
	c := 0
	for base := lo; base < hi; base += 64 {
		end := min(base+64, hi)
		m := sieveEach(r.pre[base:end], thr[base:end], hp, mixM1, mixM2)
		if d := uint(skip - base); d < 64 {
			m &^= 1 << d
		}
		for ; m != 0; m &= m - 1 {
			p := base + bits.TrailingZeros64(m)
			s.keys[c&15], s.pos[c&15] = mixTail(hp^r.pre[p]), int32(p)
			c++
			if c&15 == 0 {
				dn, dodd := r.scoreKeys(s, net, s.keys[:], zn, bound, approx)
				n, odd = n+dn, odd || dodd
			}
		}
	}
	dn, dodd := r.scoreKeys(s, net, s.keys[:c&15], zn, bound, approx)
	return n + dn, odd || dodd
}

// scoreKeys turns the draws xs of the survivors at s.pos into score keys,
// offers them to net, and returns how many are certain to score at most
// bound. Scoring the survivors of a zone together, rather than each as it
// is found, lets the processor work on their long chains of dependent
// operations side by side.
func (r *Ring) scoreKeys(s *sift, net, xs []uint64, zn *zone, bound float64, approx bool) (n int, odd bool) {
	b := uint(zn.bits)
	low := uint64(1)<<b - 1
	lo := int(zn.lo)
	pos := s.pos[:len(xs)]
	if approx {
		limit := bound / (1 + 2*approxErr) // an approximate score below it is certain to be within bound
		var out uint64
		for i, x := range xs {
			p := int(pos[i])
			q := approxScore(x) * r.eInv[p]
			n += int(b2u(q <= limit))
			out |= b2u(q < 0x1p-1000) | b2u(q > 0x1p1000)
			xs[i] = ^math.Float64bits(q)&^low | uint64(p-lo)
		}
		odd = out != 0
	} else {
		for i, x := range xs {
			p := int(pos[i])
			q := expScore(x) / r.eW[p]
			n += int(b2u(q <= bound))
			xs[i] = ^math.Float64bits(q)&^low | uint64(p-lo)
		}
	}
	offer(net, xs)
	return n, odd
}

// approxErr bounds the relative error of an approximate score,
// approxScore(x)/w, against the exact expScore(x)/w.
const approxErr = 0x1p-20

// approxScore is expScore with the first six terms of its series instead of
// seventeen, and free to round as it likes: the omitted terms weigh less
// than z⁶/13·9/8 ≤ 1.7·10⁻⁷ of the sum (z ≤ 1/9), so it is within 2⁻²² of
// expScore, relatively, and its quotient by a weight (times the rounded
// inverse) within approxErr of the exact score.
func approxScore(x uint64) float64 {
	n := x>>12<<1 | 1
	p := bits.Len64(n)
	j := float64(53 - p)
	t := float64((uint64(1)<<p)-n) * math.Float64frombits(uint64(1023-p)<<52) // ·2⁻ᵖ
	s := t / (2 - t)
	z := s * s
	e := j*ln2 + 2*s*(1+z*(1.0/3+z*(1.0/5+z*(1.0/7+z*(1.0/9+z*(1.0/11))))))
	return min(e, (j+1)*ln2)
}

// approxApart reports whether keys a ≥ b of approximate scores order their
// members for certain: their scores differ by more than the errors of both.
// Keys 2³⁵ apart hold scores whose bits differ by at least 2³⁴ (positions
// take at most 25 low bits), a ratio of at least 1 + 2⁻¹⁹ = 1 + 4·approxErr
// between normal doubles.
func approxApart(a, b uint64) bool {
	return a>>35-b>>35 >= 2
}

// b2u returns 1 for true and 0 for false, without a branch.
func b2u(b bool) uint64 {
	var u uint64
	if b {
		u = 1
	}
	return u
}

// zoneTop writes to out the positions (in eSeed) of the len(out) best
// members of live zone z for h, in rank order, position skip excluded; the
// zone has that many members besides skip, and len(out) ≤ maxFastK. s is
// working memory.
func (r *Ring) zoneTop(s *sift, h uint64, z int32, skip int, out []int32) {
	t := len(out)
	if t == 0 {
		return
	}
	if zn := &r.zones[z]; !zn.mixed {
		// sieveZone at the first level, written out: the common case.
		b := uint(zn.bits)
		net := s.net[:netSize(t)]
		clear(net)
		lo := int(zn.lo)
		if r.sieveDraws(s, net, h^h>>30, lo, int(zn.hi), lo, r.thr[int(zn.glo)*ladder+int(firstLevel[t])], skip, b) >= t && distinct(net[:t+1], b) {
			low := uint64(1)<<b - 1
			for j := range out {
				out[j] = zn.lo + int32(net[j]&low)
			}
			return
		}
	} else if r.sieveZone(s, h, z, skip, int(firstLevel[t]), out) {
		return
	}
	if r.sieveZone(s, h, z, skip, int(retryLevel[t]), out) {
		return
	}
	var buf [maxFastK]cand
	picks := buf[:t]
	skipIdx := int32(-1)
	if skip >= 0 {
		skipIdx = r.eIdx[skip]
	}
	c := column{zone: z}
	r.rankZone(h, &c, picks, skipIdx)
	for j := range out {
		out[j] = r.pos[picks[j].i]
	}
}

// sieveZone is zoneTop at sieve level l. It reports false, having decided
// nothing, when fewer than len(out) members are certain to survive or when
// two of the best keys tie in their high bits.
//
// It is exact: every member it drops ranks after every member it keeps (a
// draw below the threshold, in a zone of equal weights; in a zone of mixed
// weights, a score above the bound, which it checks every kept member stays
// within), and keys whose high bits differ order members as the rank does.
func (r *Ring) sieveZone(s *sift, h uint64, z int32, skip, l int, out []int32) bool {
	zn := &r.zones[z]
	t := len(out)
	b := uint(zn.bits)
	net := s.net[:netSize(t)]
	clear(net)
	hp := h ^ h>>30
	if zn.mixed {
		if !r.sieveMixed(s, net, hp, z, skip, l, t) {
			return false
		}
	} else {
		if r.sieveDraws(s, net, hp, int(zn.lo), int(zn.hi), int(zn.lo), r.thr[int(zn.glo)*ladder+l], skip, b) < t || !distinct(net[:t+1], b) {
			return false
		}
	}
	low := uint64(1)<<b - 1
	for j := range out {
		out[j] = zn.lo + int32(net[j]&low)
	}
	return true
}

// distinct reports whether the keys of net, in decreasing order, differ
// above their low b bits.
func distinct(net []uint64, b uint) bool {
	ok := true
	for j := range len(net) - 1 {
		ok = ok && (net[j]^net[j+1])>>b != 0
	}
	return ok
}

// sieveMixed is sieveZone's sieve of a zone of mixed weights: with
// approximate scores first, then, if two of the best t are too close to be
// told apart that way (or a score is out of range), with exact ones.
func (r *Ring) sieveMixed(s *sift, net []uint64, hp uint64, z int32, skip, l, t int) bool {
	zn := &r.zones[z]
	bound := r.zoneQ[int(z)*ladder+l]
	n, odd := r.sieveScores(s, net, hp, zn, l, bound, skip, true)
	if net[t-1] == 0 {
		return false // fewer than t survivors (score keys are never 0)
	}
	apart := true
	for j := range t {
		apart = apart && approxApart(net[j], net[j+1])
	}
	if !odd && apart {
		return n >= t
	}
	clear(net)
	n, _ = r.sieveScores(s, net, hp, zn, l, bound, skip, false)
	return n >= t && distinct(net[:t+1], uint(zn.bits))
}

// sieveFirst returns the position of the best member of eSeed[lo:hi], all
// of one weight, trying thresholds ts[0] then ts[1]; false when neither
// decides.
func (r *Ring) sieveFirst(h uint64, lo, hi int, ts [2]uint64) (int, bool) {
	b := uint(bits.Len(uint(hi - lo)))
	var s sift
	for _, t := range ts {
		net := s.net[:2]
		net[0], net[1] = 0, 0
		n := r.sieveDraws(&s, net, h^h>>30, lo, hi, lo, t, -1, b)
		if n == 1 || n > 1 && (net[0]^net[1])>>b != 0 {
			return lo + int(net[0]&(1<<b-1)), true
		}
		if n > 1 {
			break // a near tie: the exact scan decides
		}
	}
	return 0, false
}

// candAt returns the member at position p of eSeed, ranked for h.
func (r *Ring) candAt(h uint64, p int32) cand {
	return cand{x: mix(h ^ r.eSeed[p]), w: r.eW[p], q: -1, i: r.eIdx[p]}
}

// A contest picks the first of several members by approximate scores,
// which, unlike exact ones, can be computed side by side: a few
// independent multiplications instead of a chain of exact scores. When the
// two best are too close to tell apart, or a score is out of the range
// where approxErr holds, it is not sure, and the caller ranks exactly.
type contest struct {
	lead   int     // the entry that leads
	m      cand    // its member
	q1, q2 float64 // the best and second best approximate scores
}

func newContest() contest { return contest{lead: -1, q1: math.Inf(1), q2: math.Inf(1)} }

// enter offers member m, whose weight's inverse is inv, as entry i.
func (c *contest) enter(m cand, inv float64, i int) {
	if expScoreFloor(m.x)*inv > c.q1*(1+8*approxErr) {
		// A lower bound of m's score says it is far behind the leader:
		// it can neither lead nor make the leader unsure.
		return
	}
	q := approxScore(m.x) * inv
	if q < c.q1 {
		c.lead, c.m, c.q1, c.q2 = i, m, q, c.q1
	} else {
		c.q2 = min(c.q2, q)
	}
}

// sure reports whether the leader ranks first for certain: its exact
// score is below every other's, as the approximate ones are more than
// their errors apart.
func (c *contest) sure() bool {
	return c.q1 >= 0x1p-1000 && c.q1 <= 0x1p1000 && c.q2 > c.q1*(1+4*approxErr)
}

// first returns the best member of group g for h.
func (r *Ring) first(h uint64, g int) cand {
	gr := r.groups[g]
	if gr.hi-gr.lo >= 32 { // smaller groups: the plain scan is cheaper
		if p, ok := r.sieveFirst(h, int(gr.lo), int(gr.hi), r.ownThr[g]); ok {
			return cand{x: mix(h ^ r.eSeed[p]), w: gr.w, q: -1, i: r.eIdx[p]}
		}
	}
	return r.argmax(h, gr)
}

// shardFast is shard for 2 ≤ k ≤ maxFastK, k at most the members of
// positive weight, and a home that is −1 or of positive weight.
func (r *Ring) shardFast(h uint64, home, k int, dst []int) []int {
	var picks [2 * maxFastK]int32 // positions in eSeed
	var s sift
	if len(r.live) == 1 {
		// One zone: the shard is its best k, or the home and the best
		// k−1 others.
		z := r.live[0]
		if home < 0 {
			out := picks[:k]
			r.zoneTop(&s, h, z, -1, out)
			for _, p := range out {
				dst = append(dst, int(r.eIdx[p]))
			}
			return dst
		}
		out := picks[:k-1]
		r.zoneTop(&s, h, z, int(r.pos[home]), out)
		dst = append(dst, home)
		for _, p := range out {
			dst = append(dst, int(r.eIdx[p]))
		}
		return dst
	}
	level, extra := r.levels[k].level, r.levels[k].extra
	if level == 0 {
		return r.shardSpread(h, home, k, dst)
	}

	// Every live zone is a column (there are at most k of them); column i
	// lists picks[cols[i].off:][:cols[i].n], the home first in its own.
	more := int32(0)
	if extra > 0 {
		more = 1
	}
	homeZone := int32(-1)
	if home >= 0 {
		homeZone = r.zoneOf[home]
	}
	var colBuf [maxFastK]fastColumn
	cols := colBuf[:len(r.live)]
	off, lead := int32(0), -1
	for i, z := range r.live {
		zn := &r.zones[z]
		c := &cols[i]
		*c = fastColumn{zone: z, size: zn.hi - zn.lo, key: mix(h ^ zn.seed), off: off}
		if z == homeZone {
			c.n = min(c.size, level+1)
			picks[off] = r.pos[home]
			r.zoneTop(&s, h, z, int(r.pos[home]), picks[off+1:off+c.n])
		} else {
			c.n = min(c.size, level+more)
			r.zoneTop(&s, h, z, -1, picks[off:off+c.n])
		}
		if z == homeZone {
			lead = i
		}
		off += c.n
	}
	if home < 0 {
		// The owner leads one of the columns. Comparing the leaders only
		// now, once every zone is ranked, keeps a mispredicted compare from
		// discarding the ranking of the zones after it.
		sure := false
		if !r.uniform {
			race := newContest()
			for i := range cols {
				p := picks[cols[i].off]
				race.enter(r.candAt(h, p), r.eInv[p], i)
			}
			lead, sure = race.lead, race.sure()
		}
		if !sure {
			var best cand
			for i := range cols {
				if m := r.candAt(h, picks[cols[i].off]); i == 0 || ahead(&m, &best) {
					lead, best = i, m
				}
			}
		}
	}

	// Column order: the home's, then the others by zone rank (an
	// insertion sort of cols[1:]: at most maxFastK columns). Then the
	// counts, and the rows.
	cols[0], cols[lead] = cols[lead], cols[0]
	for i := 2; i < len(cols); i++ {
		for j := i; j > 1 && zoneRanks(&cols[j], &cols[j-1]); j-- {
			cols[j], cols[j-1] = cols[j-1], cols[j]
		}
	}
	for i := range cols {
		c := &cols[i]
		c.count = min(c.size, level)
		if extra > 0 && c.size > level {
			c.count++
			extra--
		}
	}
	for round := int32(0); len(dst) < k; round++ {
		for i := range cols {
			if c := &cols[i]; round < c.count {
				dst = append(dst, int(r.eIdx[picks[c.off+round]]))
			}
		}
	}
	return dst
}

// fastColumn is one zone's part of a shard on the fast path.
type fastColumn struct {
	zone  int32
	size  int32  // members of positive weight
	key   uint64 // rank of the zone for this hash: mix(h ^ zone seed)
	off   int32  // the column is picks[off : off+n]
	n     int32
	count int32 // members the shard takes from the column
}

// zoneRanks reports whether column a's zone ranks before b's: the larger
// key, then the smaller zone index (zone indexes follow name order).
func zoneRanks(a, b *fastColumn) bool {
	return a.key > b.key || a.key == b.key && a.zone < b.zone
}

// shardSpread is shard when more zones have members than the shard takes
// (water level 0), for 2 ≤ k ≤ maxSpreadK: the home, then the best member
// of each of the k−1 best other zones, in zone rank order.
func (r *Ring) shardSpread(h uint64, home, k int, dst []int) []int {
	if home < 0 {
		home = r.Owner(h)
	}
	var buf [maxSpreadK]zoneKey
	sel := r.topZones(h, r.zoneOf[home], buf[:k-1])
	dst = append(dst, home)
	var p [1]int32
	var s sift
	for _, c := range sel {
		if zn := &r.zones[c.zone]; zn.hi-zn.lo == 1 {
			p[0] = zn.lo // a zone of one member: no need to rank it
		} else {
			r.zoneTop(&s, h, c.zone, -1, p[:])
		}
		dst = append(dst, int(r.eIdx[p[0]]))
	}
	return dst
}

// maxSpreadK is the largest shard that shardSpread builds; it is
// placement's default bound on shard sizes.
const maxSpreadK = 64

// A zoneKey is a live zone and its rank for one hash.
type zoneKey struct {
	key  uint64 // mix(h ^ zone seed): the larger ranks first
	zone int32  // then the smaller zone index
}

func (a *zoneKey) before(b *zoneKey) bool {
	return a.key > b.key || a.key == b.key && a.zone < b.zone
}

// Zones are sieved, rather than each ranked, when there are more live zones
// than this: below it the sieve saves less than its second pass may cost.
const sieveZonesAbove = 64

// prepareZones computes the zones' part of the fast path: the first step of
// every live zone's mix, in r.live order, and for each number t of zones a
// shard can take, two sieve thresholds that about 1.25t+8 and 2t+24 of them
// reach. The memory is 8 bytes a live zone and 1 KB a ring.
func (r *Ring) prepareZones() {
	if len(r.live) <= sieveZonesAbove {
		return
	}
	r.zpre = make([]uint64, len(r.live))
	for i, z := range r.live {
		s := r.zones[z].seed
		r.zpre[i] = s ^ s>>30
	}
	r.zoneThr = make([][2]uint64, maxSpreadK)
	for t := 1; t < maxSpreadK; t++ {
		r.zoneThr[t] = [2]uint64{drawThreshold(len(r.live), 1.25*float64(t)+8), drawThreshold(len(r.live), float64(2*t+24))}
	}
}

// topZones fills out with the len(out) best live zones for h other than
// skip, in rank order, and returns it; there are that many. With many
// zones it sieves their draws (exactly, as zoneTop sieves members: a zone
// dropped draws below the threshold, so after each of at least len(out)
// zones kept), and ranks all of them only when two sieves keep too few.
func (r *Ring) topZones(h uint64, skip int32, out []zoneKey) []zoneKey {
	t := len(out)
	hp := h ^ h>>30
	if r.zpre != nil && t < len(r.zoneThr) {
		for _, thr := range r.zoneThr[t] {
			n := 0
			for base := 0; base < len(r.zpre); base += 64 {
				pre := r.zpre[base:min(base+64, len(r.zpre))]
				for m := sieve(pre, hp, thr, mixM1, mixM2); m != 0; m &= m - 1 {
					i := base + bits.TrailingZeros64(m)
					if z := r.live[i]; z != skip {
						n = offerZone(out, n, zoneKey{mixTail(hp ^ r.zpre[i]), z})
					}
				}
			}
			if n == t {
				return out
			}
		}
	}
	n := 0
	for _, z := range r.live {
		if z != skip {
			n = offerZone(out, n, zoneKey{mix(h ^ r.zones[z].seed), z})
		}
	}
	return out[:n]
}

// offerZone offers c to the n best zones so far, out[:n] in rank order,
// and returns how many out holds now.
func offerZone(out []zoneKey, n int, c zoneKey) int {
	if n == len(out) {
		if !c.before(&out[n-1]) {
			return n
		}
		n--
	}
	j := n
	for ; j > 0 && c.before(&out[j-1]); j-- {
		out[j] = out[j-1]
	}
	out[j] = c
	return n + 1
}
