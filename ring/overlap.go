package ring

import (
	"math"
	"math/big"
)

// Shards returns C(n, k), the number of distinct shards of k members drawn
// from n, exactly (C(2048, 4) = 730,862,190,080 does not fit a float64's
// integers for larger n), or 0 when k < 0 or k > n. It costs
// O(min(k, n−k)) big-number multiplications.
func Shards(n, k int) *big.Int {
	if k < 0 || n < 0 || k > n {
		return new(big.Int)
	}
	return new(big.Int).Binomial(int64(n), int64(k))
}

// Overlap returns the probability that the shards of two random keys share
// exactly o members when each shard is k members drawn uniformly from n, as
// Shard draws them on a ring of one zone and equal weights: the
// hypergeometric law C(k,o)·C(n−k,k−o)/C(n,k). The expected overlap is k²/n,
// and two keys share a whole shard with probability 1/C(n,k). Overlap returns
// 0 for an overlap that cannot happen and when n and k describe no shard
// (k < 1 or k > n). Up to 4096 draws it is exact to the last bit (computed in
// rationals); beyond, it uses log-gamma and is accurate to about 1e-10.
func Overlap(n, k, o int) float64 {
	if k < 1 || k > n || o < 0 || o > k || k-o > n-k {
		return 0
	}
	if min(k, n-k) <= 4096 {
		num := new(big.Int).Mul(Shards(k, o), Shards(n-k, k-o))
		f, _ := new(big.Rat).SetFrac(num, Shards(n, k)).Float64()
		return f
	}
	return math.Exp(lchoose(k, o) + lchoose(n-k, k-o) - lchoose(n, k))
}

// lchoose returns ln C(n, k).
func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n) + 1)
	b, _ := math.Lgamma(float64(k) + 1)
	c, _ := math.Lgamma(float64(n-k) + 1)
	return a - b - c
}

// PackingBound returns ⌊C(n, m+1) / C(k, m+1)⌋, an upper bound on the number
// of distinct shards of k members out of n that pairwise share at most m
// members: every (m+1)-subset of members lies in at most one such shard.
// Route 53's 2,048 name servers in shards of 4 sharing at most 2 allow at
// most ⌊C(2048,3)/C(4,3)⌋ of them. For m ≥ k−1 it is C(n, k), every shard.
// It returns 0 when the arguments describe no shard (k < 1, k > n, m < 0).
func PackingBound(n, k, m int) *big.Int {
	if k < 1 || k > n || m < 0 {
		return new(big.Int)
	}
	m = min(m, k-1)
	return new(big.Int).Quo(Shards(n, m+1), Shards(k, m+1))
}
