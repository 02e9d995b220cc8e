package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
)

// scenes are played in order; each returns its result with its checks.
var scenes = []func(d *demo, n int) (*SceneResult, error){
	(*demo).baseline,
	(*demo).cellFailure,
	(*demo).shuffleShard,
	(*demo).poisonTenant,
	(*demo).zoneDrain,
	(*demo).migration,
	(*demo).controlPlaneDown,
	(*demo).waveDeploy,
	(*demo).overload, // overload.go
}

// The cell that fails in scenes 2 and 3, the poison tenant of scene 4, the
// tenant migrated in scene 6 and the zone drained in scene 5.
const (
	failingCell   = "c5"
	poisonTenant  = 666
	movingTenant  = 4242
	drainedZone   = "az3"
	budgetRatio   = 0.2 // cell.Budget's defaults
	budgetPerSec  = 10
	budgetTTLSecs = 10
)

// homes returns each tenant's assignment in m.
func (d *demo) assignments(m *placement.Map) ([]placement.Assignment, error) {
	as := make([]placement.Assignment, numTenants)
	for t, key := range d.tenants {
		a, err := m.Locate(key)
		if err != nil {
			return nil, fmt.Errorf("locate %s: %w", key, err)
		}
		as[t] = a
	}
	return as, nil
}

func (d *demo) baseline(n int) (*SceneResult, error) {
	st, err := d.begin(n, "baseline", d.t.baseline)
	if err != nil {
		return nil, err
	}
	st.drive(statefulMix, d.t.baseline)
	st.wait()
	res := st.finish("baseline")
	res.setTenants(res.rec.tenants(nil))
	res.check(res.ErrorsCount == 0, "no errors", "%d errors in %d requests", res.ErrorsCount, res.RequestsCount)
	res.check(res.Misrouted == 0, "no misrouted request accepted", "%d", res.Misrouted)
	var total uint64
	for _, c := range res.Cells {
		total += c.Accepted
	}
	lo, hi := 1.0, 0.0
	spread := total > 0
	for _, c := range res.Cells {
		s := float64(c.Accepted) / float64(max(total, 1))
		lo, hi = min(lo, s), max(hi, s)
		if d := s - 1.0/numCells; d > tolerance(int(total), 1.0/numCells, cellSpread) || -d > tolerance(int(total), 1.0/numCells, cellSpread) {
			spread = false
		}
	}
	res.Measured["min_cell_share_ratio"], res.Measured["max_cell_share_ratio"] = lo, hi
	res.check(spread, "every cell serves about 1/9 of the requests", "%s to %s per cell", pct(lo), pct(hi))
	res.Headline = fmt.Sprintf("%d requests from %d tenants spread over 9 cells (%s to %s each), %d errors.",
		res.RequestsCount, res.TenantsSeen, pct(lo), pct(hi), res.ErrorsCount)
	return res, nil
}

// cellFailure fails one cell at shard size 1: its tenants, and only they,
// see errors, and its breaker turns their errors into fast ones.
func (d *demo) cellFailure(n int) (*SceneResult, error) {
	as, err := d.assignments(d.fleet.cp.latest())
	if err != nil {
		return nil, err
	}
	st, err := d.begin(n, "one cell fails, shard size 1", d.t.fault)
	if err != nil {
		return nil, err
	}
	st.rec.judgeLater()
	st.drive(statefulMix, d.t.fault)
	st.sleep(d.t.warm)
	d.fleet.byID[failingCell].failing.Store(true)
	st.rec.judgeNow()
	failedAt := st.rec.mark(failingCell+" starts failing", "fault")
	st.wait()
	res := st.finish("cell-failure")
	c := res.rec.tenants(func(t int) bool { return as[t].Cell == failingCell })
	res.setTenants(c)
	expected := float64(c.predicted) / float64(max(c.seen, 1))
	res.Measured["affected_ratio"] = res.AffectedShare
	res.Measured["expected_ratio"] = expected
	res.Measured["law_ratio"] = 1.0 / numCells
	res.Measured["affected_outside_count"] = float64(c.affectedOutside)
	res.Measured["unaffected_inside_count"] = float64(c.unaffectedInside)
	opened, ok := res.rec.openedAt(failingCell)
	res.Measured["breaker_opened_flag"] = b2f(ok)
	res.Measured["breaker_opened_after_ms"] = ms(opened - failedAt)
	res.check(ok, "the breaker of "+failingCell+" opens", "%s", openedText(ok, opened-failedAt))
	res.check(c.affectedOutside == 0, "no tenant outside "+failingCell+" affected", "%d", c.affectedOutside)
	res.check(c.unaffectedInside == 0, "every tenant of "+failingCell+" affected", "%d of %d spared", c.unaffectedInside, c.predicted)
	tol := tolerance(c.seen, 1.0/numCells, cellSpread)
	res.check(c.seen > 0 && abs(res.AffectedShare-1.0/numCells) <= tol, "tenants affected ≈ 1/9",
		"%s (1/9 = %s ± %s; %s holds %s of the tenants seen)", pct(res.AffectedShare), pct(1.0/numCells), pct(tol), failingCell, pct(expected))
	res.Headline = fmt.Sprintf("%s fails: its breaker opens %s; %s of tenants get errors (%s holds %s; 1/9 = %s), %d outside it.",
		failingCell, openedText(ok, opened-failedAt), pct(res.AffectedShare), failingCell, pct(expected), pct(1.0/numCells), c.affectedOutside)
	return res, nil
}

