package main

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
)

const (
	// maxVersions bounds the map versions counted per version.
	maxVersions = 64
	// chartSlots is the number of time slots of a scene's planned length;
	// a scene that runs longer uses up to twice as many.
	chartSlots = 80
)

// A Mark is an event of a scene, at a time since its start.
type Mark struct {
	AtMs  float64 `json:"at_ms"`
	Label string  `json:"label"`
	Kind  string  `json:"kind"`           // fault, crash, map, control, breaker, deploy, gate
	Cell  string  `json:"cell,omitempty"` // for breaker marks
}

// A Span is a stretch of a scene during which something was so: the
// control plane down, a wave baking, a tenant frozen.
type Span struct {
	FromMs float64 `json:"from_ms"`
	ToMs   float64 `json:"to_ms"`
	Kind   string  `json:"kind"` // control-plane-down, bake, frozen
	Label  string  `json:"label"`
}

// latBuckets log-spaced latency buckets: bucket i holds durations from
// latLow·latGrowth^(i-1) to latLow·latGrowth^i (bucket 0 everything below
// latLow), so that a quantile read from them is within 15% of the truth from
// 0.1 ms to 13 s.
const (
	latBuckets = 48
	latLow     = 100 * time.Microsecond
	latGrowth  = 1.3
)

type latHist [latBuckets]atomic.Uint32

func latBucket(d time.Duration) int {
	if d < latLow {
		return 0
	}
	i := 1 + int(math.Log(float64(d)/float64(latLow))/math.Log(latGrowth))
	return min(i, latBuckets-1)
}

// latUpper is the upper bound of bucket i, the value a quantile reports.
func latUpper(i int) time.Duration {
	return time.Duration(float64(latLow) * math.Pow(latGrowth, float64(i)))
}

func (h *latHist) add(d time.Duration) { h[latBucket(d)].Add(1) }

// latCounts is a histogram read out, to be summed over slots or cells.
type latCounts [latBuckets]uint64

func (c *latCounts) addHist(h *latHist) {
	for i := range h {
		c[i] += uint64(h[i].Load())
	}
}

func (c *latCounts) total() uint64 {
	var n uint64
	for _, v := range c {
		n += v
	}
	return n
}

// quantile returns the upper bound of the bucket holding quantile q, in ms,
// or 0 for an empty histogram.
func (c *latCounts) quantile(q float64) float64 {
	n := c.total()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, v := range c {
		seen += v
		if seen >= max(rank, 1) {
			return ms(latUpper(i))
		}
	}
	return ms(latUpper(latBuckets - 1))
}

type mapMark struct {
	at      time.Duration
	version uint64
}

// A recorder collects one scene's measurements: what the client saw (its
// Observer), what the cells accepted, and what each request's caller got.
// Everything on the request path is an atomic counter.
type recorder struct {
	start  time.Time
	slot   time.Duration
	nslots int
	index  map[string]int // cell ID → index; read-only

	// Per cell, per slot of the attempt's end: the client's attempts, and
	// of the successes those on a later attempt of their call (traffic
	// another cell's failure or moved reply sent here).
	ok, failed, skipped, later [numCells][]atomic.Uint64
	cellLat                    [numCells][]latHist // per cell, per slot: attempt latency
	// Per slot of the request's end (not its start: a request held up by a
	// stall counts when it completes, so the stall shows as latency, not as
	// missing traffic): what callers got, and how long it took.
	userOK, userErr []atomic.Uint64
	userLat         []latHist
	userStarted     []atomic.Uint64 // per slot of the request's start

	// One tenant's writes, per slot, for a scene that follows one.
	tenant                         string
	tenantOK, tenantRef, tenantErr []atomic.Uint64

	arrived, accepted [numCells]atomic.Uint64
	byVersion         [maxVersions][numCells]atomic.Uint64 // accepted, by the client's map version
	misrouted         atomic.Uint64

	requests, errors, okTotal        atomic.Uint64
	failovers, redirects, sourceErrs atomic.Uint64

	// Tenants are judged on the requests they started from judgeFrom (ns
	// since start) on: the moment a fault is in place.
	judgeFrom atomic.Int64
	seen, hit [numTenants]atomic.Bool

	// detour holds the keys of calls that skipped a cell (breaker open) or
	// had an attempt fail, until they are served or end: the attempt that
	// serves one is failover traffic, though it may be the call's first.
	detour sync.Map

	mu     sync.Mutex
	marks  []Mark
	spans  []Span
	maps   []mapMark
	opened map[string]time.Duration // first time each cell's breaker opened
}

func newRecorder(planned time.Duration, index map[string]int) *recorder {
	r := &recorder{
		slot:   max(planned/chartSlots, time.Millisecond),
		nslots: 2 * chartSlots,
		index:  index,
		opened: make(map[string]time.Duration),
	}
	for i := range numCells {
		r.ok[i] = make([]atomic.Uint64, r.nslots)
		r.failed[i] = make([]atomic.Uint64, r.nslots)
		r.skipped[i] = make([]atomic.Uint64, r.nslots)
		r.later[i] = make([]atomic.Uint64, r.nslots)
		r.cellLat[i] = make([]latHist, r.nslots)
	}
	r.userOK = make([]atomic.Uint64, r.nslots)
	r.userErr = make([]atomic.Uint64, r.nslots)
	r.userLat = make([]latHist, r.nslots)
	r.userStarted = make([]atomic.Uint64, r.nslots)
	r.tenantOK = make([]atomic.Uint64, r.nslots)
	r.tenantRef = make([]atomic.Uint64, r.nslots)
	r.tenantErr = make([]atomic.Uint64, r.nslots)
	r.start = time.Now()
	return r
}

