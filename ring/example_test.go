package ring_test

import (
	"fmt"
	"strings"

	"github.com/cellkit/cellkit/ring"
)

func ExampleHash() {
	seed := uint64(0x9e3779b97f4a7c15)
	fmt.Printf("%#016x\n", ring.Hash(seed, "tenant-42"))
	fmt.Printf("%#016x\n", ring.Hash(0, "")) // XXH64 of nothing
	// Output:
	// 0xdb36b5b485615731
	// 0xef46db3751d8e999
}

func ExampleNew() {
	r, err := ring.New([]ring.Member{
		{ID: "use1-c1", Zone: "use1-az1", Weight: 1},
		{ID: "use1-c2", Zone: "use1-az2", Weight: 1},
		{ID: "use1-c3", Zone: "use1-az3", Weight: 2}, // twice the keys
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, key := range []string{"tenant-1", "tenant-2", "tenant-3"} {
		owner := r.Owner(ring.Hash(0, key))
		fmt.Println(key, "→", r.Member(owner).ID)
	}
	_, err = ring.New([]ring.Member{{ID: "c1", Weight: -1}})
	fmt.Println(err)
	// Output:
	// tenant-1 → use1-c1
	// tenant-2 → use1-c3
	// tenant-3 → use1-c1
	// ring: member "c1": weight -1 must be finite and not negative
}

func ExampleRing_Shard() {
	var members []ring.Member
	for i := range 9 {
		members = append(members, ring.Member{
			ID:     fmt.Sprintf("c%d", i),
			Zone:   fmt.Sprintf("az%d", i%3),
			Weight: 1,
		})
	}
	r, _ := ring.New(members)
	dst := make([]int, 0, 4) // reused: no allocation
	for _, key := range []string{"tenant-1", "tenant-2"} {
		dst = r.Shard(ring.Hash(0, key), 4, dst)
		var shard []string
		for _, m := range dst {
			shard = append(shard, r.Member(m).ID+"/"+r.Member(m).Zone)
		}
		fmt.Println(key, strings.Join(shard, " "))
	}
	fmt.Printf("%d shards of 4 out of 9; two keys share all 4 with probability %.4f\n",
		ring.Shards(9, 4), ring.Overlap(9, 4, 4))
	// Output:
	// tenant-1 c7/az1 c5/az2 c3/az0 c1/az1
	// tenant-2 c7/az1 c5/az2 c6/az0 c4/az1
	// 126 shards of 4 out of 9; two keys share all 4 with probability 0.0079
}

func ExampleNewTable() {
	r, _ := ring.New([]ring.Member{{ID: "a", Weight: 1}, {ID: "b", Weight: 1}, {ID: "c", Weight: 1}})
	t, _ := ring.NewBalancedTable(r, 16384)
	fmt.Println("buckets per member:", t.Counts())
	h := ring.Hash(0, "tenant-42")
	fmt.Println("tenant-42: bucket", t.Bucket(h), "owner", r.Member(t.Owner(h)).ID)

	// A fourth member joins: the plan moves about a quarter of the buckets,
	// every one of them to the new member.
	next, _ := ring.New([]ring.Member{{ID: "a", Weight: 1}, {ID: "b", Weight: 1}, {ID: "c", Weight: 1}, {ID: "d", Weight: 1}})
	t2, moves, _ := t.Rebalance(next)
	fmt.Println("moves:", len(moves), "to", moves[0].To, "; after:", t2.Counts())
	// Output:
	// buckets per member: [5461 5461 5462]
	// tenant-42: bucket 3904 owner b
	// moves: 4096 to d ; after: [4096 4096 4096 4096]
}
