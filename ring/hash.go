package ring

import (
	"encoding/binary"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// Hash returns the XXH64 digest of the bytes of key under seed. It is the key
// hash of every lookup in cellkit: placement computes Hash(seed, key) once per
// request and derives the bucket, the owner and the shard from it. Hash does
// not allocate.
func Hash(seed uint64, key string) uint64 {
	if len(key) >= 32 {
		var d xxhash.Digest
		d.ResetWithSeed(seed)
		d.WriteString(key)
		return d.Sum64()
	}
	return hashShort(seed, key)
}

// The primes of XXH64.
const (
	prime1 = 11400714785074694791
	prime2 = 14029467366897019727
	prime3 = 1609587929392839161
	prime4 = 9650029242287828579
	prime5 = 2870177450012600261
)

// hashShort is XXH64 for keys shorter than its 32-byte stripe, where the seed
// only enters the initial value: the tail rounds and the final avalanche of
// the specification, without the state of a streaming digest. The tests check
// it against xxhash's Digest for every length and many seeds.
func hashShort(seed uint64, key string) uint64 {
	h := seed + prime5 + uint64(len(key))
	for ; len(key) >= 8; key = key[8:] {
		k := binary.LittleEndian.Uint64([]byte(key[:8]))
		h ^= bits.RotateLeft64(k*prime2, 31) * prime1
		h = bits.RotateLeft64(h, 27)*prime1 + prime4
	}
	if len(key) >= 4 {
		h ^= uint64(binary.LittleEndian.Uint32([]byte(key[:4]))) * prime1
		h = bits.RotateLeft64(h, 23)*prime2 + prime3
		key = key[4:]
	}
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i]) * prime5
		h = bits.RotateLeft64(h, 11) * prime1
	}
	h ^= h >> 33
	h *= prime2
	h ^= h >> 29
	h *= prime3
	h ^= h >> 32
	return h
}

// Jump returns the bucket in [0, n) that Lamping and Veach's jump consistent
// hash assigns to h ("A Fast, Minimal Memory, Consistent Hash Algorithm",
// 2014), bit for bit as the paper's reference code. Growing n to n+1 moves
// about 1/(n+1) of all hashes, all of them to bucket n. Jump returns 0 when
// n < 1, the only bucket a caller can index without checking, and treats n
// above 2⁵³ as 2⁵³, the largest bucket count a float64 step can address.
func Jump(h uint64, n int) int {
	limit := float64(min(int64(n), 1<<53))
	var b int64
	for {
		h = h*2862933555777941757 + 1
		// One division and one product, each rounded to float64: the
		// explicit conversions keep the compiler from fusing them. Comparing
		// before converting keeps a huge step from overflowing int64.
		next := float64(float64(b+1) * float64(float64(1<<31)/float64(h>>33+1)))
		if next >= limit {
			return int(b)
		}
		b = int64(next)
	}
}

// The constants of the SplitMix64 generator (Steele, Lea and Flood, 2014),
// whose output function is David Stafford's "Mix13" finalizer.
const (
	gamma = 0x9e3779b97f4a7c15
	mixM1 = 0xbf58476d1ce4e5b9
	mixM2 = 0x94d049bb133111eb
)

// mix is the SplitMix64 output function: a bijection of uint64 with full
// avalanche. Every rendezvous score in this package is mix(h ^ seed).
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * mixM1
	z = (z ^ z>>27) * mixM2
	return z ^ z>>31
}

// Seeds of the identifier hashes. They keep member, zone and key hashes of
// equal strings apart.
const (
	memberSeed = 0x63656c6c6b69746d // "cellkitm"
	zoneSeed   = 0x63656c6c6b69747a // "cellkitz"
)

// BucketHash returns the hash that ranks the members for bucket b of a Table:
// output number b+1 of SplitMix64 started from state 0, mix((b+1)·0x9e3779b97f4a7c15).
func BucketHash(b int) uint64 {
	return mix(uint64(b+1) * gamma)
}

// reduce returns h mod d for d ≥ 1, using the Barrett constant m = ⌊(2⁶⁴−1)/d⌋
// instead of a hardware division. The estimate q is ⌊h/d⌋ or one less, so a
// single correction gives the exact remainder.
func reduce(h, d, m uint64) uint64 {
	q, _ := bits.Mul64(h, m)
	r := h - q*d
	if r >= d {
		r -= d
	}
	return r
}
