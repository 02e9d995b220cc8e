package bench

import "testing"

// The benchmarks run the cases of cmd/compare one by one, in the benchmark
// format, for benchstat:
//
//	go test -run '^$' -bench . -count 6 | tee /tmp/peers.txt
//	benchstat -col /impl -row .name /tmp/peers.txt
func benchGroup(b *testing.B, group string) {
	for _, c := range Cases(group, nil, nil) {
		b.Run(c.Name(), c.Run)
	}
}

// BenchmarkOwner is the owner of a key, the key hash included, for every
// owner impl at n = 10, 100 and 1000 members.
func BenchmarkOwner(b *testing.B) { benchGroup(b, "Owner") }

// BenchmarkShard is the selection of k = 3 and 4 members out of n = 50 and
// 100 in three zones, the key hash included.
func BenchmarkShard(b *testing.B) { benchGroup(b, "Shard") }

// BenchmarkBreaker is one admitted call on a closed breaker, serially and
// under b.RunParallel.
func BenchmarkBreaker(b *testing.B) { benchGroup(b, "Breaker") }
