package main

import "time"

// A Series is a scene's measurements per time slot, the data behind its
// charts. Slot i covers [i·slot_width_ms, (i+1)·slot_width_ms) from the
// scene's start; a request or an attempt counts in the slot in which it
// ended, so that a stall shows as latency (and a dip, then a burst, of
// completions), never as requests that were not sent.
type Series struct {
	SlotWidthMs float64 `json:"slot_width_ms"`
	SlotsCount  int     `json:"slots_count"`

	// What the callers got, per slot of the request's end.
	CallersOKCount    []uint64  `json:"callers_ok_count"`
	CallersErrorCount []uint64  `json:"callers_error_count"`
	CallersP50Ms      []float64 `json:"callers_p50_ms"` // 0 in a slot with no request
	CallersP99Ms      []float64 `json:"callers_p99_ms"`
	// Requests started in each slot, and those started but not ended at
	// the slot's end.
	CallersStartedCount  []uint64 `json:"callers_started_count"`
	CallersInFlightCount []uint64 `json:"callers_in_flight_count"`
	// The client's map version at each slot's end; 0 before its first map.
	MapVersion []uint64 `json:"map_version"`

	Cells []CellSeries `json:"cells"`
	// The followed tenant's writes, in the migration scene only.
	Tenant *TenantSeries `json:"tenant,omitempty"`
}

// A CellSeries is one cell's attempts per slot, as the client saw them.
type CellSeries struct {
	ID   string `json:"id"`
	Zone string `json:"zone"`
	// Attempts that succeeded, and of them those of calls that had skipped
	// another cell (its breaker open) or had an attempt fail there, or that
	// followed a moved reply: traffic another cell's failure sent here.
	OKCount             []uint64  `json:"ok_count"`
	FailoverServedCount []uint64  `json:"failover_served_count"`
	FailedCount         []uint64  `json:"failed_count"`
	SkippedCount        []uint64  `json:"skipped_count"` // calls that passed the cell over (breaker open)
	P99Ms               []float64 `json:"p99_ms"`        // attempt latency, 0 in a slot with no attempt
}

// A TenantSeries is one tenant's writes per slot of their end.
type TenantSeries struct {
	Key          string   `json:"key"`
	OKCount      []uint64 `json:"ok_count"`
	RefusedCount []uint64 `json:"refused_count"` // refused while frozen
	ErrorCount   []uint64 `json:"error_count"`
}

// series reads the recorder out for a scene of length d.
func (r *recorder) series(d time.Duration, cells []CellResult) Series {
	n := min(max(r.slotAt(d)+1, 1), r.nslots)
	s := Series{
		SlotWidthMs:          ms(r.slot),
		SlotsCount:           n,
		CallersOKCount:       make([]uint64, n),
		CallersErrorCount:    make([]uint64, n),
		CallersP50Ms:         make([]float64, n),
		CallersP99Ms:         make([]float64, n),
		CallersStartedCount:  make([]uint64, n),
		CallersInFlightCount: make([]uint64, n),
		MapVersion:           make([]uint64, n),
		Cells:                []CellSeries{},
	}
	var started, ended uint64
	for i := range n {
		s.CallersOKCount[i] = r.userOK[i].Load()
		s.CallersErrorCount[i] = r.userErr[i].Load()
		s.CallersStartedCount[i] = r.userStarted[i].Load()
		var h latCounts
		h.addHist(&r.userLat[i])
		s.CallersP50Ms[i], s.CallersP99Ms[i] = h.quantile(0.5), h.quantile(0.99)
		started += s.CallersStartedCount[i]
		ended += s.CallersOKCount[i] + s.CallersErrorCount[i]
		if started > ended {
			s.CallersInFlightCount[i] = started - ended
		}
	}
	r.mu.Lock()
	maps := append([]mapMark(nil), r.maps...)
	r.mu.Unlock()
	for i := range n {
		end := time.Duration(i+1) * r.slot
		for _, m := range maps {
			if m.at < end {
				s.MapVersion[i] = max(s.MapVersion[i], m.version)
			}
		}
	}
	for c, cr := range cells {
		cs := CellSeries{
			ID: cr.ID, Zone: cr.Zone,
			OKCount: make([]uint64, n), FailoverServedCount: make([]uint64, n),
			FailedCount: make([]uint64, n), SkippedCount: make([]uint64, n), P99Ms: make([]float64, n),
		}
		for i := range n {
			cs.OKCount[i] = r.ok[c][i].Load()
			cs.FailoverServedCount[i] = r.later[c][i].Load()
			cs.FailedCount[i] = r.failed[c][i].Load()
			cs.SkippedCount[i] = r.skipped[c][i].Load()
			var h latCounts
			h.addHist(&r.cellLat[c][i])
			cs.P99Ms[i] = h.quantile(0.99)
		}
		s.Cells = append(s.Cells, cs)
	}
	if r.tenant != "" {
		t := &TenantSeries{Key: r.tenant, OKCount: make([]uint64, n), RefusedCount: make([]uint64, n), ErrorCount: make([]uint64, n)}
		for i := range n {
			t.OKCount[i], t.RefusedCount[i], t.ErrorCount[i] = r.tenantOK[i].Load(), r.tenantRef[i].Load(), r.tenantErr[i].Load()
		}
		s.Tenant = t
	}
	return s
}

// window sums cells' attempts and latency over the slots from..to (times
// since the scene's start, rounded out to whole slots): the demo's own
// record of what a bake-time gate judged a group of cells on.
func (r *recorder) window(cells []int, from, to time.Duration) (ok, failed uint64, lat latCounts) {
	a, b := r.slotAt(from), r.slotAt(to)
	for _, c := range cells {
		for i := a; i <= b; i++ {
			ok += r.ok[c][i].Load()
			failed += r.failed[c][i].Load()
			lat.addHist(&r.cellLat[c][i])
		}
	}
	return ok, failed, lat
}