func openedText(ok bool, after time.Duration) string {
	if !ok {
		return "never"
	}
	return fmt.Sprintf("%.0f ms after the fault", ms(after))
}

// shuffleShard repeats the failure at shard size 2 with stateless calls:
// every tenant of the failed cell fails over to the other cell of its shard.
func (d *demo) shuffleShard(n int) (*SceneResult, error) {
	m, err := d.fleet.cp.edit(context.Background(), func(b *placement.Builder) error { return b.SetShardSize(2) })
	if err != nil {
		return nil, err
	}
	st, err := d.begin(n, "the same failure, shard size 2, stateless", d.t.fault)
	if err != nil {
		return nil, err
	}
	st.rec.addMark(Mark{Label: fmt.Sprintf("map v%d: shard size 2", m.Version()), Kind: "map"})
	st.rec.judgeLater()
	st.drive(statelessMix, d.t.fault)
	st.sleep(d.t.warm)
	d.fleet.byID[failingCell].failing.Store(true)
	st.rec.judgeNow()
	failedAt := st.rec.mark(failingCell+" starts failing", "fault")
	st.wait()
	res := st.finish("shuffle-shard")
	c := res.rec.tenants(nil)
	res.setTenants(c)
	bound := budgetRatio*float64(res.RequestsCount) + budgetPerSec*budgetTTLSecs
	extra := float64(res.Retries) / float64(max(res.RequestsCount, 1))
	opened, ok := res.rec.openedAt(failingCell)
	res.Measured["affected_ratio"] = res.AffectedShare
	res.Measured["breaker_opened_flag"] = b2f(ok)
	res.Measured["retries_count"] = float64(res.Retries)
	res.Measured["extra_load_ratio"] = extra
	res.Measured["budget_bound_count"] = bound
	res.Measured["failovers_count"] = float64(res.Failovers)
	res.check(ok, "the breaker of "+failingCell+" opens", "%s", openedText(ok, opened-failedAt))
	res.check(res.Failovers > 0, "calls fail over along the shard", "%d failovers", res.Failovers)
	res.check(res.AffectedShare <= 0.005, "tenants affected ≈ 0 (at most 0.5%)", "%d of %d (%s)", c.affected, c.seen, pct(res.AffectedShare))
	res.check(float64(res.Retries) <= bound, "extra attempts within the retry budget",
		"%d extra attempts (%s of requests); budget %.0f (20%% of requests + 10/s × 10 s)", res.Retries, pct(extra), bound)
	var served uint64
	for _, cr := range res.Cells {
		served += cr.FailoverServed
	}
	res.Measured["failover_served_count"] = float64(served)
	res.Headline = fmt.Sprintf("%s fails again; its tenants fail over to the other cell of their shard, which serve %d of their requests (blue): "+
		"%d of %d tenants affected, for %d extra attempts (%s of requests, budget 20%% + 10/s): most requests skip the open breaker and cost none.",
		failingCell, served, c.affected, c.seen, res.Retries, pct(extra))
	return res, nil
}