func (r *recorder) since() time.Duration { return time.Since(r.start) }

func (r *recorder) slotAt(d time.Duration) int {
	s := int(d / r.slot)
	return min(max(s, 0), r.nslots-1)
}

func (r *recorder) mark(label, kind string) time.Duration {
	at := r.since()
	r.addMark(Mark{AtMs: ms(at), Label: label, Kind: kind})
	return at
}

func (r *recorder) addMark(m Mark) {
	r.mu.Lock()
	r.marks = append(r.marks, m)
	r.mu.Unlock()
}

// judgeNow makes the tenants be judged on the requests started from now.
func (r *recorder) judgeNow() { r.judgeFrom.Store(int64(r.since())) }

// judgeLater stops judging tenants until judgeNow.
func (r *recorder) judgeLater() { r.judgeFrom.Store(1 << 62) }

// addSpan records a stretch of the scene.
func (r *recorder) addSpan(from, to time.Duration, kind, label string) {
	r.mu.Lock()
	r.spans = append(r.spans, Span{FromMs: ms(from), ToMs: ms(to), Kind: kind, Label: label})
	r.mu.Unlock()
}

// started counts a request starting now and returns its start.
func (r *recorder) started() time.Duration {
	at := r.since()
	r.userStarted[r.slotAt(at)].Add(1)
	return at
}

// result records one request's outcome for its caller, in the slot of its
// end.
func (r *recorder) result(tenant int, began time.Duration, ok bool) {
	end := r.since()
	r.requests.Add(1)
	s := r.slotAt(end)
	r.userLat[s].add(end - began)
	if ok {
		r.okTotal.Add(1)
		r.userOK[s].Add(1)
	} else {
		r.errors.Add(1)
		r.userErr[s].Add(1)
	}
	if int64(began) >= r.judgeFrom.Load() {
		r.seen[tenant].Store(true)
		if !ok {
			r.hit[tenant].Store(true)
		}
	}
}

// tenantWrite records a write of the tenant the scene follows, in the slot
// of its end.
func (r *recorder) tenantWrite(end time.Duration, ok, refused bool) {
	s := r.slotAt(end)
	switch {
	case ok:
		r.tenantOK[s].Add(1)
	case refused:
		r.tenantRef[s].Add(1)
	default:
		r.tenantErr[s].Add(1)
	}
}

// tenantCount is what the tenants saw, against a prediction of which of
// them a fault takes out.
type tenantCount struct {
	seen, affected   int
	predicted        int // seen and predicted to be affected
	affectedOutside  int // affected though not predicted
	unaffectedInside int // predicted but not affected
}

func (r *recorder) tenants(predicted func(t int) bool) tenantCount {
	var c tenantCount
	for t := range numTenants {
		if !r.seen[t].Load() {
			continue
		}
		c.seen++
		hit := r.hit[t].Load()
		in := predicted != nil && predicted(t)
		if hit {
			c.affected++
		}
		switch {
		case in && hit:
			c.predicted++
		case in:
			c.predicted++
			c.unaffectedInside++
		case hit:
			c.affectedOutside++
		}
	}
	return c
}

// observer is the client's Observer, feeding the recorder.
func (r *recorder) observer() cell.Observer {
	return cell.Observer{
		Attempt: func(a cell.AttemptInfo) {
			i, ok := r.index[a.Cell]
			if !ok {
				return
			}
			s := r.slotAt(r.since())
			switch a.Outcome {
			case breaker.Success:
				r.ok[i][s].Add(1)
				if _, detoured := r.detour.LoadAndDelete(a.Key); detoured || (a.Attempt > 0 && !a.Hedge) {
					r.later[i][s].Add(1)
				}
			case breaker.Failure:
				r.failed[i][s].Add(1)
				r.detour.Store(a.Key, struct{}{})
			}
			if a.Outcome == breaker.Success || a.Outcome == breaker.Failure {
				r.cellLat[i][s].add(a.Latency)
			}
		},
		Unavailable: func(u cell.UnavailableInfo) {
			if i, ok := r.index[u.Cell]; ok {
				r.skipped[i][r.slotAt(r.since())].Add(1)
				r.detour.Store(u.Key, struct{}{})
			}
		},
		Call:     func(c cell.CallInfo) { r.detour.Delete(c.Key) },
		Failover: func(cell.FailoverInfo) { r.failovers.Add(1) },
		Redirect: func(cell.RedirectInfo) { r.redirects.Add(1) },
		Breaker: func(e breaker.Event) {
			if e.Kind != breaker.StateChanged {
				return
			}
			at := r.since()
			r.mu.Lock()
			if _, seen := r.opened[e.Cell]; !seen && e.To == breaker.Open {
				r.opened[e.Cell] = at
			}
			r.marks = append(r.marks, Mark{AtMs: ms(at), Label: e.To.String(), Kind: "breaker", Cell: e.Cell})
			r.mu.Unlock()
		},
		MapUpdate: func(u cell.MapUpdate) {
			switch {
			case u.Accepted:
				r.mu.Lock()
				r.maps = append(r.maps, mapMark{at: r.since(), version: u.Version})
				r.mu.Unlock()
			case u.Err != nil:
				r.sourceErrs.Add(1)
			}
		},
	}
}

// openedAt returns when cell's breaker first opened.
func (r *recorder) openedAt(id string) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.opened[id]
	return d, ok
}

// gotVersion returns when the client swapped in version v or a later one.
func (r *recorder) gotVersion(v uint64) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.maps {
		if m.version >= v {
			return m.at, true
		}
	}
	return 0, false
}

func (r *recorder) sortedMarks() []Mark {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Mark{}, r.marks...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].AtMs < out[j].AtMs })
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
