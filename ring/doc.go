// Package ring holds the pure algorithms under cellkit's placement: a seeded
// key hash, weighted rendezvous owners, zone-spread shuffle shards, O(1)
// bucket tables with a minimal-move planner, jump hash, and the
// combinatorics of shard overlap for blast-radius reports.
//
// Everything here is deterministic: the same inputs give the same answers in
// every process, on every platform and Go version, forever. This page states
// each rule precisely enough to reproduce it in another language; the golden
// tests (testdata/golden.json, checked on amd64 and arm64) pin them.
//
// The package does no I/O, reads no clock and starts no goroutines. A Ring
// and a Table are immutable and safe for concurrent use; lookups do not
// allocate.
//
// # Hashes
//
// The key hash is XXH64 of the key's bytes under a 64-bit seed: Hash(seed,
// key). Member and zone identifiers are hashed the same way under fixed seeds:
//
//	member seed sᵢ = XXH64(ID,   0x63656c6c6b69746d)   // "cellkitm"
//	zone seed   z  = XXH64(zone, 0x63656c6c6b69747a)   // "cellkitz"
//
// mix is the output function of SplitMix64 (Stafford's Mix13):
//
//	mix(z) = z ^= z>>30; z *= 0xbf58476d1ce4e5b9; z ^= z>>27; z *= 0x94d049bb133111eb; z ^ z>>31
//
// # Owners: weighted rendezvous
//
// For a hash h, member i with weight wᵢ > 0 draws xᵢ = mix(h ^ sᵢ). Members are
// ranked by increasing score
//
//	qᵢ = E(xᵢ) / wᵢ,  E(x) = −ln u,  u = (2·⌊x/2¹²⌋ + 1) / 2⁵³ ∈ (0, 1),
//
// then by decreasing xᵢ, then by ID in byte order. E(x) is an exponential
// variate, so qᵢ ~ Exp(wᵢ) and the first member, the owner, is member i with
// probability wᵢ/Σw (the logarithmic method of weighted rendezvous: highest
// −wᵢ/ln u). Changing one member's weight moves keys only to or from it;
// adding or removing a member moves only keys to or from it. Members of
// weight 0 stay in the ring, with an index, but are never chosen.
//
// E is computed with IEEE 754 double operations only, each rounded to nearest
// and never fused (see expScore): with n = 2·⌊x/2¹²⌋+1, p = bit length of n,
// j = 53−p and t = (2ᵖ−n)/2ᵖ (exact), s = t/(2−t), z = s·s, and Horner's rule
// P = 1 + z(1/3 + z(1/5 + … + z(1/33))) on the doubles nearest 1/(2i+1),
//
//	E = min(j·ln2 + 2·s·P, (j+1)·ln2),   ln2 the double nearest ln 2.
//
// E never increases with x, so members of equal weight rank by x alone: the
// common case costs one mix and one integer compare per member.
//
// # Shards
//
// The shard of h around a home member (the owner, for Shard; any member, for
// ShardFrom) is built from one column per zone: the home's zone first, then
// the other zones with members of positive weight in decreasing
// mix(h ^ zone seed), ties by zone name. A column lists the zone's members of
// positive weight in rank order (above); the home's column starts with the
// home. The shard of size k is the first k members read row by row: the first
// of each column in column order, then the second of each, skipping columns
// that ran out. Hence:
//
//   - the home is first, members are distinct, and Shard(h, k) is a prefix of
//     Shard(h, k+1);
//   - per-zone counts differ by at most one while every zone has enough
//     members;
//   - when one member joins or leaves and the home does not change, one cell
//     of one column appears or disappears, so at most one member of the
//     shard changes;
//   - with one zone and equal weights a shard is a uniform k-subset, so the
//     overlap of two keys' shards follows the hypergeometric law (Overlap),
//     and two keys share a whole shard with probability 1/C(n, k);
//   - weights: within a zone, members appear in Plackett–Luce order (each next
//     member is drawn from those left with probability proportional to its
//     weight), so a member's share of shard slots grows with its weight;
//     zones take turns whatever their total weight.
//
// # How Owner and Shard compute it
//
// The rules above define the answers; this section describes how Owner,
// Shard and ShardFrom reach them fast without changing a bit of them
// (the tests compare them with a plain implementation of the rules, and
// with the slower code they replaced, on many fleets).
//
// Everything that does not depend on the key is computed by New: for member
// i, pᵢ = sᵢ ^ sᵢ>>30, the first step of mix, so that mix(h ^ sᵢ) starts from
// (h ^ h>>30) ^ pᵢ; and, for each zone and each of a ladder of target counts
// c, a threshold that about c of its members reach. To rank a zone's best t
// members for a key, the zone is sieved at the first target of at least
// t + 2 + t/2: each member's two multiplications are compared with the
// threshold and the borrow shifted into a bit mask, with no branch and no
// store. Only the members that pass (about t+2+⌊t/2⌋ of them) are hashed again
// and ranked, by a network that keeps the best t+1 with one min and one max
// per slot on keys that hold the rank in their high bits and the member's
// position in the low bits (no branch either). A sieve decides when at
// least t members pass and the high bits of the best t+1 keys differ;
// otherwise the zone is sieved again at a lower threshold (about 3t+8
// members), and if that fails too, ranked in full.
//
// Why it is exact. In a zone of equal weights a member ranks by its draw x
// alone, so every member that passes (x ≥ T) ranks before every member
// that does not: the best t of those that pass are the best t of the zone.
// T is a multiple of 2³³, which lets the sieve compare the product before
// the last step of mix, z, instead of x = z ^ z>>31: both agree on their
// top 31 bits. In a zone of mixed weights each member has its own threshold
// Tᵢ, chosen by New with expScore itself so that every x < Tᵢ scores
// expScore(x)/wᵢ > Q, one bound Q for the zone: a member that does not
// pass scores above Q, and the sieve decides only when t members that pass
// are certain to score at most Q. Their scores are first computed with
// fewer terms of the series (within 2⁻²⁰ of the exact scores, relatively);
// keys whose scores are more than four times that far apart order their members
// as the exact scores do, and when two of the best are closer, the zone's
// survivors are scored exactly. Keys that agree in their high bits, where
// the position would decide, never decide: the zone is ranked in full.
//
// The owner is the first of the zones' leaders; across weights the leaders
// are compared by approximate scores when those are far enough apart, by
// exact ones otherwise. The water level of each shard size up to 16 is
// computed by New. A shard that takes one member a zone (more zones with
// members than k, up to k = 64) needs only the best k−1 other zones and
// each one's best member; with more than 64 such zones, New also keeps
// each zone's first step of mix (8 bytes a zone) and, for each k, two
// thresholds that about 1.25(k−1)+8 and 2(k−1)+24 zones reach, and the
// zones are sieved as members are (exact for the same reason: a zone that
// does not pass draws below every one that does), ranked in full only when
// both sieves keep too few. Other shards larger than 16, and shards around
// a home of weight 0, take the general path: a top-k insertion per zone.
//
// Cost. Every shard ranks the key over every eligible member (shards are
// chosen per key, so nothing can be computed before the key is known): two
// multiplications a member in the sieve, about 1–2 ns a member on a 2-core
// VM, so ≈ 1.1 µs at 1,000 members and 12–20 µs at 10,000, the last also
// for 10,000 members each in its own zone at k = 64.
//
// # Tables
//
// A Table maps hash h to bucket h mod B (1 ≤ B ≤ 2²⁰) and the bucket to an
// owner. NewTable chooses bucket b's owner by weighted rendezvous on
// BucketHash(b) = mix((b+1)·0x9e3779b97f4a7c15), output b+1 of SplitMix64
// from state 0: a table that is a pure function of the members, with
// rendezvous' movement, and with the spread of independent draws (a member's
// count varies by about √(B/n) buckets). Rebalance plans the fewest bucket
// moves that bring every member within one bucket of its weighted share
// B·wᵢ/Σw, moving buckets only from members above their share to members
// below it; NewBalancedTable applies it to a rendezvous table. A control
// plane keeps such a table explicit and turns each planned move into a
// migration. No table can be both a pure function of the members and within
// one bucket of every share while moving only the minimum: the two kinds
// exist for that reason.
//
// # Overlap
//
// Overlap, Shards and PackingBound give the combinatorics of shuffle
// sharding: the law of the overlap of two random shards, the number of
// distinct shards C(n, k), and the counting bound on shards that pairwise
// share at most m members.
package ring
