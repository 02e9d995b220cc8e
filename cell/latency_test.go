package cell

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Every latency falls in the bucket whose bounds hold it, and the bounds
// grow by at most a quarter of a doubling: the histogram's contract.
func TestLatencyBuckets(t *testing.T) {
	for i := 1; i <= LatencyBuckets; i++ {
		lo, hi := LatencyBound(i-1), LatencyBound(i)
		if hi <= lo {
			t.Fatalf("LatencyBound(%d) = %v not above LatencyBound(%d) = %v", i, hi, i-1, lo)
		}
		if i > 1 && i < LatencyBuckets-1 && float64(hi) > 1.26*float64(lo) {
			t.Fatalf("bucket %d spans [%v, %v): wider than a quarter doubling", i-1, lo, hi)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(d time.Duration) {
		i := latencyIndex(d)
		if d < LatencyBound(i) || (i < LatencyBuckets-1 && d >= LatencyBound(i+1)) {
			t.Fatalf("latency %v in bucket %d = [%v, %v)", d, i, LatencyBound(i), LatencyBound(i+1))
		}
	}
	for _, d := range []time.Duration{0, 1, 1023, 1024, 1279, 1280, 1 << 36, 1<<37 - 1, 1 << 37, 1<<63 - 1} {
		check(d)
	}
	for range 100000 {
		check(time.Duration(rng.Uint64N(1 << uint(rng.IntN(40)+1))))
	}
	if latencyIndex(-5) != 0 {
		t.Fatal("a negative latency is not in bucket 0")
	}
}

// Quantiles read from the histogram are within an eighth of the true ones
// (half a bucket and the interpolation), on a log-normal sample with a
// fixed seed; Add and Sub are bucket-wise.
func TestLatencyQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var h latencyHist
	var all []time.Duration
	for range 50000 {
		d := time.Duration(float64(time.Millisecond) * rng.ExpFloat64() * rng.ExpFloat64() * 5)
		all = append(all, d)
		h.record(d)
	}
	slices.Sort(all)
	var l Latency
	h.load(&l)
	if l.Count() != uint64(len(all)) {
		t.Fatalf("Count = %d; want %d", l.Count(), len(all))
	}
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	if l.Sum != sum || l.Mean() != sum/time.Duration(len(all)) {
		t.Fatalf("Sum, Mean = %v, %v; want %v", l.Sum, l.Mean(), sum)
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := all[int(q*float64(len(all)))-1]
		got := l.Quantile(q)
		if r := float64(got) / float64(want); r < 0.875 || r > 1.125 {
			t.Errorf("Quantile(%v) = %v; want %v within 12.5%%", q, got, want)
		}
	}
	if l.P50() != l.Quantile(0.5) || l.P90() != l.Quantile(0.9) || l.P99() != l.Quantile(0.99) {
		t.Fatal("P50/P90/P99 differ from Quantile")
	}
	double := l
	double.Add(&l)
	if double.Count() != 2*l.Count() || double.Sum != 2*l.Sum || double.P99() != l.P99() {
		t.Fatalf("l+l: count %d, sum %v, p99 %v", double.Count(), double.Sum, double.P99())
	}
	double.Sub(&l)
	if double != l {
		t.Fatal("(l+l)-l != l")
	}
	var zero Latency
	zero.Sub(&l) // not an earlier snapshot: clamped, not wrapped
	if zero.Count() != 0 || zero.Sum != 0 || zero.P99() != 0 || zero.Mean() != 0 {
		t.Fatalf("0-l = count %d, sum %v", zero.Count(), zero.Sum)
	}
}

// Recording a latency allocates nothing.
func TestLatencyRecordAllocs(t *testing.T) {
	var c cellLatency
	if n := testing.AllocsPerRun(1000, func() { c.record(1, 3*time.Millisecond) }); n != 0 {
		t.Fatalf("record allocates %v times", n)
	}
}

// BenchmarkLatencyRecord is the cost the histograms add to an attempt.
func BenchmarkLatencyRecord(b *testing.B) {
	var c cellLatency
	recordLoop(b, &c)
}

//go:noinline
func recordLoop(b *testing.B, c *cellLatency) {
	d := 3 * time.Millisecond
	for b.Loop() {
		c.record(1, d)
		d += 7
	}
}
