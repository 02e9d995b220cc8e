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
		{Name: "cell-resolve", Ours: true, Build: buildResolve, NoQuality: "the same owners as placement-locate"},
		{Name: "go-jump", Build: buildGoJump},
		{Name: "go-rendezvous", Build: buildGoRendezvous},
		{Name: "maglev", Build: buildMaglev, MaxN: 1000, NoScale: "maglev is timed up to n = 1000: kkdai/maglev keeps a permutation of its 65,537-entry table for every member, 5 GB at 10,000"},
		{Name: "buraksezer", Build: buildBuraksezer, MaxN: 1000, NoScale: "buraksezer and stathat are timed up to n = 1000: building them over 10,000 members took minutes a build here (buraksezer with 27,110 partitions; stathat re-sorts its ring on every Add)"},
		{Name: "buraksezer-string", Build: buildBuraksezerString, NoQuality: "the same owners as buraksezer", MaxN: 1000, NoScale: "buraksezer and stathat are timed up to n = 1000: building them over 10,000 members took minutes a build here (buraksezer with 27,110 partitions; stathat re-sorts its ring on every Add)"},
		{Name: "stathat", Build: buildStathat, MaxN: 1000, NoScale: "buraksezer and stathat are timed up to n = 1000: building them over 10,000 members took minutes a build here (buraksezer with 27,110 partitions; stathat re-sorts its ring on every Add)"},
		{Name: "groupcache", Build: buildGroupcache},
		{Name: "serialx", Build: buildSerialx},
		{Name: "dskit-get", Build: buildDskitGet, MaxN: dskitMaxN, NoScale: dskitNoScale},
	}
	ShardImpls = []ShardImpl{
		{Name: "ring-shard", Ours: true, Build: buildRingShard},
		{Name: "placement-shard", Ours: true, Build: buildLocateShard},
		{Name: "dskit-shuffle-cached", Build: buildDskitShuffleCached, NoStability: "the same shards as dskit-shuffle", MaxN: dskitMaxN, NoScale: dskitNoScale},
		{Name: "dskit-shuffle", Build: buildDskitShuffle, MaxN: dskitMaxN, NoScale: dskitNoScale},
		{Name: "dskit-get", Ks: []int{dskitReplicas}, Build: buildDskitGetN, MaxN: dskitMaxN, NoScale: dskitNoScale},
		{Name: "buraksezer", Build: buildBuraksezerN, MaxN: 1000, NoScale: "buraksezer and stathat are timed up to n = 1000: building them over 10,000 members took minutes a build here (buraksezer with 27,110 partitions; stathat re-sorts its ring on every Add)"},
		{Name: "stathat", Build: buildStathatN, MaxN: 1000, NoScale: "buraksezer and stathat are timed up to n = 1000: building them over 10,000 members took minutes a build here (buraksezer with 27,110 partitions; stathat re-sorts its ring on every Add)"},
		{Name: "serialx", Build: buildSerialxN},
	}
	BreakerImpls = []BreakerImpl{
		{Name: "breaker-set", Ours: true, Build: buildSetAllowDone},
		{Name: "breaker-set-timed", Ours: true, Build: buildSetAllowDoneTimed},
		{Name: "gobreaker-execute", Build: buildGobreakerExecute},
		{Name: "gobreaker-twostep", Build: buildGobreakerTwoStep},
		{Name: "failsafe-run", Build: buildFailsafeRun},
		{Name: "failsafe-permit", Build: buildFailsafePermit},
		{Name: "cell-do", Ours: true, Build: buildDo},
	}
)

// The parameters of the timed groups.
var (
	OwnerNs      = []int{100, 1000, 10000}
	ShardNs      = []int{100, 1000, 10000}
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

// CPUMetric is the unit of the process CPU time per op that every case
// reports beside ns/op: on a shared machine ns/op also counts the time other
// jobs had the CPU, and CPU time does not.
const CPUMetric = "cpu-ns/op"

// timeCPU runs loop and reports the process's CPU time per op. Setup
// belongs before it (Prepare), so that only the loop is counted.
func timeCPU(b *testing.B, loop func() int) int {
	// The build and warm-up before the loop are not timed: b.Loop resets
	// the timer itself, b.RunParallel does not.
	b.ResetTimer()
	start := cpuClock()
	s := loop()
	if start != 0 && b.N > 0 {
		b.ReportMetric(float64(cpuClock()-start)/float64(b.N), CPUMetric)
	}
	return s
}

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
				if impl.MaxN > 0 && n > impl.MaxN {
					continue
				}
				out = append(out, Case{Group: group, Impl: impl.Name, Ours: impl.Ours, Param: fmt.Sprintf("n=%d", n),
					Run: func(b *testing.B) {
						o, err := impl.Build(MemberIDs(n))
						if err != nil {
							b.Fatalf("%s over %d members: %v", impl.Name, n, err)
						}
						defer closeAll(o.Close)
						b.ReportAllocs()
						keys := Keys(KeyCount)
						sink.Add(int64(timeCPU(b, func() int { return o.Loop(b, keys) })))
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
					if !impl.Supports(k) || impl.MaxN > 0 && n > impl.MaxN {
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
							keys := Keys(KeyCount)
							if s.Prepare != nil {
								s.Prepare(keys)
							}
							sink.Add(int64(timeCPU(b, func() int { return s.Loop(b, keys) })))
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
						sink.Add(int64(timeCPU(b, func() int { return loop(b, mode == "parallel") })))
					}})
			}
		}
	case "Client":
		for _, impl := range ClientImpls {
			out = append(out, Case{Group: group, Impl: impl.Name, Ours: impl.Ours, Param: "mode=parallel",
				Run: func(b *testing.B) {
					loop, err := impl.Build()
					if err != nil {
						b.Fatalf("%s: %v", impl.Name, err)
					}
					b.ReportAllocs()
					sink.Add(int64(timeCPU(b, func() int { return loop(b) })))
				}})
		}
	}
	return out
}

// Groups are the timed groups, in report order.
var Groups = []string{"Owner", "Shard", "Breaker", "Client"}
