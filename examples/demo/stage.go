package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// A mix is the traffic of a scene.
type mix uint8

const (
	// statefulMix is half writes, half reads of the orders API.
	statefulMix mix = iota
	// statelessMix is stateless quote calls, which may fail over along
	// the tenant's shard.
	statelessMix
)

// reqTimeout is every request's deadline.
const reqTimeout = 2 * time.Second

// A stage is a scene being played: a fresh client (new breakers, budget and
// counters) on the control plane's clients feed, the load, and the recorder.
type stage struct {
	d       *demo
	n       int
	title   string
	rec     *recorder
	client  *cell.Client
	hc      *http.Client
	cancel  context.CancelFunc
	runDone chan struct{}
	exclude map[int]bool // tenants left out of the load
	carried string       // what the scene starts from (SceneResult.CarriedOver)

	load     sync.WaitGroup
	stopLoad atomic.Bool
	loadEnd  time.Duration
	progress chan struct{}
	progDone chan struct{}
}

// begin starts scene n: a new client, ready on the latest map, and the
// recorder. planned is the scene's expected length, for the charts.
func (d *demo) begin(n int, title string, planned time.Duration, exclude ...int) (*stage, error) {
	d.fleet.reset()
	rec := newRecorder(planned, d.fleet.index)
	src, err := source.NewHTTP(d.fleet.cp.url("clients"), source.HTTPConfig{
		Client: d.fleet.mapHTTP, Interval: clientPoll, MinInterval: 10 * time.Millisecond, Timeout: time.Second,
	})
	if err != nil {
		return nil, err
	}
	client, err := cell.NewClient(cell.Config{
		Source:         src,
		Breakers:       breaker.Config{Seed: 7},
		RefreshTimeout: 3 * time.Second,
		Logger:         d.logger,
		Observer:       rec.observer(),
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	st := &stage{
		d: d, n: n, title: title, rec: rec, client: client, cancel: cancel,
		runDone:  make(chan struct{}),
		exclude:  make(map[int]bool),
		hc:       &http.Client{Transport: client.Transport(d.fleet.base, tenantKey)},
		progress: make(chan struct{}),
		progDone: make(chan struct{}),
	}
	for _, t := range exclude {
		st.exclude[t] = true
	}
	st.carried = carriedOver(d.fleet.cp.latest())
	go func() {
		client.Run(ctx)
		close(st.runDone)
	}()
	select {
	case <-client.Ready():
	case <-time.After(10 * time.Second):
		st.stopClient()
		return nil, errors.New("the client got no map within 10s")
	}
	d.fleet.rec.Store(rec)
	go st.showProgress(planned)
	return st, nil
}

func (st *stage) stopClient() {
	st.cancel()
	<-st.runDone
}

// drive starts the load: d.opt.workers goroutines sending requests at
// d.opt.rate in all, for dur at most, at most rate × dur × 1.2 requests, over
// the tenants in a fixed shuffled order.
func (st *stage) drive(m mix, dur time.Duration) {
	rate := st.d.opt.rate
	interval := time.Duration(float64(time.Second) / rate)
	limit := int64(rate*dur.Seconds()*1.2) + 1
	start := time.Now()
	var next atomic.Int64
	for range st.d.opt.workers {
		st.load.Add(1)
		go func() {
			defer st.load.Done()
			for !st.stopLoad.Load() {
				i := next.Add(1) - 1
				if i >= limit {
					return
				}
				if w := time.Until(start.Add(time.Duration(i) * interval)); w > 0 {
					time.Sleep(w)
				}
				if time.Since(start) >= dur || st.stopLoad.Load() {
					return
				}
				t := st.d.order[int(i)%numTenants]
				if st.exclude[t] {
					continue
				}
				st.request(int(i), t, m)
			}
		}()
	}
}

func (st *stage) request(i, t int, m mix) {
	began := st.rec.started()
	ok, _, _ := st.call(i, st.d.tenants[t], m, "")
	st.rec.result(t, began, ok)
}

// call sends one request for tenant and reports whether it got a 200, the
// cell that answered, and the response (its body read and closed) or error.
func (st *stage) call(i int, tenant string, m mix, body string) (bool, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), reqTimeout)
	defer cancel()
	url := "http://orders.demo/v1/tenants/" + tenant
	var req *http.Request
	switch {
	case m == statelessMix:
		req, _ = http.NewRequestWithContext(cell.WithClass(ctx, cell.Stateless), http.MethodGet, url+"/quote", nil)
	case body != "" || i%2 == 0:
		if body == "" {
			body = strconv.Itoa(i)
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, url+"/orders", strings.NewReader(body))
	default:
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, url+"/orders", nil)
	}
	resp, err := st.hc.Do(req)
	if err != nil {
		return false, nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, resp, nil
}

