package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// SchemaVersion is the version of the JSON report's layout
// (report.schema.json); it changes whenever a key does.
const SchemaVersion = 2

// A Report is the demo's structured output (-json). Every numeric key names
// its unit (_count, _ratio, _ms, _s, _rps, _flag for 0 or 1, _version for a
// map version); every list is an array, empty rather than null.
type Report struct {
	SchemaVersion int            `json:"schema_version"`
	OK            bool           `json:"ok"`
	Quick         bool           `json:"quick"`
	DurationS     float64        `json:"duration_s"`
	TenantsCount  int            `json:"tenants_count"`
	CellsCount    int            `json:"cells_count"`
	ZonesCount    int            `json:"zones_count"`
	Glossary      []Term         `json:"glossary"`
	Scenes        []*SceneResult `json:"scenes"`
	Failed        []string       `json:"failed_scenes"` // the scenes that missed their expectation
	Blast         []BlastRadius  `json:"blast_radius"`
}

// A Term is a word of the report and what it means there.
type Term struct {
	Term    string `json:"term"`
	Meaning string `json:"meaning"`
}

// glossary defines the words the tables and charts use, once for the JSON
// and the HTML.
var glossary = []Term{
	{"calls", "attempts the client made at the cell (a request that fails over makes one at each cell it tries)"},
	{"failed", "attempts at the cell that failed (an error or a 5xx reply judged against the cell)"},
	{"skipped", "requests that passed the cell over without trying it, because its breaker was open"},
	{"failover served", "successful attempts at the cell for requests that had skipped another cell (its breaker open) or failed there first, or that followed a moved reply: traffic another cell's trouble sent here"},
	{"accepted", "requests the cell's guard let through to the service, counted at the cell: the cell owned the key on the map it held. Refused (moved, frozen) and failed-cell requests are not accepted"},
	{"misrouted accepted", "accepted requests for a key the cell did not own on any map the control plane had it on; the demo expects 0"},
	{"tenants affected", "tenants that got at least one error, among those that sent a request while the fault was in place"},
	{"rps", "requests (or attempts) per second, per slot of the chart: the slot's count divided by the slot width"},
	{"slot", "a chart's time step; a request counts in the slot in which it ended, so a stall shows as latency and a later burst, not as missing traffic"},
}

// A SceneResult is one scene's measurements and verdict.
type SceneResult struct {
	N        int    `json:"number"`
	Name     string `json:"name"`
	Title    string `json:"title"`
	Headline string `json:"headline"`
	// CarriedOver states what the scene starts from that earlier scenes
	// left: the map's shard size, weights, labels.
	CarriedOver string  `json:"carried_over"`
	OK          bool    `json:"ok"`
	DurationS   float64 `json:"duration_s"`

	// What the callers got.
	RequestsCount uint64  `json:"requests_count"`
	ErrorsCount   uint64  `json:"errors_count"`
	ErrorRatio    float64 `json:"error_ratio"`
	// Tenants judged (seen from the fault on, or over the whole scene) and
	// those that got at least one error.
	TenantsSeen     int     `json:"tenants_seen_count"`
	TenantsAffected int     `json:"tenants_affected_count"`
	AffectedShare   float64 `json:"tenants_affected_ratio"`
	// Requests a cell accepted for a key it did not own in any map the
	// control plane had it on.
	Misrouted uint64 `json:"misrouted_accepted_count"`

	// The client's view.
	Retries       uint64 `json:"retries_count"`
	BudgetRefused uint64 `json:"budget_refused_count"`
	Failovers     uint64 `json:"failovers_count"`
	Redirects     uint64 `json:"redirects_count"`
	SourceErrors  uint64 `json:"source_errors_count"`
	MapVersion    uint64 `json:"map_version"`

	Cells    []CellResult       `json:"cells"`
	Measured map[string]float64 `json:"measured"` // keys end in their unit
	Checks   []Check            `json:"checks"`
	Marks    []Mark             `json:"marks"`
	Spans    []Span             `json:"spans"`
	Series   Series             `json:"series"`

	rec *recorder
}

// A CellResult is one cell's line of a scene's table (see glossary).
type CellResult struct {
	ID             string  `json:"id"`
	Zone           string  `json:"zone"`
	Calls          uint64  `json:"calls_count"`
	Failed         uint64  `json:"failed_count"`
	Skipped        uint64  `json:"skipped_count"`
	FailoverServed uint64  `json:"failover_served_count"`
	Accepted       uint64  `json:"accepted_count"`
	P99Ms          float64 `json:"p99_ms"`  // of its attempts over the scene
	Breaker        string  `json:"breaker"` // the breaker's state at the scene's end
	// Labels are the cell's labels in the client's map at the scene's end
	// (the deploy scene's waves).
	Labels map[string]string `json:"labels"`
}

