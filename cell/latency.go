package cell

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/cellkit/cellkit/breaker"
)

// The latency histogram: fixed log buckets, four per doubling, so that a
// quantile read from it is within about 12% of the true one (half a bucket
// of 19%), from 1.024 µs to 2^37 ns (137 s). Fixed bounds let histograms
// of different cells and snapshots be added and subtracted bucket by
// bucket, and let an adapter export them as they are.
const (
	// LatencyBuckets is the number of buckets of a Latency.
	LatencyBuckets = 2 + (latMaxShift-latMinShift)*latSub
	latMinShift    = 10 // bucket 0 holds latencies under 2^10 ns
	latMaxShift    = 37 // the last bucket holds latencies from 2^37 ns
	latSubBits     = 2
	latSub         = 1 << latSubBits
)

// latencyIndex returns the bucket of d: a few instructions, no loop.
func latencyIndex(d time.Duration) int {
	ns := uint64(max(d, 0))
	e := bits.Len64(ns) - 1 // floor(log2 ns); -1 for 0
	switch {
	case e < latMinShift:
		return 0
	case e >= latMaxShift:
		return LatencyBuckets - 1
	}
	return 1 + (e-latMinShift)*latSub + int(ns>>(e-latSubBits)&(latSub-1))
}

// LatencyBound returns the lower bound of bucket i of a Latency: bucket i
// holds the latencies from LatencyBound(i) up to, not including,
// LatencyBound(i+1). LatencyBound(0) is 0 and LatencyBound(LatencyBuckets)
// is the largest Duration.
func LatencyBound(i int) time.Duration {
	switch {
	case i <= 0:
		return 0
	case i >= LatencyBuckets:
		return math.MaxInt64
	case i == LatencyBuckets-1:
		return 1 << latMaxShift
	}
	j := i - 1
	e := latMinShift + j/latSub
	s := j % latSub
	return time.Duration(uint64(latSub+s) << (e - latSubBits))
}

// A Latency is a distribution of latencies: a snapshot of one of a cell's
// histograms (see CellStats), or a sum or difference of such snapshots.
// Its bucket bounds are fixed (see LatencyBound), so Latencies add and
// subtract bucket by bucket.
type Latency struct {
	// Buckets counts the latencies in each bucket.
	Buckets [LatencyBuckets]uint64
	// Sum is the sum of the latencies counted.
	Sum time.Duration
}

// Count is the number of latencies counted.
func (l *Latency) Count() uint64 {
	var n uint64
	for _, b := range l.Buckets {
		n += b
	}
	return n
}

// Mean is the mean latency, 0 with none counted.
func (l *Latency) Mean() time.Duration {
	if n := l.Count(); n > 0 {
		return l.Sum / time.Duration(n)
	}
	return 0
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the latencies,
// interpolated linearly inside its bucket; 0 with none counted. In the last
// bucket, which has no upper bound, it is the bucket's lower bound.
func (l *Latency) Quantile(q float64) time.Duration {
	n := l.Count()
	if n == 0 || math.IsNaN(q) {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := q * float64(n) // the rank sought, among n
	var seen float64
	for i, b := range l.Buckets {
		if b == 0 {
			continue
		}
		if seen+float64(b) >= rank {
			lo := LatencyBound(i)
			if i == LatencyBuckets-1 {
				return lo
			}
			hi := LatencyBound(i + 1)
			f := (rank - seen) / float64(b)
			return lo + time.Duration(f*float64(hi-lo))
		}
		seen += float64(b)
	}
	return LatencyBound(LatencyBuckets - 1)
}

// P50 is the median latency.
func (l *Latency) P50() time.Duration { return l.Quantile(0.5) }

// P90 is the 90th percentile.
func (l *Latency) P90() time.Duration { return l.Quantile(0.9) }

// P99 is the 99th percentile.
func (l *Latency) P99() time.Duration { return l.Quantile(0.99) }

// Add adds o's latencies to l.
func (l *Latency) Add(o *Latency) {
	for i := range l.Buckets {
		l.Buckets[i] += o.Buckets[i]
	}
	l.Sum += o.Sum
}

// Sub removes o's latencies from l, as when l is a later snapshot of the
// same histogram: what was counted between the two. A bucket that would go
// below zero (o is not an earlier snapshot of l) is left at zero.
func (l *Latency) Sub(o *Latency) {
	for i := range l.Buckets {
		l.Buckets[i] -= min(l.Buckets[i], o.Buckets[i])
	}
	l.Sum = max(l.Sum-o.Sum, 0)
}

// A latencyHist is a cell's histogram on the request path: lock-free, two
// atomic adds per latency, no allocation. The count is the sum of the
// buckets, read at snapshot time, so that recording costs no third add.
type latencyHist struct {
	sum     atomic.Int64 // ns
	buckets [LatencyBuckets]atomic.Uint64
}

func (h *latencyHist) record(d time.Duration) {
	h.buckets[latencyIndex(d)].Add(1)
	h.sum.Add(int64(max(d, 0)))
}

// load copies h into l. The copy is not atomic as a whole: under load a
// snapshot may count a latency in its bucket but not yet in Sum.
func (h *latencyHist) load(l *Latency) {
	for i := range h.buckets {
		l.Buckets[i] = h.buckets[i].Load()
	}
	l.Sum = time.Duration(h.sum.Load())
}

// cellLatency is a cell's pair of histograms: its attempts judged a
// Success and those judged a Failure. Ignored attempts (the caller's
// cancellations and faults, hedges that lost) say nothing of the cell and
// are not counted.
type cellLatency struct {
	success, failure latencyHist
}

func (c *cellLatency) record(o breaker.Outcome, d time.Duration) {
	switch o {
	case breaker.Success:
		c.success.record(d)
	case breaker.Failure:
		c.failure.record(d)
	}
}
