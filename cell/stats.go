package cell

import (
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/placement"
)

// Stats is a snapshot of a client, for metrics and health checks.
type Stats struct {
	// Ready says a map is in force; the map fields are zero until then.
	Ready bool
	// Version is the version of the map in force.
	Version uint64
	// MapAge is how long the map in force has been: the time since it was
	// accepted (from the source, or from the last-known-good file). With
	// the control plane down it keeps growing.
	MapAge time.Duration
	// MapOrigin is "source" or "last-good".
	MapOrigin string

	// Updates counts the maps accepted, Rejected the maps refused (older,
	// or another document under the version in force), SourceErrors the
	// errors reported by the source (and the last-known-good file): the
	// counts of the client's Follower, shared with every reader of it.
	Updates, Rejected, SourceErrors uint64
	// LastError is the last refusal or source error, at LastErrorAt; nil if
	// none ever happened.
	LastError   error
	LastErrorAt time.Time
	// SaveError is the error of the last save of the last-known-good file,
	// nil when it succeeded.
	SaveError error

	// BudgetTokens is the number of extra attempts the retry budget would
	// allow now; Retries counts the extra attempts made, BudgetRefused
	// those it refused.
	BudgetTokens  float64
	Retries       uint64
	BudgetRefused uint64

	// Panicking says the breakers panic (see breaker.Config.PanicThreshold).
	Panicking bool

	// Healthy counts the cells of the map in force that are not disabled
	// and whose breaker is closed; Unhealthy those not disabled whose
	// breaker is open or half-open (forced open included). Disabled cells
	// are out of service by the map's will and count in neither.
	Healthy, Unhealthy int

	// Cells describes the cells of the map in force, in ID order.
	Cells []CellStats
}

// CellStats describes one cell as this client sees it.
type CellStats struct {
	Cell string
	// Zone, State and Labels are the cell's in the map in force. Labels is
	// the snapshot's own copy.
	Zone   string
	State  placement.State
	Labels map[string]string
	// Attempts counts the calls of fn made at the cell; Failures those
	// whose outcome was a Failure. Both count since the cell entered the
	// client's map.
	Attempts, Failures uint64
	// InFlight is the number of calls of fn at the cell that have not
	// returned.
	InFlight int64
	// Rejected counts the calls that skipped the cell, by Rejection.
	Rejected [numRejections]uint64
	// Breaker is the cell's breaker state; Available what its breaker's
	// Available reports.
	Breaker   breaker.State
	Available bool
	// Healthy says the cell is not disabled and its breaker is closed (see
	// Stats.Healthy).
	Healthy bool
	// Success and Failure are the latencies of the attempts judged a
	// Success and a Failure (see "Outcomes" in the package documentation);
	// Ignored attempts are in neither. Success.Count()+Failure.Count() is
	// the number of attempts judged, Failure.Count() of them failed.
	Success, Failure Latency
}

// Judged is the number of the cell's attempts that returned and were
// judged a Success or a Failure.
func (cs *CellStats) Judged() uint64 { return cs.Success.Count() + cs.Failure.Count() }

// Stats returns a snapshot of the client. For a Client not made by
// NewClient it is the zero Stats with LastError ErrNotReady.
func (c *Client) Stats() Stats {
	if !c.made() {
		return Stats{LastError: ErrNotReady}
	}
	now := c.now()
	s := Stats{
		BudgetTokens:  c.budget.tokens(now),
		Retries:       c.budget.total.Load(),
		BudgetRefused: c.budget.refused.Load(),
		Panicking:     c.breakers.Panicking(),
	}
	src := c.follower.Status()
	s.Updates, s.Rejected, s.SourceErrors = src.Updates, src.Refused, src.SourceErrors
	s.LastError, s.LastErrorAt, s.SaveError = src.LastError, src.LastErrorAt, src.SaveError
	t := c.table.Load()
	if t == nil {
		return s
	}
	s.Ready, s.Version, s.MapAge, s.MapOrigin = true, t.version, now-t.acceptedAt, src.Origin
	s.Cells = make([]CellStats, len(t.cells))
	mc := t.m.Cells() // copies, in the same ID order as t.cells
	for i, cr := range t.cells {
		st := cr.st
		// finished before started, so that InFlight is never negative.
		finished := st.finished.Load()
		cs := &s.Cells[i]
		*cs = CellStats{
			Cell:      cr.id,
			Zone:      cr.zone,
			State:     cr.state,
			Attempts:  st.started.Load(),
			Failures:  st.failures.Load(),
			Breaker:   c.breakers.State(cr.id),
			Available: c.breakers.Available(cr.id),
		}
		cs.InFlight = int64(cs.Attempts - finished)
		for r := range cs.Rejected {
			cs.Rejected[r] = st.rejected[r].Load()
		}
		if i < len(mc) && mc[i].ID == cr.id {
			cs.Labels = mc[i].Labels
		}
		st.lat.success.load(&cs.Success)
		st.lat.failure.load(&cs.Failure)
		if cr.state != placement.Disabled {
			cs.Healthy = cs.Breaker == breaker.Closed
			if cs.Healthy {
				s.Healthy++
			} else {
				s.Unhealthy++
			}
		}
	}
	return s
}