// A Check is one expectation of a scene and what was measured.
type Check struct {
	What string `json:"what"`
	OK   bool   `json:"ok"`
	Got  string `json:"got"`
}

// A BlastRadius compares the share of tenants a fault affected with what
// the combinatorics predict.
type BlastRadius struct {
	Case     string  `json:"case"`
	Measured float64 `json:"measured_ratio"`
	Expected float64 `json:"expected_ratio"`
	Law      string  `json:"law"`
}

func (r *SceneResult) check(ok bool, what, format string, args ...any) {
	r.Checks = append(r.Checks, Check{What: what, OK: ok, Got: fmt.Sprintf(format, args...)})
}

func (r *SceneResult) verdict() {
	r.OK = len(r.Checks) > 0
	for _, c := range r.Checks {
		r.OK = r.OK && c.OK
	}
}

func (r *SceneResult) setTenants(c tenantCount) {
	r.TenantsSeen, r.TenantsAffected = c.seen, c.affected
	if c.seen > 0 {
		r.AffectedShare = float64(c.affected) / float64(c.seen)
	}
}

// failedChecks names the checks a scene missed.
func (r *SceneResult) failedChecks() string {
	var s []string
	for _, c := range r.Checks {
		if !c.OK {
			s = append(s, c.What+" (got "+c.Got+")")
		}
	}
	return strings.Join(s, "; ")
}

// print writes the scene's headline, table, totals and checks.
func (r *SceneResult) print(w io.Writer, total int) {
	mark := "ok  "
	if !r.OK {
		mark = "FAIL"
	}
	fmt.Fprintf(w, "\n%d/%d %s  [%s, %.1fs]\n", r.N, total, r.Title, strings.TrimSpace(mark), r.DurationS)
	fmt.Fprintf(w, "    %s\n", r.Headline)
	fmt.Fprintf(w, "    %-4s %-4s %7s %7s %7s %8s %8s %7s  %s\n", "cell", "zone", "calls", "failed", "skipped", "failover", "accepted", "p99 ms", "breaker")
	for _, c := range r.Cells {
		fmt.Fprintf(w, "    %-4s %-4s %7d %7d %7d %8d %8d %7.1f  %s\n", c.ID, c.Zone, c.Calls, c.Failed, c.Skipped, c.FailoverServed, c.Accepted, c.P99Ms, c.Breaker)
	}
	fmt.Fprintf(w, "    requests %d, errors %d (%s), tenants affected %d of %d (%s), misrouted accepted %d\n",
		r.RequestsCount, r.ErrorsCount, pct(r.ErrorRatio), r.TenantsAffected, r.TenantsSeen, pct(r.AffectedShare), r.Misrouted)
	for _, c := range r.Checks {
		m := "✓"
		if !c.OK {
			m = "✗"
		}
		fmt.Fprintf(w, "    %s %s: %s\n", m, c.What, c.Got)
	}
}

func printBlast(w io.Writer, bs []BlastRadius) {
	fmt.Fprintf(w, "\nBlast radius: share of tenants that got errors\n")
	for _, b := range bs {
		bar := strings.Repeat("█", int(math.Round(b.Measured*200)))
		fmt.Fprintf(w, "    %-40s %6s  %-26s expected %s (%s)\n", b.Case, pct(b.Measured), bar, pct(b.Expected), b.Law)
	}
}

func pct(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f < 0.001:
		return fmt.Sprintf("%.2f%%", 100*f)
	}
	return fmt.Sprintf("%.1f%%", 100*f)
}

// tolerance is the allowed distance between a share measured on n samples
// and an expected p: four standard errors, plus spread, how far the true
// share of the map can sit from p (the hash spreads keys over buckets and
// buckets over cells, so a cell holds 1/9 only on average).
func tolerance(n int, p, spread float64) float64 {
	if n <= 0 {
		return 1
	}
	return spread + 4*math.Sqrt(p*(1-p)/float64(n))
}

// The spreads of this map's shares: its cells hold 10.1% to 12.0% of the
// tenants (1/9 = 11.1%), its shards of 2 hold 3.2% to 4.1% (1/27 = 3.7%).
const (
	cellSpread  = 0.012
	shardSpread = 0.006
)
