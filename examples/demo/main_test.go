package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestQuick plays every scene with -quick and checks each expectation from
// the measurements in the JSON report (not from the verdicts alone), then
// the HTML report.
func TestQuick(t *testing.T) {
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.html")
	var out bytes.Buffer
	err := run([]string{"-quick", "-json", jsonPath, "-html", htmlPath}, &out, io.Discard)
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Errorf("run: %v", err)
	}
	data, rerr := os.ReadFile(jsonPath)
	if rerr != nil {
		t.Fatalf("no JSON report: %v", rerr)
	}
	checkSchema(t, loadSchema(t), data)
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("JSON report: %v", err)
	}
	if !rep.OK || len(rep.Failed) > 0 {
		t.Errorf("report OK = %v, failed %v; want every scene met", rep.OK, rep.Failed)
	}
	if len(rep.Scenes) != len(scenes) {
		t.Fatalf("%d scenes; want %d", len(rep.Scenes), len(scenes))
	}
	// -quick promises under 15 s; leave room for -race on a busy machine.
	if rep.DurationS > 45 {
		t.Errorf("the quick demo took %.1fs; want well under 45s", rep.DurationS)
	}
	byName := make(map[string]*SceneResult)
	for i, s := range rep.Scenes {
		if s.N != i+1 || s.Headline == "" || len(s.Checks) == 0 || len(s.Cells) != numCells {
			t.Errorf("scene %d (%q): n %d, headline %q, %d checks, %d cells", i+1, s.Name, s.N, s.Headline, len(s.Checks), len(s.Cells))
		}
		for _, c := range s.Checks {
			if !c.OK {
				t.Errorf("scene %d (%s): check %q failed: %s", s.N, s.Name, c.What, c.Got)
			}
		}
		if s.RequestsCount == 0 {
			t.Errorf("scene %d (%s) sent no request", s.N, s.Name)
		}
		if s.Misrouted != 0 {
			t.Errorf("scene %d (%s): %d misrouted requests accepted; want 0", s.N, s.Name, s.Misrouted)
		}
		byName[s.Name] = s
	}
	scene := func(name string) *SceneResult {
		s := byName[name]
		if s == nil {
			t.Fatalf("no scene %q", name)
		}
		return s
	}
	measured := func(s *SceneResult, k string) float64 {
		t.Helper()
		v, ok := s.Measured[k]
		if !ok {
			t.Fatalf("scene %s: no measurement %q", s.Name, k)
		}
		return v
	}
	within := func(s *SceneResult, what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("scene %s: %s = %.4f; want %.4f ± %.4f", s.Name, what, got, want, tol)
		}
	}

	s := scene("baseline")
	if s.ErrorsCount != 0 {
		t.Errorf("baseline: %d errors; want 0", s.ErrorsCount)
	}
	// The scene's own tolerance (the check it passed): on a loaded machine
	// the second of baseline may hold only a few hundred requests.
	var accepted int
	for _, c := range s.Cells {
		accepted += int(c.Accepted)
	}
	tol := tolerance(accepted, 1.0/9, cellSpread)
	within(s, "min cell share", measured(s, "min_cell_share_ratio"), 1.0/9, tol)
	within(s, "max cell share", measured(s, "max_cell_share_ratio"), 1.0/9, tol)

	s = scene("cell-failure")
	if measured(s, "breaker_opened_flag") != 1 || measured(s, "affected_outside_count") != 0 {
		t.Errorf("cell-failure: breaker opened %v, tenants affected outside the cell %v; want 1, 0",
			s.Measured["breaker_opened_flag"], s.Measured["affected_outside_count"])
	}
	within(s, "tenants affected", s.AffectedShare, 1.0/9, 0.05)
	for _, c := range s.Cells {
		if c.ID != failingCell && (c.Failed != 0 || c.Skipped != 0) {
			t.Errorf("cell-failure: healthy cell %s failed %d, skipped %d; want 0", c.ID, c.Failed, c.Skipped)
		}
	}
	oneCell := s.AffectedShare

	s = scene("shuffle-shard")
	if s.AffectedShare > 0.005 || measured(s, "failovers_count") == 0 || measured(s, "retries_count") > measured(s, "budget_bound_count") {
		t.Errorf("shuffle-shard: affected %.4f, failovers %v, retries %v (bound %v); want ≤ 0.005, > 0, within the bound",
			s.AffectedShare, s.Measured["failovers_count"], s.Measured["retries_count"], s.Measured["budget_bound_count"])
	}

	s = scene("poison-tenant")
	if measured(s, "crashed_cells_count") != 2 || measured(s, "affected_outside_count") != 0 {
		t.Errorf("poison-tenant: %v cells crashed, %v tenants affected outside the shard; want 2, 0",
			s.Measured["crashed_cells_count"], s.Measured["affected_outside_count"])
	}
	within(s, "tenants losing their shard", s.AffectedShare, 1.0/27, 0.025)
	if s.AffectedShare >= oneCell/2 {
		t.Errorf("poison-tenant: %.4f of tenants affected; want well under the %.4f of one cell at shard size 1", s.AffectedShare, oneCell)
	}

	s = scene("zone-drain")
	if s.ErrorsCount != 0 || measured(s, "final_zone_requests_count") != 0 {
		t.Errorf("zone-drain: %d errors, %v requests to the drained zone on the last map; want 0, 0", s.ErrorsCount, s.Measured["final_zone_requests_count"])
	}
	within(s, "the zone's first share", measured(s, "zone_share_step0_ratio"), 1.0/3, 0.08)
	for i, k := range []string{"zone_share_step1_ratio", "zone_share_step2_ratio", "zone_share_step3_ratio"} {
		prev := []string{"zone_share_step0_ratio", "zone_share_step1_ratio", "zone_share_step2_ratio"}[i]
		if measured(s, k) > measured(s, prev)+0.02 {
			t.Errorf("zone-drain: share %s = %v after %s = %v; want falling", k, s.Measured[k], prev, s.Measured[prev])
		}
	}

	s = scene("migration")
	if measured(s, "refused_count") == 0 || measured(s, "refused_outside_freeze_count") != 0 || measured(s, "lost_count") != 0 ||
		measured(s, "write_errors_count") != 0 || s.ErrorsCount != 0 || measured(s, "acked_at_from_count") == 0 || measured(s, "acked_at_to_count") == 0 {
		t.Errorf("migration: %v", s.Measured)
	}

	s = scene("control-plane-down")
	if s.ErrorsCount != 0 || measured(s, "ok_while_down_count") == 0 || measured(s, "while_down_version") != measured(s, "before_version") ||
		measured(s, "source_errors_while_down_count") == 0 || measured(s, "picked_up_flag") != 1 || measured(s, "next_version") <= measured(s, "before_version") {
		t.Errorf("control-plane-down: %d errors, %v", s.ErrorsCount, s.Measured)
	}

	s = scene("wave-deploy")
	if measured(s, "gate_held_flag") != 1 || measured(s, "wave2_failed_count") != 0 || measured(s, "affected_outside_count") != 0 ||
		measured(s, "wave1_failed_count") == 0 || measured(s, "wave1_error_ratio") < 0.1 || measured(s, "rest_error_ratio") != 0 {
		t.Errorf("wave-deploy: %v", s.Measured)
	}
	if s.AffectedShare == 0 || s.AffectedShare > measured(s, "wave1_shard_share_ratio") {
		t.Errorf("wave-deploy: %.4f of tenants affected; want some, at most the %.4f with a wave 1 cell",
			s.AffectedShare, measured(s, "wave1_shard_share_ratio"))
	}
	for _, c := range s.Cells {
		if waveOf(c.ID) != "1" && c.Failed != 0 {
			t.Errorf("wave-deploy: wave 2 cell %s failed %d attempts; want 0", c.ID, c.Failed)
		}
	}

	// Failover traffic shows on the cells that took it: in scene 3, the
	// requests c5's open breaker turned away are served by other cells.
	s = scene("shuffle-shard")
	var skipped, served uint64
	for _, c := range s.Cells {
		skipped += c.Skipped
		if c.ID != failingCell {
			served += c.FailoverServed
		}
	}
	if skipped == 0 || served < skipped/2 {
		t.Errorf("shuffle-shard: %d failover requests served by other cells for %d skipped at %s; want about as many", served, skipped, failingCell)
	}

	for _, s := range rep.Scenes {
		se := s.Series
		if se.SlotWidthMs <= 0 || se.SlotsCount == 0 || len(se.CallersOKCount) != se.SlotsCount || len(se.Cells) != numCells {
			t.Errorf("scene %s: series slot width %v ms, %d slots, %d callers' slots, %d cells",
				s.Name, se.SlotWidthMs, se.SlotsCount, len(se.CallersOKCount), len(se.Cells))
			continue
		}
		var ended uint64
		for i := range se.SlotsCount {
			ended += se.CallersOKCount[i] + se.CallersErrorCount[i]
		}
		if ended != s.RequestsCount {
			t.Errorf("scene %s: the series count %d requests; the totals %d", s.Name, ended, s.RequestsCount)
		}
		if s.CarriedOver == "" {
			t.Errorf("scene %s does not state what it carried over", s.Name)
		}
	}
	// The outage is shaded and the map versions are shown: the span, and
	// the version before and after it in the series.
	s = scene("control-plane-down")
	if !slices.ContainsFunc(s.Spans, func(sp Span) bool { return sp.Kind == "control-plane-down" && sp.ToMs > sp.FromMs }) {
		t.Errorf("control-plane-down: spans %v; want the outage", s.Spans)
	}
	// (0 in the slots before the scene's new client had its first map.)
	v := slices.DeleteFunc(slices.Clone(s.Series.MapVersion), func(x uint64) bool { return x == 0 })
	if len(v) == 0 || v[0] != uint64(measured(s, "before_version")) || v[len(v)-1] != uint64(measured(s, "next_version")) {
		t.Errorf("control-plane-down: map versions per slot %v; want v%v to v%v", v, s.Measured["before_version"], s.Measured["next_version"])
	}
	if !strings.Contains(scene("control-plane-down").CarriedOver, "weight 0") {
		t.Errorf("control-plane-down starts from %q; want the drained zone stated", scene("control-plane-down").CarriedOver)
	}

	if len(rep.Blast) != 3 {
		t.Errorf("%d blast-radius rows; want 3", len(rep.Blast))
	}

	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatalf("no HTML report: %v", err)
	}
	checkHTML(t, page, len(scenes)*(2+numZones)+2)
	if want := fmt.Sprintf("%d of %[1]d scenes met their expectation", len(scenes)); !strings.Contains(out.String(), want) {
		t.Errorf("the text output lacks its summary line")
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"extra"},
		{"-rate", "0"},
		{"-workers", "0"},
		{"-nosuchflag"},
	} {
		if err := run(args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) = nil; want an error", args)
		}
	}
}