// poisonTenant sends one request of a tenant that crashes every cell that
// serves it: at shard size 2 with failover it takes out both cells of its
// shard, and exactly the tenants whose shard is that same pair lose every
// cell.
func (d *demo) poisonTenant(n int) (*SceneResult, error) {
	m := d.fleet.cp.latest()
	as, err := d.assignments(m)
	if err != nil {
		return nil, err
	}
	shard := as[poisonTenant].Shard
	same := func(t int) bool {
		s := as[t].Shard
		return len(s) == len(shard) && !slices.ContainsFunc(s, func(c string) bool { return !slices.Contains(shard, c) })
	}
	st, err := d.begin(n, "a poison tenant takes out its shard", d.t.fault, poisonTenant)
	if err != nil {
		return nil, err
	}
	st.rec.judgeLater()
	st.drive(statelessMix, d.t.fault)
	st.sleep(d.t.warm)
	poison := d.tenants[poisonTenant]
	d.fleet.poison.Store(&poison)
	st.rec.mark("poison tenant "+poison+" sends a request", "fault")
	pok, _, _ := st.call(0, poison, statelessMix, "")
	st.rec.judgeNow()
	st.wait()
	var crashed []string
	for _, c := range d.fleet.cells {
		if c.failing.Load() {
			crashed = append(crashed, c.id)
		}
	}
	res := st.finish("poison-tenant")
	c := res.rec.tenants(same)
	res.setTenants(c)
	predicted := float64(c.predicted) / float64(max(c.seen, 1))
	law := 1.0 / crossZonePairs()
	allPairs := 1.0 / binomial(numCells, 2)
	res.Measured["affected_ratio"] = res.AffectedShare
	res.Measured["predicted_ratio"] = predicted
	res.Measured["law_ratio"] = law
	res.Measured["law_one_zone_ratio"] = allPairs
	res.Measured["crashed_cells_count"] = float64(len(crashed))
	res.Measured["affected_outside_count"] = float64(c.affectedOutside)
	slices.Sort(crashed)
	want := slices.Sorted(slices.Values(shard))
	res.check(slices.Equal(crashed, want) && !pok, "the poison tenant crashes its whole shard, nothing more",
		"crashed %v; its shard %v", crashed, shard)
	res.check(c.affectedOutside == 0, "no tenant with a cell left in its shard affected", "%d", c.affectedOutside)
	tol := tolerance(c.seen, law, shardSpread)
	res.check(c.seen > 0 && abs(res.AffectedShare-law) <= tol, "tenants losing their whole shard ≈ 1/27",
		"%s (1/27 = %s ± %s; this map gives %s of the tenants seen that shard)", pct(res.AffectedShare), pct(law), pct(tol), pct(predicted))
	res.Headline = fmt.Sprintf("poison tenant %s crashes %s, its whole shard: %s of tenants lose every cell of theirs (1/27 = %s for shards of 2 across 3 zones; 1/C(9,2) = %s were zones ignored; shard size 1: 1/9).",
		poison, strings.Join(crashed, " and "), pct(res.AffectedShare), pct(law), pct(allPairs))
	return res, nil
}

// crossZonePairs is the number of shards of 2 cells in different zones:
// the shards the map draws from (it spreads a shard over zones).
func crossZonePairs() float64 {
	per := numCells / numZones
	return binomial(numCells, 2) - numZones*binomial(per, 2)
}

