// Package bench measures cellkit beside the Go libraries used in its place,
// in one run, on one machine and one fixed set of 65,536 tenant-like keys:
// owner lookups (ring's table, Ring.Owner, ring.Jump and placement's Locate
// against go-jump, go-rendezvous, maglev, buraksezer/consistent,
// stathat/consistent, groupcache's consistenthash, serialx/hashring and
// grafana/dskit's ring), replica and shard selection (Ring.Shard against
// dskit's ShuffleShard and Get and the peers' N-member lookups), balance,
// movement on a join and a leave, shard stability, and the per-call cost of
// circuit breakers (breaker.Set against sony/gobreaker and failsafe-go).
//
// It is a separate module so that the peers never enter cellkit's own
// go.mod. Its API exists for cmd/compare and its own benchmarks: the
// implementations under test (OwnerImpls, ShardImpls, BreakerImpls), their
// timed Cases, Run, which runs everything in one process and returns a
// Report, and the Report's markdown tables and SVG charts. README.md holds
// the commands; BENCHMARKS.md at the repository root the results.
//
// Nothing here is safe for concurrent use: Run drives testing.Benchmark,
// which times one case at a time.
package bench
