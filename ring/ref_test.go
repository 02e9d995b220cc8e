package ring

// The references of TestSieveDifferential and the "old" side of
// BenchmarkSieveVsRef. The shard reference is the ring's own general path,
// shardGeneral: the Shard and ShardFrom of cellkit before the sieve (commit
// 291dcec), which still serves what the sieve does not. The owner reference
// is the old Owner: the first member of every group by argmax, compared with
// ahead.

// refShardOf is the old Shard.
func refShardOf(r *Ring, h uint64, k int, dst []int) []int { return r.shardGeneral(h, -1, k, dst) }

// refShardFrom is the old ShardFrom, for a valid home.
func refShardFrom(r *Ring, h uint64, home, k int, dst []int) []int {
	return r.shardGeneral(h, home, k, dst)
}

// refOwner is the old Owner: every member with positive weight is read.
func refOwner(r *Ring, h uint64) int {
	best := cand{i: -1}
	for _, g := range r.groups {
		c := r.argmax(h, g)
		if best.i < 0 || ahead(&c, &best) {
			best = c
		}
	}
	return int(best.i)
}
