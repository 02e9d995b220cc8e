package cell

import (
	"time"

	"github.com/cellkit/cellkit/placement"
)

// A Group sums the figures of a set of cells of a Stats: the SLIs of a
// wave, a ring, a zone or the canaries, to judge a deployment by (see
// Stats.GroupBy, ByLabel, ByState and Split). Over a window, group a
// difference of snapshots (see Stats.Since).
type Group struct {
	// Cells counts the cells in the group; Healthy and Unhealthy as in
	// Stats.
	Cells, Healthy, Unhealthy int
	// Attempts and Failures sum the cells' (see CellStats).
	Attempts, Failures uint64
	// Success and Failure sum the cells' latencies.
	Success, Failure Latency
}

func (g *Group) add(cs *CellStats) {
	g.Cells++
	if cs.Healthy {
		g.Healthy++
	} else if cs.State != placement.Disabled {
		g.Unhealthy++
	}
	g.Attempts += cs.Attempts
	g.Failures += cs.Failures
	g.Success.Add(&cs.Success)
	g.Failure.Add(&cs.Failure)
}

// Judged is the number of attempts judged a Success or a Failure.
func (g *Group) Judged() uint64 { return g.Success.Count() + g.Failure.Count() }

// ErrorRatio is the fraction of the judged attempts that failed, 0 when
// none was judged.
func (g *Group) ErrorRatio() float64 {
	n := g.Judged()
	if n == 0 {
		return 0
	}
	return float64(g.Failure.Count()) / float64(n)
}

// P99 is the 99th percentile of the successful attempts' latencies: the
// latency users who were served saw. Failures, often cut by a deadline,
// have their own distribution in Failure.
func (g *Group) P99() time.Duration { return g.Success.P99() }

// GroupBy sums the cells of s by the value key gives each; a cell for which
// key returns ok false is left out. A nil key groups nothing.
func (s *Stats) GroupBy(key func(cs *CellStats) (value string, ok bool)) map[string]Group {
	out := make(map[string]Group)
	if key == nil {
		return out
	}
	for i := range s.Cells {
		cs := &s.Cells[i]
		v, ok := key(cs)
		if !ok {
			continue
		}
		g := out[v]
		g.add(cs)
		out[v] = g
	}
	return out
}

// ByLabel sums the cells of s by the value of their label name ("wave",
// "ring", …); cells without the label are under "".
func (s *Stats) ByLabel(name string) map[string]Group {
	return s.GroupBy(func(cs *CellStats) (string, bool) { return cs.Labels[name], true })
}

// ByState sums the cells of s by their state in the map: "active",
// "canary", "draining", "disabled".
func (s *Stats) ByState() map[string]Group {
	return s.GroupBy(func(cs *CellStats) (string, bool) { return cs.State.String(), true })
}

// Split sums the cells of s for which in is true, and the rest apart: a
// wave against the rest of the fleet, the canaries against the active
// cells. A nil in matches no cell.
func (s *Stats) Split(in func(cs *CellStats) bool) (match, rest Group) {
	for i := range s.Cells {
		cs := &s.Cells[i]
		if in != nil && in(cs) {
			match.add(cs)
		} else {
			rest.add(cs)
		}
	}
	return match, rest
}

// Since returns s less an earlier snapshot prev of the same client: what
// happened between the two, to judge the last N seconds (take a snapshot
// every interval, keep the one from N seconds ago, and group
// s.Since(&old)). Counters (the cells' Attempts, Failures, Rejected and
// latencies; Updates, Rejected, SourceErrors, Retries, BudgetRefused) are
// differences; the rest (gauges, states, labels) is s's. A cell that was
// not in prev keeps its whole counts: its state is new. A counter that
// went backwards (prev is not an earlier snapshot) is zero. A nil prev is
// an empty one: s, counted from the start.
func (s *Stats) Since(prev *Stats) Stats {
	if prev == nil {
		prev = &Stats{}
	}
	d := *s
	d.Updates = sub(s.Updates, prev.Updates)
	d.Rejected = sub(s.Rejected, prev.Rejected)
	d.SourceErrors = sub(s.SourceErrors, prev.SourceErrors)
	d.Retries = sub(s.Retries, prev.Retries)
	d.BudgetRefused = sub(s.BudgetRefused, prev.BudgetRefused)
	d.Cells = make([]CellStats, len(s.Cells))
	j := 0
	for i := range s.Cells {
		c := &d.Cells[i]
		*c = s.Cells[i]
		// Both are in ID order: one merge walk.
		for j < len(prev.Cells) && prev.Cells[j].Cell < c.Cell {
			j++
		}
		if j == len(prev.Cells) || prev.Cells[j].Cell != c.Cell {
			continue
		}
		p := &prev.Cells[j]
		c.Attempts = sub(c.Attempts, p.Attempts)
		c.Failures = sub(c.Failures, p.Failures)
		for r := range c.Rejected {
			c.Rejected[r] = sub(c.Rejected[r], p.Rejected[r])
		}
		c.Success.Sub(&p.Success)
		c.Failure.Sub(&p.Failure)
	}
	return d
}

func sub(a, b uint64) uint64 { return a - min(a, b) }
