package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
)

// The waves of the deploy scene: wave 1 is two cells in two zones, wave 2
// the other seven.
var waveOne = []string{"c1", "c5"}

// The bad build of the deploy scene, the faults celltest's ErrorRate and
// Slow knobs model: one request in badEvery fails, every one is badDelay
// slower.
const (
	badEvery = 5
	badDelay = 20 * time.Millisecond
)

// The bake-time gate: a wave is held when, over its bake time, its error
// ratio exceeds the rest's by more than gateErrMargin, or its p99 exceeds
// gateP99Factor times the rest's plus gateP99Slack; or when it served fewer
// than gateMinJudged attempts, too few to judge (a gate must not pass a wave
// it could not see).
const (
	gateErrMargin = 0.02
	gateP99Factor = 2
	gateP99Slack  = 5 * time.Millisecond
	gateMinJudged = 20
	// bakeSamples is how many judged attempts of the wave the bake waits
	// for past its time, up to bakeMax: on a busy machine the bake time
	// alone may see too few requests to tell 20% errors from luck.
	bakeSamples = 150
	bakeMax     = 15 * time.Second
)

// A badDeploy is a cell's bad build: it delays every request and fails one
// in every badEvery, counted, so that runs repeat.
type badDeploy struct {
	n atomic.Uint64
}

// serve answers r when the bad build fails it, after the build's delay,
// and reports whether it did; otherwise the cell serves r as usual.
func (bd *badDeploy) serve(w http.ResponseWriter, r *http.Request, id string) bool {
	t := time.NewTimer(badDelay)
	select {
	case <-t.C:
	case <-r.Context().Done():
		t.Stop()
		return true
	}
	if bd.n.Add(1)%badEvery != 0 {
		return false
	}
	w.Header().Set(cell.HeaderCell, id)
	http.Error(w, "cell "+id+": the new build failed this request", http.StatusInternalServerError)
	return true
}

// A gateVerdict is what the bake-time gate decided, and on what.
type gateVerdict struct {
	hold                  bool
	why                   string
	waveErr, restErr      float64
	waveP99, restP99      time.Duration
	waveJudged, restJudge uint64
}

// judgeWave is the bake-time gate: it compares a wave's SLIs with the
// rest's, both over the bake time (cell.Stats.Since, then Split by the
// "wave" label).
func judgeWave(wave, rest cell.Group) gateVerdict {
	v := gateVerdict{
		waveErr: wave.ErrorRatio(), restErr: rest.ErrorRatio(),
		waveP99: wave.P99(), restP99: rest.P99(),
		waveJudged: wave.Judged(), restJudge: rest.Judged(),
	}
	var why []string
	if v.waveJudged < gateMinJudged {
		why = append(why, fmt.Sprintf("only %d attempts judged (want %d)", v.waveJudged, gateMinJudged))
	}
	if v.waveErr > v.restErr+gateErrMargin {
		why = append(why, fmt.Sprintf("error ratio %s > %s + %s", pct(v.waveErr), pct(v.restErr), pct(gateErrMargin)))
	}
	if limit := gateP99Factor*v.restP99 + gateP99Slack; v.waveP99 > limit {
		why = append(why, fmt.Sprintf("p99 %.1f ms > %d × %.1f ms + %.0f ms", ms(v.waveP99), gateP99Factor, ms(v.restP99), ms(gateP99Slack)))
	}
	v.hold = len(why) > 0
	v.why = strings.Join(why, "; ")
	if !v.hold {
		v.why = fmt.Sprintf("error ratio %s vs %s, p99 %.1f vs %.1f ms: within the margins",
			pct(v.waveErr), pct(v.restErr), ms(v.waveP99), ms(v.restP99))
	}
	return v
}

func waveOf(id string) string {
	if slices.Contains(waveOne, id) {
		return "1"
	}
	return "2"
}

