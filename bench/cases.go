package bench

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// The implementations under test, cellkit's first. cmd/compare and the
// benchmarks of this package run exactly these.
var (
	OwnerImpls = []OwnerImpl{
		{Name: "ring-table", Ours: true, Build: buildRingTable},
		{Name: "placement-locate", Ours: true, Build: buildLocate},
		{Name: "placement-derived", Ours: true, Build: buildLocateDerived},
		{Name: "ring-jump", Ours: true, Build: buildRingJump},
		{Name: "ring-owner", Ours: true, Build: buildRingOwner},
		{Name: "go-jump", Build: buildGoJump},
		{Name: "go-rendezvous", Build: buildGoRendezvous},
		{Name: "maglev", Build: buildMaglev},
		{Name: "buraksezer", Build: buildBuraksezer},
		{Name: "buraksezer-string", Build: buildBuraksezerString, NoQuality: "the same owners as buraksezer"},
		{Name: "stathat", Build: buildStathat},
		{Name: "groupcache", Build: buildGroupcache},
		{Name: "serialx", Build: buildSerialx},
		{Name: "dskit-get", Build: buildDskitGet},
	}
	ShardImpls = []ShardImpl{
		{Name: "ring-shard", Ours: true, Build: buildRingShard},
		{Name: "placement-shard", Ours: true, Build: buildLocateShard},
		{Name: "dskit-shuffle-cached", Build: buildDskitShuffleCached, NoStability: "the same shards as dskit-shuffle"},
		{Name: "dskit-shuffle", Build: buildDskitShuffle},
		{Name: "dskit-get", Ks: []int{dskitReplicas}, Build: buildDskitGetN},
		{Name: "buraksezer", Build: buildBuraksezerN},
		{Name: "stathat", Build: buildStathatN},
		{Name: "serialx", Build: buildSerialxN},
	}
	BreakerImpls = []BreakerImpl{
		{Name: "breaker-set", Ours: true, Build: buildSetAllowDone},
		{Name: "breaker-set-timed", Ours: true, Build: buildSetAllowDoneTimed},
		{Name: "gobreaker-execute", Build: buildGobreakerExecute},
		{Name: "gobreaker-twostep", Build: buildGobreakerTwoStep},
		{Name: "failsafe-run", Build: buildFailsafeRun},
		{Name: "failsafe-permit", Build: buildFailsafePermit},
		// cell.Client.Do with an empty fn belongs here once package cell
		// lands, and cell.Client.Resolve in a Group of its own.
	}
)

// The parameters of the timed groups.
var (
	OwnerNs      = []int{10, 100, 1000}
	ShardNs      = []int{50, 100}
	ShardKs      = []int{3, 4}
	BreakerModes = []string{"serial", "parallel"}
)

// A Case is one timed measurement: an impl at one parameter. Its name, in
// the benchmark format, is Group/impl=Impl/Param.
type Case struct {
	Group string // "Owner", "Shard" or "Breaker"
	Impl  string
	Ours  bool
	Param string // "n=100", "n=100/k=4", "mode=serial"
	// Run builds the impl (untimed), times it with b.Loop and releases it.
	Run func(b *testing.B)
}

// Name is the case's benchmark name below its Benchmark function.
func (c Case) Name() string { return "impl=" + c.Impl + "/" + c.Param }

// sink keeps the loops' checksums, once a run.
var sink atomic.Int64

// Cases returns the timed cases of a group with the given sizes (nil means
// the group's defaults above), impls in table order.
func Cases(group string, ns, ks []int) []Case {
	var out []Case
	switch group {
	case "Owner":
		if ns == nil {
			ns = OwnerNs
		}
		for _, impl := range OwnerImpls {
			for _, n := range ns {
				out = append(out, Case{Group: group, Impl: impl.Name, Ours: impl.Ours, Param: fmt.Sprintf("n=%d", n),
					Run: func(b *testing.B) {
						o, err := impl.Build(MemberIDs(n))
						if err != nil {
							b.Fatalf("%s over %d members: %v", impl.Name, n, err)
						}
						defer closeAll(o.Close)
						b.ReportAllocs()
						sink.Add(int64(o.Loop(b, Keys(KeyCount))))
					}})
			}
		}
	case "Shard":
		if ns == nil {
			ns = ShardNs
		}
		if ks == nil {
			ks = ShardKs
		}
		for _, impl := range ShardImpls {
			for _, n := range ns {
				for _, k := range ks {
					if !impl.Supports(k) {
						continue
					}
					out = append(out, Case{Group: group, Impl: impl.Name, Ours: impl.Ours, Param: fmt.Sprintf("n=%d/k=%d", n, k),
						Run: func(b *testing.B) {
							s, err := impl.Build(MemberIDs(n), k)
							if err != nil {
								b.Fatalf("%s over %d members, k = %d: %v", impl.Name, n, k, err)
							}
							defer closeAll(s.Close)
							b.ReportAllocs()
							sink.Add(int64(s.Loop(b, Keys(KeyCount))))
						}})
				}
			}
		}
	case "Breaker":
		for _, impl := range BreakerImpls {
			for _, mode := range BreakerModes {
				out = append(out, Case{Group: group, Impl: impl.Name, Ours: impl.Ours, Param: "mode=" + mode,
					Run: func(b *testing.B) {
						loop, err := impl.Build()
						if err != nil {
							b.Fatalf("%s: %v", impl.Name, err)
						}
						b.ReportAllocs()
						sink.Add(int64(loop(b, mode == "parallel")))
					}})
			}
		}
	}
	return out
}

// Groups are the timed groups, in report order.
var Groups = []string{"Owner", "Shard", "Breaker"}