func binomial(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

// zoneDrain lowers the weights of a zone's cells in steps to 0: their
// traffic moves to the other zones, and no request fails on the way.
func (d *demo) zoneDrain(n int) (*SceneResult, error) {
	weights := []float64{0.5, 0.25, 0}
	planned := time.Duration(len(weights)+1) * d.t.drainStep
	st, err := d.begin(n, "a zone drained by weight steps", planned)
	if err != nil {
		return nil, err
	}
	versions := []uint64{d.fleet.cp.latest().Version()}
	st.drive(statelessMix, planned+10*time.Second)
	for _, w := range weights {
		st.sleep(d.t.drainStep)
		m, err := d.fleet.cp.edit(context.Background(), func(b *placement.Builder) error {
			for _, c := range d.fleet.cells {
				if c.zone == drainedZone {
					if err := b.SetWeight(c.id, w); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			st.end()
			st.finish("zone-drain")
			return nil, err
		}
		versions = append(versions, m.Version())
		st.rec.mark(fmt.Sprintf("%s weight %g (v%d)", drainedZone, w, m.Version()), "map")
	}
	// The last step's traffic: from when the client has the last map.
	st.awaitVersion(versions[len(versions)-1])
	st.sleep(d.t.drainStep)
	st.end()
	res := st.finish("zone-drain")
	res.setTenants(res.rec.tenants(nil))
	var shares []string
	decreasing, last := true, 1.0
	var finalTotal, finalZone uint64
	for i, v := range versions {
		var total, zone uint64
		for ci, c := range d.fleet.cells {
			k := res.rec.byVersion[v][ci].Load()
			total += k
			if c.zone == drainedZone {
				zone += k
			}
		}
		s := float64(zone) / float64(max(total, 1))
		res.Measured["zone_share_step"+strconv.Itoa(i)+"_ratio"] = s
		shares = append(shares, pct(s))
		if s > last+0.02 {
			decreasing = false
		}
		last = s
		finalTotal, finalZone = total, zone
	}
	res.Measured["final_zone_requests_count"] = float64(finalZone)
	res.Measured["redirects_count"] = float64(res.Redirects)
	res.check(res.ErrorsCount == 0, "no errors", "%d errors in %d requests", res.ErrorsCount, res.RequestsCount)
	res.check(decreasing, drainedZone+"'s share falls at each step", "%v", shares)
	res.check(finalTotal > 0 && finalZone == 0, "no request routed by the last map reaches "+drainedZone,
		"%d of %d", finalZone, finalTotal)
	res.check(res.Misrouted == 0, "no misrouted request accepted", "%d", res.Misrouted)
	res.Headline = fmt.Sprintf("%s drained in %d weight steps (1 → 0.5 → 0.25 → 0): its share of requests %s, %d errors, %d moved replies followed.",
		drainedZone, len(weights), joinArrow(shares), res.ErrorsCount, res.Redirects)
	return res, nil
}

func joinArrow(s []string) string { return strings.Join(s, " → ") }

// A write is one write of the migrating tenant, as its caller saw it.
type write struct {
	seq        uint64
	start, end time.Duration
	ok         bool
	refused    bool
	cell       string
}

// migration moves one tenant from its home to a cell of another zone
// through the four phases while it keeps writing.
func (d *demo) migration(n int) (*SceneResult, error) {
	cp := d.fleet.cp
	tenant := d.tenants[movingTenant]
	a, err := cp.latest().Locate(tenant)
	if err != nil {
		return nil, err
	}
	from := d.fleet.byID[a.Cell]
	var to *cellNode
	for _, c := range d.fleet.cells {
		if c.zone != from.zone && c.zone != drainedZone {
			to = c
			break
		}
	}
	planned := d.t.migPre + 3*d.t.migPhase + d.t.migFreeze
	st, err := d.begin(n, "a tenant migrated while it writes", planned, movingTenant)
	if err != nil {
		return nil, err
	}
	d.fleet.migrating.Store(&tenant)
	st.rec.tenant = tenant
	st.drive(statefulMix, planned+2*time.Second)

	// The tenant's writer: one write every 2 ms at most, numbered.
	var (
		wmu    sync.Mutex
		writes []write
		stop   = make(chan struct{})
		wdone  = make(chan struct{})
	)
	go func() {
		defer close(wdone)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for seq := uint64(1); seq <= 100_000; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			w := write{seq: seq, start: st.rec.since()}
			ok, resp, err := st.call(0, tenant, statefulMix, strconv.FormatUint(seq, 10))
			w.end, w.ok = st.rec.since(), ok
			switch {
			case err != nil:
				w.refused = errors.Is(err, cell.ErrFrozen)
			case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get(cell.HeaderRefused) == "frozen":
				w.refused = true
			}
			if resp != nil {
				w.cell = resp.Header.Get(cell.HeaderCell)
			}
			st.rec.tenantWrite(w.end, w.ok, w.refused)
			wmu.Lock()
			writes = append(writes, w)
			wmu.Unlock()
		}
	}()

	g := placement.Migration{Key: tenant}
	var frozenAt time.Duration
	var flipVersion uint64
	script := func() error {
		st.sleep(d.t.migPre)
		m, err := cp.edit(context.Background(), func(b *placement.Builder) error { return b.MigrateKey(tenant, to.id) })
		if err != nil {
			return err
		}
		st.rec.mark(fmt.Sprintf("copying %s → %s (v%d)", from.id, to.id, m.Version()), "map")
		from.copyTo(to) // the bulk copy, while writes still go to from
		st.sleep(d.t.migPhase)
		frozenAt = st.rec.since()
		if m, err = cp.edit(context.Background(), func(b *placement.Builder) error { return b.Advance(g) }); err != nil {
			return err
		}
		st.rec.addMark(Mark{AtMs: ms(frozenAt), Label: fmt.Sprintf("frozen (v%d)", m.Version()), Kind: "map"})
		from.copyTo(to) // the final copy: every cell has stopped taking the tenant's writes
		st.sleep(d.t.migFreeze)
		if m, err = cp.edit(context.Background(), func(b *placement.Builder) error { return b.Advance(g) }); err != nil {
			return err
		}
		flipVersion = m.Version()
		st.rec.mark(fmt.Sprintf("flipped (v%d) on every cell", m.Version()), "map")
		st.sleep(d.t.migPhase)
		if m, err = cp.edit(context.Background(), func(b *placement.Builder) error { return b.Advance(g) }); err != nil {
			return err
		}
		st.rec.mark(fmt.Sprintf("done (v%d)", m.Version()), "map")
		st.sleep(d.t.migPhase)
		return nil
	}
	serr := script()
	close(stop)
	<-wdone
	st.end()
	res := st.finish("migration")
	if serr != nil {
		return nil, serr
	}
	res.setTenants(res.rec.tenants(nil))
	flippedAt, flipSeen := res.rec.gotVersion(flipVersion)
	if flipSeen {
		res.Spans = append(res.Spans, Span{FromMs: ms(frozenAt), ToMs: ms(flippedAt), Kind: "frozen",
			Label: tenant + " frozen: its writes are refused until the client has the flipped map"})
		res.Marks = append(res.Marks, Mark{AtMs: ms(flippedAt), Label: "the client on the flipped map", Kind: "map"})
		slices.SortStableFunc(res.Marks, func(a, b Mark) int { return cmp.Compare(a.AtMs, b.AtMs) })
	}
	var acked, refused, refusedOutside, writeErrs, lost, atFrom, atTo int
	for _, w := range writes {
		switch {
		case w.ok:
			acked++
			if !to.holds(w.seq) {
				lost++
			}
			switch w.cell {
			case from.id:
				atFrom++
			case to.id:
				atTo++
			}
		case w.refused:
			refused++
			if !flipSeen || w.start > flippedAt || w.end < frozenAt {
				refusedOutside++
			}
		default:
			writeErrs++
		}
	}
	freeze := flippedAt - frozenAt
	res.Measured["writes_count"] = float64(len(writes))
	res.Measured["acked_count"] = float64(acked)
	res.Measured["refused_count"] = float64(refused)
	res.Measured["refused_outside_freeze_count"] = float64(refusedOutside)
	res.Measured["write_errors_count"] = float64(writeErrs)
	res.Measured["lost_count"] = float64(lost)
	res.Measured["freeze_ms"] = ms(freeze)
	res.Measured["acked_at_from_count"] = float64(atFrom)
	res.Measured["acked_at_to_count"] = float64(atTo)
	res.check(refused > 0 && refusedOutside == 0, "writes refused only while frozen",
		"%d refused, %d outside the %.0f ms freeze", refused, refusedOutside, ms(freeze))
	res.check(atFrom > 0 && atTo > 0, "writes served by "+from.id+" before and by "+to.id+" after", "%d at %s, %d at %s", atFrom, from.id, atTo, to.id)
	res.check(writeErrs == 0 && res.ErrorsCount == 0, "no other error", "%d of the tenant's writes, %d other requests", writeErrs, res.ErrorsCount)
	res.check(lost == 0, "no acknowledged write lost", "%d of %d missing at %s", lost, acked, to.id)
	res.check(res.Misrouted == 0, "no misrouted request accepted", "%d", res.Misrouted)
	res.Headline = fmt.Sprintf("%s moves %s → %s while writing: %d writes, %d refused during the %.0f ms freeze only, %d lost, %d misrouted accepted.",
		tenant, from.id, to.id, len(writes), refused, ms(freeze), lost, res.Misrouted)
	return res, nil
}

// controlPlaneDown stops the control plane: clients and cells keep routing
// on the map they have. Restarted, it publishes the next version (the zone
// drained in scene 5 back at full weight), which reaches the clients.
func (d *demo) controlPlaneDown(n int) (*SceneResult, error) {
	cp := d.fleet.cp
	planned := d.t.cpBefore + d.t.cpDown + d.t.cpAfter
	st, err := d.begin(n, "the control plane stops and restarts", planned)
	if err != nil {
		return nil, err
	}
	st.drive(statelessMix, planned+10*time.Second)
	st.sleep(d.t.cpBefore)
	before := st.client.Map().Version()
	cp.stop()
	stoppedAt := st.rec.mark("control plane stopped", "control")
	okBefore := st.rec.okTotal.Load()
	st.sleep(d.t.cpDown)
	okDown := st.rec.okTotal.Load() - okBefore
	during := st.client.Map().Version()
	errsDown := st.rec.sourceErrs.Load()
	restartErr := cp.start()
	restarted := st.rec.mark("control plane restarted", "control")
	st.rec.addSpan(stoppedAt, restarted, "control-plane-down", "control plane down: the client routes on its last map")
	var next uint64
	var pickup time.Duration
	picked := false
	if restartErr == nil {
		var m *placement.Map
		m, restartErr = cp.edit(context.Background(), func(b *placement.Builder) error {
			for _, c := range d.fleet.cells {
				if c.zone == drainedZone {
					if err := b.SetWeight(c.id, 1); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if restartErr == nil {
			next = m.Version()
			st.awaitVersion(next)
			if at, ok := st.rec.gotVersion(next); ok {
				picked, pickup = true, at-restarted
				st.rec.addMark(Mark{AtMs: ms(at), Label: fmt.Sprintf("clients on v%d", next), Kind: "map"})
			}
		}
	}
	st.sleep(d.t.cpAfter)
	st.end()
	res := st.finish("control-plane-down")
	if restartErr != nil {
		return nil, restartErr
	}
	res.setTenants(res.rec.tenants(nil))
	res.Measured["ok_while_down_count"] = float64(okDown)
	res.Measured["before_version"] = float64(before)
	res.Measured["while_down_version"] = float64(during)
	res.Measured["source_errors_while_down_count"] = float64(errsDown)
	res.Measured["next_version"] = float64(next)
	res.Measured["picked_up_flag"] = b2f(picked)
	res.Measured["pickup_ms"] = ms(pickup)
	res.check(res.ErrorsCount == 0, "no errors, down or up", "%d errors in %d requests", res.ErrorsCount, res.RequestsCount)
	res.check(okDown > 0 && during == before, "routing continues on the last map",
		"%d requests served while down, on v%d", okDown, during)
	res.check(errsDown > 0, "the client saw the control plane fail", "%d source errors", errsDown)
	res.check(picked && pickup < 5*time.Second, "the next version reaches the client after the restart",
		"v%d after %.0f ms", next, ms(pickup))
	res.Headline = fmt.Sprintf("control plane down %.1f s: %d requests served on map v%d, %d errors; restarted, v%d (%s back) reached the client %.0f ms later.",
		d.t.cpDown.Seconds(), okDown, during, res.ErrorsCount, next, drainedZone, ms(pickup))
	return res, nil
}

// blastRadius gathers the shares of scenes 2–4.
func blastRadius(rs []*SceneResult) []BlastRadius {
	out := []BlastRadius{}
	for _, r := range rs {
		switch r.Name {
		case "cell-failure":
			out = append(out, BlastRadius{Case: "one cell fails, shard size 1", Measured: r.AffectedShare,
				Expected: 1.0 / numCells, Law: "1/9: the cell's tenants"})
		case "shuffle-shard":
			out = append(out, BlastRadius{Case: "one cell fails, shard size 2, stateless", Measured: r.AffectedShare,
				Expected: 0, Law: "every shard keeps a cell"})
		case "poison-tenant":
			out = append(out, BlastRadius{Case: "poison tenant, shard size 2", Measured: r.AffectedShare,
				Expected: r.Measured["law_ratio"], Law: "1/27: shards span zones; 1/C(9,2) = 2.8% in one zone"})
		}
	}
	return out
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