// TestReportErr checks that a missed expectation fails the run and names
// the scene and the check.
func TestReportErr(t *testing.T) {
	rep := &Report{Scenes: []*SceneResult{
		{N: 1, Name: "baseline", Checks: []Check{{What: "no errors", OK: true, Got: "0"}}},
		{N: 4, Name: "poison-tenant", Checks: []Check{{What: "tenants losing their whole shard ≈ 1/27", OK: false, Got: "9.0%"}}},
	}}
	for _, s := range rep.Scenes {
		s.verdict()
	}
	err := rep.err()
	if err == nil {
		t.Fatal("err() = nil; want the failed scene named")
	}
	for _, want := range []string{"scene 4 (poison-tenant)", "1/27", "9.0%"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err() = %q; want it to contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "baseline") {
		t.Errorf("err() = %q names a scene that passed", err)
	}
	empty := &SceneResult{}
	if empty.verdict(); empty.OK {
		t.Error("a scene without checks is OK; want not")
	}
}

func TestShares(t *testing.T) {
	if got := crossZonePairs(); got != 27 {
		t.Errorf("crossZonePairs() = %v; want 27", got)
	}
	if got := binomial(9, 2); got != 36 {
		t.Errorf("binomial(9, 2) = %v; want 36", got)
	}
}
