package main

import (
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
	AtMs  float64 `json:"atMs"`
	Label string  `json:"label"`
	Kind  string  `json:"kind"`           // fault, crash, map, control, breaker
	Cell  string  `json:"cell,omitempty"` // for breaker marks
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

	ok, failed, skipped [numCells][]atomic.Uint64 // per cell, per slot: client attempts
	userOK, userErr     []atomic.Uint64           // per slot: what callers got

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

	mu     sync.Mutex
	marks  []Mark
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
	}
	r.userOK = make([]atomic.Uint64, r.nslots)
	r.userErr = make([]atomic.Uint64, r.nslots)
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

// result records one request's outcome for its caller.
func (r *recorder) result(tenant int, began time.Duration, ok bool) {
	r.requests.Add(1)
	s := r.slotAt(began)
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

// tenantWrite records a write of the tenant the scene follows.
func (r *recorder) tenantWrite(began time.Duration, ok, refused bool) {
	s := r.slotAt(began)
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
			case breaker.Failure:
				r.failed[i][s].Add(1)
			}
		},
		Unavailable: func(u cell.UnavailableInfo) {
			if i, ok := r.index[u.Cell]; ok {
				r.skipped[i][r.slotAt(r.since())].Add(1)
			}
		},
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
	out := append([]Mark(nil), r.marks...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].AtMs < out[j].AtMs })
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
