package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
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
	within(s, "min cell share", measured(s, "min_cell_share_ratio"), 1.0/9, 0.06)
	within(s, "max cell share", measured(s, "max_cell_share_ratio"), 1.0/9, 0.06)

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

	if len(rep.Blast) != 3 {
		t.Errorf("%d blast-radius rows; want 3", len(rep.Blast))
	}

	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatalf("no HTML report: %v", err)
	}
	checkHTML(t, page, len(scenes)+1)
	if !strings.Contains(out.String(), "7 of 7 scenes met their expectation") {
		t.Errorf("the text output lacks its summary line")
	}
}

// checkHTML checks that page is well-formed, has want SVG charts, no script,
// no event handler attribute and no reference to anything outside itself.
func checkHTML(t *testing.T, page []byte, want int) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(page))
	dec.Strict = true
	svgs, depth := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the HTML report is not well-formed: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			depth++
			switch strings.ToLower(e.Name.Local) {
			case "svg":
				svgs++
			case "script", "iframe", "object", "embed", "link", "img":
				t.Errorf("the HTML report has a <%s> element", e.Name.Local)
			}
			for _, a := range e.Attr {
				name := strings.ToLower(a.Name.Local)
				if strings.HasPrefix(name, "on") || name == "src" || name == "href" {
					t.Errorf("the HTML report has attribute %s=%q on <%s>", a.Name.Local, a.Value, e.Name.Local)
				}
			}
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 {
		t.Errorf("the HTML report leaves %d elements open", depth)
	}
	if svgs != want {
		t.Errorf("the HTML report has %d SVG charts; want %d", svgs, want)
	}
	low := strings.ToLower(string(page))
	for _, s := range []string{"http://", "https://", "url(", "@import", "<script"} {
		if strings.Contains(low, s) {
			t.Errorf("the HTML report contains %q", s)
		}
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
