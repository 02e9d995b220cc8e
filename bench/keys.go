package bench

import (
	"fmt"
	"sync"
)

// Sizes every measurement shares.
const (
	// KeyCount is the size of the one fixed set of keys that every timed
	// lookup walks and every shard-stability count uses.
	KeyCount = 1 << 16
	// BalanceKeys is the number of keys behind the balance and movement
	// figures: 4,000 a member at n = 100. Its first KeyCount keys are the
	// timed set.
	BalanceKeys = 400_000
	// BalanceN is the member count of the balance, movement and stability
	// figures; a join adds member BalanceN, a leave removes member BalanceN-1.
	BalanceN = 100
	// Zones is the number of zones every fleet is spread over, member i in
	// zone i mod Zones.
	Zones = 3
)

// keyWidth is the length of every key: "tenant-" and nine digits.
const keyWidth = 16

// MemberIDs returns the IDs of n members, "cell-0000" onwards. The IDs of
// MemberIDs(n) are a prefix of those of MemberIDs(n+1) and sort in the same
// order, so a join appends the newcomer and a leave drops the last ID.
func MemberIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("cell-%04d", i)
	}
	return ids
}

// Zone returns the zone of member i: "az1", "az2" or "az3" in turn.
func Zone(i int) string { return zoneNames[i%Zones] }

var zoneNames = [Zones]string{"az1", "az2", "az3"}

// Keys returns the first n tenant-like keys, "tenant-000000000" onwards, each
// of 16 bytes. The keys share one backing string (formatting 400,000 of them
// one by one takes seconds under the race detector), and Keys(m) is a prefix
// of Keys(n) for m ≤ n.
func Keys(n int) []string {
	if n <= KeyCount {
		return timedKeys()[:n]
	}
	return tenantKeys(n)
}

var timedKeys = sync.OnceValue(func() []string { return tenantKeys(KeyCount) })

func tenantKeys(n int) []string {
	const prefix = "tenant-"
	buf := make([]byte, 0, n*keyWidth)
	for i := range n {
		buf = append(buf, prefix...)
		var d [keyWidth - len(prefix)]byte
		for j, v := len(d)-1, i; j >= 0; j, v = j-1, v/10 {
			d[j] = byte('0' + v%10)
		}
		buf = append(buf, d[:]...)
	}
	all := string(buf)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = all[i*keyWidth : (i+1)*keyWidth]
	}
	return keys
}
