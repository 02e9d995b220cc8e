package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// A Report is the demo's structured output (-json).
type Report struct {
	OK      bool           `json:"ok"`
	Quick   bool           `json:"quick"`
	Seconds float64        `json:"seconds"`
	Tenants int            `json:"tenants"`
	Cells   int            `json:"cells"`
	Zones   int            `json:"zones"`
	Scenes  []*SceneResult `json:"scenes"`
	Failed  []string       `json:"failed,omitempty"` // the names of the scenes that missed their expectation
	Blast   []BlastRadius  `json:"blastRadius"`
}

// A SceneResult is one scene's measurements and verdict.
type SceneResult struct {
	N        int     `json:"n"`
	Name     string  `json:"name"`
	Title    string  `json:"title"`
	Headline string  `json:"headline"`
	OK       bool    `json:"ok"`
	Seconds  float64 `json:"seconds"`

	// What the callers got.
	Requests  uint64  `json:"requests"`
	Errors    uint64  `json:"errors"`
	ErrorRate float64 `json:"errorRate"`
	// Tenants judged (seen from the fault on, or over the whole scene) and
	// those that got at least one error.
	TenantsSeen     int     `json:"tenantsSeen"`
	TenantsAffected int     `json:"tenantsAffected"`
	AffectedShare   float64 `json:"affectedShare"`
	// Requests a cell accepted for a key it did not own in any map the
	// control plane had it on.
	Misrouted uint64 `json:"misroutedAccepted"`

	// The client's view.
	Retries       uint64 `json:"retries"`
	BudgetRefused uint64 `json:"budgetRefused"`
	Failovers     uint64 `json:"failovers"`
	Redirects     uint64 `json:"redirects"`
	SourceErrors  uint64 `json:"sourceErrors"`
	MapVersion    uint64 `json:"mapVersion"`

	Cells    []CellResult       `json:"cells"`
	Measured map[string]float64 `json:"measured"`
	Checks   []Check            `json:"checks"`
	Marks    []Mark             `json:"marks"`

	rec *recorder
}

// A CellResult is one cell's line of a scene's table.
type CellResult struct {
	ID       string `json:"id"`
	Zone     string `json:"zone"`
	Calls    uint64 `json:"calls"`    // attempts the client made at the cell
	Failed   uint64 `json:"failed"`   // of them, failures
	Skipped  uint64 `json:"skipped"`  // calls that skipped the cell (breaker open)
	Accepted uint64 `json:"accepted"` // requests the cell's guard let through
	Breaker  string `json:"breaker"`  // the breaker's state at the scene's end
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
	Measured float64 `json:"measured"`
	Expected float64 `json:"expected"`
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
func (r *SceneResult) print(w io.Writer) {
	mark := "ok  "
	if !r.OK {
		mark = "FAIL"
	}
	fmt.Fprintf(w, "\n%d/%d %s  [%s, %.1fs]\n", r.N, numScenes, r.Title, strings.TrimSpace(mark), r.Seconds)
	fmt.Fprintf(w, "    %s\n", r.Headline)
	fmt.Fprintf(w, "    %-4s %-4s %7s %7s %7s %8s  %s\n", "cell", "zone", "calls", "failed", "skipped", "accepted", "breaker")
	for _, c := range r.Cells {
		fmt.Fprintf(w, "    %-4s %-4s %7d %7d %7d %8d  %s\n", c.ID, c.Zone, c.Calls, c.Failed, c.Skipped, c.Accepted, c.Breaker)
	}
	fmt.Fprintf(w, "    requests %d, errors %d (%s), tenants affected %d of %d (%s), misrouted accepted %d\n",
		r.Requests, r.Errors, pct(r.ErrorRate), r.TenantsAffected, r.TenantsSeen, pct(r.AffectedShare), r.Misrouted)
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
