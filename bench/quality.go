package bench

import (
	"fmt"
	"math"
	"slices"
)

// Quality is what one owner lookup does with keys over n members: the
// balance, and the keys that move when member n joins and when member n−1
// leaves. Shares are fractions of all keys.
type Quality struct {
	Impl  string
	Ours  bool
	Keys  int
	N     int
	Peak  float64 // largest member's keys over the mean
	Low   float64 // smallest member's keys over the mean
	CV    float64 // coefficient of variation of the members' key counts
	Empty int     // members that own no key
	Join  Move
	Leave Move
}

// Move is the movement of keys on one membership change.
type Move struct {
	Moved float64 // share of keys whose owner changed
	Ideal float64 // the least share that must move: 1/(n+1) on a join, 1/n on a leave
	// Excess is the share of keys that moved without having to: between
	// two old members on a join, away from a member that stayed on a leave.
	Excess float64
}

// MeasureQuality measures impl over MemberIDs(n) with keys. The join is
// made with the impl's Next from n to n+1 members, the leave from n to n−1
// (the last member, the one that jump hashing can remove).
func MeasureQuality(impl OwnerImpl, n int, keys []string) (Quality, error) {
	q := Quality{Impl: impl.Name, Ours: impl.Ours, Keys: len(keys), N: n}
	ids := MemberIDs(n + 1)
	before, err := impl.Build(ids[:n])
	if err != nil {
		return q, fmt.Errorf("%s over %d members: %w", impl.Name, n, err)
	}
	defer closeAll(before.Close)
	next := func(ids []string) (*Owners, error) {
		if before.Next != nil {
			return before.Next(ids)
		}
		return impl.Build(ids)
	}
	joined, err := next(ids)
	if err != nil {
		return q, fmt.Errorf("%s: join of member %d: %w", impl.Name, n+1, err)
	}
	defer closeAll(joined.Close)
	left, err := next(ids[:n-1])
	if err != nil {
		return q, fmt.Errorf("%s: leave of member %d: %w", impl.Name, n, err)
	}
	defer closeAll(left.Close)

	index := make(map[string]int, n+1)
	for i, id := range ids {
		index[id] = i
	}
	owner := func(o *Owners, key string, limit int) (int, error) {
		i, ok := index[o.Owner(key)]
		if !ok || i >= limit {
			return 0, fmt.Errorf("%s: owner of %q is %q; want one of %d members", impl.Name, key, o.Owner(key), limit)
		}
		return i, nil
	}
	counts := make([]int, n)
	var joinMoved, joinExcess, leaveMoved, leaveExcess int
	for _, k := range keys {
		a, err := owner(before, k, n)
		if err != nil {
			return q, err
		}
		j, err := owner(joined, k, n+1)
		if err != nil {
			return q, err
		}
		l, err := owner(left, k, n-1)
		if err != nil {
			return q, err
		}
		counts[a]++
		if j != a {
			joinMoved++
			if j != n {
				joinExcess++
			}
		}
		if l != a {
			leaveMoved++
			if a != n-1 {
				leaveExcess++
			}
		}
	}

	total := float64(len(keys))
	mean := total / float64(n)
	q.Low = math.Inf(1)
	var ss float64
	for _, c := range counts {
		r := float64(c) / mean
		q.Peak = max(q.Peak, r)
		q.Low = min(q.Low, r)
		ss += (float64(c) - mean) * (float64(c) - mean)
		if c == 0 {
			q.Empty++
		}
	}
	q.CV = math.Sqrt(ss/float64(n)) / mean
	q.Join = Move{Moved: float64(joinMoved) / total, Ideal: 1 / float64(n+1), Excess: float64(joinExcess) / total}
	q.Leave = Move{Moved: float64(leaveMoved) / total, Ideal: 1 / float64(n), Excess: float64(leaveExcess) / total}
	return q, nil
}

// Stability is how much one key's shard changes when one member joins.
type Stability struct {
	Impl    string
	Ours    bool
	Keys    int
	N, K    int
	Size    float64 // members a shard has on average (dskit rounds k up per zone)
	Avg     float64 // members replaced per key's shard, on average
	Max     int     // most members replaced in one key's shard
	Changed float64 // share of keys whose shard changed at all
}

// MeasureStability selects k of MemberIDs(n) and then of MemberIDs(n+1) for
// every key and counts, per key, the members of the second shard that were
// not in the first.
func MeasureStability(impl ShardImpl, n, k int, keys []string) (Stability, error) {
	st := Stability{Impl: impl.Name, Ours: impl.Ours, Keys: len(keys), N: n, K: k}
	ids := MemberIDs(n + 1)
	before, err := impl.Build(ids[:n], k)
	if err != nil {
		return st, fmt.Errorf("%s over %d members, k = %d: %w", impl.Name, n, k, err)
	}
	defer closeAll(before.Close)
	var after *Shards
	if before.Next != nil {
		after, err = before.Next(ids)
	} else {
		after, err = impl.Build(ids, k)
	}
	if err != nil {
		return st, fmt.Errorf("%s over %d members, k = %d: %w", impl.Name, n+1, k, err)
	}
	defer closeAll(after.Close)
	var size, changed, replaced int
	for _, key := range keys {
		a, b := before.Shard(key), after.Shard(key)
		if len(a) == 0 || len(b) == 0 {
			return st, fmt.Errorf("%s: no shard for %q", impl.Name, key)
		}
		size += len(a)
		c := 0
		for _, m := range b {
			if !slices.Contains(a, m) {
				c++
			}
		}
		replaced += c
		st.Max = max(st.Max, c)
		if c > 0 {
			changed++
		}
	}
	total := float64(len(keys))
	st.Size = float64(size) / total
	st.Avg = float64(replaced) / total
	st.Changed = float64(changed) / total
	return st, nil
}
