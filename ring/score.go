package ring

import "math/bits"

// This file holds the one piece of floating point that decides answers: the
// exponential score of weighted rendezvous. Every operation below is a single
// IEEE 754 double operation rounded to nearest, written with explicit float64
// conversions so that no compiler fuses a product into a sum (Go may do that
// on arm64). Any language with IEEE doubles reproduces it bit for bit.

// ln2 is the double nearest to ln 2.
const ln2 = 0.693147180559945309417232121458176568

// Horner's rule for atanh(s)/s = Σ zⁱ/(2i+1), z = s², i = 0…16; each constant
// is the double nearest to 1/(2i+1). With s ≤ 1/3 the first omitted term is
// below 2⁻⁵⁶ of the sum.
func atanhRatio(z float64) float64 {
	p := 1.0 / 33
	p = 1.0/31 + float64(z*p)
	p = 1.0/29 + float64(z*p)
	p = 1.0/27 + float64(z*p)
	p = 1.0/25 + float64(z*p)
	p = 1.0/23 + float64(z*p)
	p = 1.0/21 + float64(z*p)
	p = 1.0/19 + float64(z*p)
	p = 1.0/17 + float64(z*p)
	p = 1.0/15 + float64(z*p)
	p = 1.0/13 + float64(z*p)
	p = 1.0/11 + float64(z*p)
	p = 1.0/9 + float64(z*p)
	p = 1.0/7 + float64(z*p)
	p = 1.0/5 + float64(z*p)
	p = 1.0/3 + float64(z*p)
	return 1 + float64(z*p)
}

// expScore maps a 64-bit rendezvous hash x to −ln u, an exponential variate,
// where u = (2·⌊x/2¹²⌋+1)/2⁵³ lies strictly inside (0, 1).
//
// Write n = 2·⌊x/2¹²⌋+1 (odd, below 2⁵³), p = bits.Len64(n) and j = 53−p, so
// that u = 2⁻ʲ·(1−t) with t = (2ᵖ−n)/2ᵖ in (0, 1/2], computed exactly. Then
//
//	−ln u = j·ln2 + g(t),  g(t) = −ln(1−t) = 2·atanh(s),  s = t/(2−t) ≤ 1/3,
//
// with atanh evaluated by atanhRatio, and the
// result capped at (j+1)·ln2. Each step is monotone, and the cap joins the
// binades, so expScore never increases as x grows: equal-weight members can be
// ranked by x alone, without computing it.
func expScore(x uint64) float64 {
	n := x>>12<<1 | 1
	p := bits.Len64(n)
	j := float64(53 - p)
	t := float64((uint64(1)<<p)-n) / float64(uint64(1)<<p)
	s := t / (2 - t)
	g := float64(2 * float64(s*atanhRatio(float64(s*s))))
	e := float64(j*ln2) + g
	if lim := float64((j + 1) * ln2); e > lim {
		e = lim
	}
	return e
}

// expScoreFloor is a cheap lower bound of expScore(x): −ln u ≥ 1−u. It lets a
// scan reject most candidates of another weight without the full score.
func expScoreFloor(x uint64) float64 {
	n := x>>12<<1 | 1
	return float64((uint64(1)<<53)-n) / (1 << 53)
}