// waveDeploy rolls a bad build out by waves: it reaches wave 1's cells
// (errors and latency), the bake-time gate, judging wave 1 against the rest
// on the client's per-label SLIs, holds wave 2 and rolls wave 1 back, and
// only tenants with a cell in wave 1 see errors.
func (d *demo) waveDeploy(n int) (*SceneResult, error) {
	cp := d.fleet.cp
	m, err := cp.edit(context.Background(), func(b *placement.Builder) error {
		for _, c := range d.fleet.cells {
			labels := maps.Clone(c.labels(cp.latest()))
			if labels == nil {
				labels = make(map[string]string)
			}
			labels["wave"] = waveOf(c.id)
			if err := b.SetLabels(c.id, labels); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	as, err := d.assignments(m)
	if err != nil {
		return nil, err
	}
	homeIn := func(t int) bool { return slices.Contains(waveOne, as[t].Cell) }
	shardIn := func(t int) bool {
		return slices.ContainsFunc(as[t].Shard, func(c string) bool { return slices.Contains(waveOne, c) })
	}

	planned := d.t.waveWarm + d.t.waveBake + d.t.waveAfter
	st, err := d.begin(n, "a bad deploy, wave by wave", planned)
	if err != nil {
		return nil, err
	}
	st.rec.addMark(Mark{Label: fmt.Sprintf("map v%d: wave 1 = %s, wave 2 = the rest", m.Version(), strings.Join(waveOne, ", ")), Kind: "map"})
	st.rec.judgeLater()
	// The load runs until the script ends it: on a busy machine the bake
	// may run late, and the traffic after the gate is part of the story.
	st.drive(statefulMix, planned+10*time.Second)
	st.sleep(d.t.waveWarm)

	before := st.client.Stats()
	for _, id := range waveOne {
		d.fleet.byID[id].deploy.Store(&badDeploy{})
	}
	st.rec.judgeNow()
	deployed := st.rec.mark("bad build reaches wave 1 ("+strings.Join(waveOne, ", ")+")", "deploy")
	st.sleep(d.t.waveBake)

	inWave := func(cs *cell.CellStats) bool { return cs.Labels["wave"] == "1" }
	var wave, rest cell.Group
	for limit := time.Now().Add(bakeMax); ; {
		after := st.client.Stats()
		window := after.Since(&before)
		wave, rest = window.Split(inWave)
		if wave.Judged() >= bakeSamples || time.Now().After(limit) {
			break
		}
		st.sleep(20 * time.Millisecond)
	}
	v := judgeWave(wave, rest)
	word := "passes"
	if v.hold {
		word = "holds"
	}
	gated := st.rec.mark("gate "+word+" wave 2: "+v.why, "gate")
	st.rec.addSpan(deployed, gated, "bake", "wave 1 baking")
	if v.hold {
		for _, id := range waveOne {
			d.fleet.byID[id].deploy.Store(nil)
		}
		st.rec.mark("wave 1 rolled back", "deploy")
	} else {
		for _, c := range d.fleet.cells {
			c.deploy.Store(&badDeploy{})
		}
		st.rec.mark("bad build reaches wave 2", "deploy")
	}
	st.sleep(d.t.waveAfter)
	st.end()
	for _, c := range d.fleet.cells {
		c.deploy.Store(nil)
	}
	res := st.finish("wave-deploy")

	c := res.rec.tenants(shardIn)
	res.setTenants(c)
	var homed int
	for t := range numTenants {
		if res.rec.seen[t].Load() && homeIn(t) {
			homed++
		}
	}
	var waveFailed, restFailed uint64
	for _, cr := range res.Cells {
		if waveOf(cr.ID) == "1" {
			waveFailed += cr.Failed
		} else {
			restFailed += cr.Failed
		}
	}
	shardShare := float64(c.predicted) / float64(max(c.seen, 1))
	res.Measured["gate_held_flag"] = b2f(v.hold)
	res.Measured["wave1_error_ratio"] = v.waveErr
	res.Measured["rest_error_ratio"] = v.restErr
	res.Measured["wave1_p99_ms"] = ms(v.waveP99)
	res.Measured["rest_p99_ms"] = ms(v.restP99)
	res.Measured["wave1_judged_count"] = float64(v.waveJudged)
	res.Measured["rest_judged_count"] = float64(v.restJudge)
	res.Measured["wave1_failed_count"] = float64(waveFailed)
	res.Measured["wave2_failed_count"] = float64(restFailed)
	// The demo's own records of the same window, to check the SLIs the
	// gate judged on.
	var waveIdx []int
	for _, id := range waveOne {
		waveIdx = append(waveIdx, d.fleet.index[id])
	}
	recOK, recFailed, _ := res.rec.window(waveIdx, deployed, gated)
	recErr := float64(recFailed) / float64(max(recOK+recFailed, 1))
	res.Measured["wave1_recorded_error_ratio"] = recErr
	res.Measured["affected_ratio"] = res.AffectedShare
	res.Measured["affected_outside_count"] = float64(c.affectedOutside)
	res.Measured["wave1_shard_share_ratio"] = shardShare
	res.Measured["wave1_home_share_ratio"] = float64(homed) / float64(max(c.seen, 1))

	res.check(v.waveJudged >= bakeSamples && v.waveErr >= 0.5/badEvery && v.waveP99 >= badDelay, "the bad build shows in wave 1's SLIs",
		"error ratio %s, p99 %.1f ms over %d attempts in the bake (the build fails 1 in %d, adds %.0f ms)",
		pct(v.waveErr), ms(v.waveP99), v.waveJudged, badEvery, ms(badDelay))
	res.check(v.hold, "the gate holds wave 2", "%s", v.why)
	res.check(abs(recErr-v.waveErr) <= 0.05, "the client's SLIs agree with the demo's own records",
		"wave 1 error ratio %s from cell.Stats, %s recorded", pct(v.waveErr), pct(recErr))
	res.check(restFailed == 0, "no wave 2 cell fails", "%d failed attempts at wave 2's cells", restFailed)
	res.check(c.affectedOutside == 0, "no tenant without a wave 1 cell affected", "%d", c.affectedOutside)
	res.check(c.affected > 0 && res.AffectedShare <= shardShare, "tenants affected within wave 1's share",
		"%s of the tenants seen; %s have a wave 1 cell in their shard", pct(res.AffectedShare), pct(shardShare))
	res.check(res.Misrouted == 0, "no misrouted request accepted", "%d", res.Misrouted)
	res.Headline = fmt.Sprintf("a bad build reaches wave 1 (%s): error ratio %s and p99 %.1f ms against %s and %.1f ms for the rest; the gate %s wave 2 "+
		"and wave 1 rolls back. %s of tenants got an error, all with a wave 1 cell in their shard (%s of tenants); wave 2's cells failed %d attempts.",
		strings.Join(waveOne, ", "), pct(v.waveErr), ms(v.waveP99), pct(v.restErr), ms(v.restP99), word,
		pct(res.AffectedShare), pct(shardShare), restFailed)
	return res, nil
}

// labels returns the cell's labels in m.
func (n *cellNode) labels(m *placement.Map) map[string]string {
	if c, ok := m.Cell(n.id); ok {
		return c.Labels
	}
	return nil
}