// sleep waits d, the script of a scene running beside the load.
func (st *stage) sleep(d time.Duration) { time.Sleep(d) }

// awaitVersion waits, at most 10 s, until the client has map version v and
// its Observer has reported it (just after the swap).
func (st *stage) awaitVersion(v uint64) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := st.rec.gotVersion(v); ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wait ends the load: it waits for the workers, which stop at their time.
func (st *stage) wait() {
	st.load.Wait()
	st.loadEnd = st.rec.since()
}

// end stops the load now and waits for it.
func (st *stage) end() {
	st.stopLoad.Store(true)
	st.wait()
}

// finish collects the scene's measurements and stops its client.
func (st *stage) finish(name string) *SceneResult {
	close(st.progress)
	<-st.progDone
	stats := st.client.Stats()
	ids := make([]string, len(st.d.fleet.cells))
	zones := make([]string, len(st.d.fleet.cells))
	for i, n := range st.d.fleet.cells {
		ids[i], zones[i] = n.id, n.zone
	}
	cells := st.rec.cellResults(stats, ids, zones)
	st.stopClient()
	st.d.fleet.rec.Store(nil)
	return st.rec.scene(st.n, name, st.title, st.carried, st.loadEnd, stats, cells)
}

// cellResults makes the cells' lines of a scene's table from the client's
// Stats and the recorder; ids and zones are the cells in the recorder's
// index order.
func (r *recorder) cellResults(stats cell.Stats, ids, zones []string) []CellResult {
	byID := make(map[string]cell.CellStats, len(stats.Cells))
	for _, c := range stats.Cells {
		byID[c.Cell] = c
	}
	out := make([]CellResult, 0, len(ids))
	for i, id := range ids {
		c := byID[id]
		var skipped uint64
		for _, n := range c.Rejected {
			skipped += n
		}
		var lat latCounts
		var later uint64
		for s := range r.nslots {
			lat.addHist(&r.cellLat[i][s])
			later += r.later[i][s].Load()
		}
		labels := maps.Clone(c.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		out = append(out, CellResult{
			ID: id, Zone: zones[i], Calls: c.Attempts, Failed: c.Failures, Skipped: skipped, FailoverServed: later,
			Accepted: r.accepted[i].Load(), P99Ms: lat.quantile(0.99), Breaker: c.Breaker.String(), Labels: labels,
		})
	}
	return out
}

// scene makes a scene's result from the recorder, over the scene's first
// d: the callers' totals, the client's counters from stats, the marks,
// spans and series, every list an array (empty rather than nil). The scene
// adds its measurements, checks and headline. A scene that runs without a
// stage (on a fleet of its own) makes its result here too, so that its JSON
// and charts are like every other's.
func (r *recorder) scene(n int, name, title, carried string, d time.Duration, stats cell.Stats, cells []CellResult) *SceneResult {
	res := &SceneResult{
		N: n, Name: name, Title: title,
		DurationS:     d.Seconds(),
		CarriedOver:   carried,
		RequestsCount: r.requests.Load(),
		ErrorsCount:   r.errors.Load(),
		Misrouted:     r.misrouted.Load(),
		Retries:       stats.Retries,
		BudgetRefused: stats.BudgetRefused,
		Failovers:     r.failovers.Load(),
		Redirects:     r.redirects.Load(),
		SourceErrors:  r.sourceErrs.Load(),
		MapVersion:    stats.Version,
		Cells:         append([]CellResult{}, cells...),
		Measured:      make(map[string]float64),
		Checks:        []Check{},
		Marks:         r.sortedMarks(),
		rec:           r,
	}
	if res.RequestsCount > 0 {
		res.ErrorRatio = float64(res.ErrorsCount) / float64(res.RequestsCount)
	}
	r.mu.Lock()
	res.Spans = append([]Span{}, r.spans...)
	r.mu.Unlock()
	res.Series = r.series(d, res.Cells)
	return res
}

// showProgress keeps a progress line on the terminal while the scene runs,
// or writes one a second when the output is not a terminal.
func (st *stage) showProgress(planned time.Duration) {
	defer close(st.progDone)
	w := st.d.progress
	if w == nil {
		<-st.progress
		return
	}
	every := time.Second
	if st.d.tty {
		every = 150 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	line := func() string {
		r := st.rec
		return fmt.Sprintf("  scene %d/%d %-34s %5.1fs of ~%.0fs  %7d requests  %6d errors",
			st.n, st.d.numScenes, st.title, r.since().Seconds(), planned.Seconds(), r.requests.Load(), r.errors.Load())
	}
	for {
		select {
		case <-st.progress:
			if st.d.tty {
				fmt.Fprintf(w, "\r%s\r", strings.Repeat(" ", 100))
			}
			return
		case <-t.C:
			if st.d.tty {
				fmt.Fprintf(w, "\r%-100s", line())
			} else {
				fmt.Fprintln(w, line())
			}
		}
	}
}

// discard is the clients' logger unless -v.
var discard = slog.New(slog.DiscardHandler)

// carriedOver states what a scene starts from: the map in force, with what
// earlier scenes changed in it (shard size, weights, states, labels). Each
// scene starts a fresh client and clears the cells' faults; the map is the
// only state that carries over.
func carriedOver(m *placement.Map) string {
	if m == nil {
		return "no map"
	}
	var notes []string
	if k := m.ShardSize(); k != 1 {
		notes = append(notes, fmt.Sprintf("shard size %d", k))
	} else {
		notes = append(notes, "shard size 1")
	}
	// Weights other than 1, by zone: a zone whose cells share one weight
	// is named as a whole ("az3 at weight 0: drained").
	type zw struct {
		ids     []string
		weights map[float64]bool
		cells   int
	}
	var zones []string
	byZone := make(map[string]*zw)
	var states, labels []string
	byLabel := make(map[string][]string) // "wave=1" → its cells
	for _, c := range m.Cells() {
		z := byZone[c.Zone]
		if z == nil {
			z = &zw{weights: make(map[float64]bool)}
			byZone[c.Zone] = z
			zones = append(zones, c.Zone)
		}
		z.cells++
		if c.Weight != 1 {
			z.ids = append(z.ids, fmt.Sprintf("%s at weight %g", c.ID, c.Weight))
			z.weights[c.Weight] = true
		}
		if c.State != placement.Active {
			states = append(states, fmt.Sprintf("%s %s", c.ID, c.State))
		}
		for k, v := range c.Labels {
			kv := k + "=" + v
			if _, ok := byLabel[kv]; !ok {
				labels = append(labels, kv)
			}
			byLabel[kv] = append(byLabel[kv], c.ID)
		}
	}
	weighted := false
	for _, name := range zones {
		z := byZone[name]
		switch {
		case len(z.ids) == 0:
			continue
		case len(z.ids) == z.cells && len(z.weights) == 1:
			for w := range z.weights {
				what := "part-drained"
				if w == 0 {
					what = "drained"
				}
				notes = append(notes, fmt.Sprintf("%s at weight %g (%s)", name, w, what))
			}
		default:
			notes = append(notes, strings.Join(z.ids, ", "))
		}
		weighted = true
	}
	if !weighted {
		notes = append(notes, "every cell at weight 1")
	}
	notes = append(notes, states...)
	sort.Strings(labels)
	for _, kv := range labels {
		notes = append(notes, kv+": "+strings.Join(byLabel[kv], ", "))
	}
	if g := m.Migrations(); len(g) > 0 {
		notes = append(notes, fmt.Sprintf("%d migration(s) in progress", len(g)))
	}
	return fmt.Sprintf("map v%d: %s; a fresh client, every cell healthy.", m.Version(), strings.Join(notes, "; "))
}
