package cellprom

import (
	"github.com/cellkit/cellkit/cell"
	"github.com/prometheus/client_golang/prometheus"
)

// descs are the series read from Stats at scrape time.
type descs struct {
	ready, version, age, updates, rejected, sourceErrors *prometheus.Desc
	tokens, retries, budgetRefused, panicking, cells     *prometheus.Desc
	// per cell
	attempts, failures, inFlight, rejections, breaker, healthy, latency *prometheus.Desc
}

func newDescs(constLabels prometheus.Labels, cellLabels []string) descs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, constLabels)
	}
	with := func(extra ...string) []string { return append(append([]string(nil), cellLabels...), extra...) }
	return descs{
		ready:         d("cellkit_map_ready", "1 once a placement map is in force, else 0."),
		version:       d("cellkit_map_version", "Version of the placement map in force."),
		age:           d("cellkit_map_age_seconds", "Time since the map in force was accepted; keeps growing while the control plane is down."),
		updates:       d("cellkit_map_updates_total", "Maps the client's Follower accepted."),
		rejected:      d("cellkit_map_rejected_total", "Maps the client's Follower refused (older, or another document under the version in force)."),
		sourceErrors:  d("cellkit_map_source_errors_total", "Errors of the map's source and last-known-good file."),
		tokens:        d("cellkit_retry_budget_tokens", "Extra attempts the retry budget would allow now."),
		retries:       d("cellkit_retries_total", "Extra attempts (failovers, hedges) the retry budget allowed."),
		budgetRefused: d("cellkit_retry_budget_refused_total", "Extra attempts the retry budget refused."),
		panicking:     d("cellkit_breakers_panicking", "1 while too many breakers are open at once (the breakers' panic mode), else 0."),
		cells:         d("cellkit_cells", "Cells of the map in force that are not disabled, by health: healthy (breaker closed) or unhealthy.", "health"),
		attempts:      prometheus.NewDesc("cellkit_cell_attempts_total", "Calls of fn started at the cell.", with(), constLabels),
		failures:      prometheus.NewDesc("cellkit_cell_failures_total", "Attempts at the cell judged a Failure.", with(), constLabels),
		inFlight:      prometheus.NewDesc("cellkit_cell_in_flight", "Attempts at the cell that have not returned.", with(), constLabels),
		rejections:    prometheus.NewDesc("cellkit_cell_rejections_total", "Calls that skipped the cell without calling it, by reason (breaker, bulkhead, disabled, budget).", with("reason"), constLabels),
		breaker:       prometheus.NewDesc("cellkit_cell_breaker_state", "The cell's breaker state: 0 closed, 1 half-open, 2 open.", with(), constLabels),
		healthy:       prometheus.NewDesc("cellkit_cell_healthy", "1 if the cell is not disabled and its breaker is closed, else 0.", with(), constLabels),
		latency:       prometheus.NewDesc("cellkit_attempt_duration_seconds", "Latency of the attempts at the cell judged a success or a failure (outcome); ignored attempts are not counted.", with("outcome"), constLabels),
	}
}

func (d *descs) describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{d.ready, d.version, d.age, d.updates, d.rejected, d.sourceErrors,
		d.tokens, d.retries, d.budgetRefused, d.panicking, d.cells,
		d.attempts, d.failures, d.inFlight, d.rejections, d.breaker, d.healthy, d.latency} {
		ch <- x
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (d *descs) collect(ch chan<- prometheus.Metric, st *cell.Stats, label string) {
	gauge := func(desc *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, lv...)
	}
	counter := func(desc *prometheus.Desc, v uint64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), lv...)
	}
	gauge(d.ready, b2f(st.Ready))
	gauge(d.version, float64(st.Version))
	gauge(d.age, st.MapAge.Seconds())
	counter(d.updates, st.Updates)
	counter(d.rejected, st.Rejected)
	counter(d.sourceErrors, st.SourceErrors)
	gauge(d.tokens, st.BudgetTokens)
	counter(d.retries, st.Retries)
	counter(d.budgetRefused, st.BudgetRefused)
	gauge(d.panicking, b2f(st.Panicking))
	gauge(d.cells, float64(st.Healthy), "healthy")
	gauge(d.cells, float64(st.Unhealthy), "unhealthy")
	for i := range st.Cells {
		cs := &st.Cells[i]
		lv := []string{cs.Cell, cs.Zone}
		if label != "" {
			lv = append(lv, cs.Labels[label])
		}
		counter(d.attempts, cs.Attempts, lv...)
		counter(d.failures, cs.Failures, lv...)
		gauge(d.inFlight, float64(cs.InFlight), lv...)
		for r, n := range cs.Rejected {
			counter(d.rejections, n, with(lv, cell.Rejection(r).String())...)
		}
		gauge(d.breaker, float64(cs.Breaker), lv...)
		gauge(d.healthy, b2f(cs.Healthy), lv...)
		ch <- constHistogram(d.latency, &cs.Success, with(lv, "success"))
		ch <- constHistogram(d.latency, &cs.Failure, with(lv, "failure"))
	}
}

// with returns lv and v in a slice of their own.
func with(lv []string, v string) []string { return append(lv[:len(lv):len(lv)], v) }

// constHistogram exports l at the bounds of DefaultBuckets, which are
// bounds of cell.Latency's buckets too: the counts are exact.
func constHistogram(desc *prometheus.Desc, l *cell.Latency, lv []string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(DefaultBuckets))
	var cum uint64
	i := 0
	for _, le := range DefaultBuckets {
		for ; i < cell.LatencyBuckets && float64(cell.LatencyBound(i+1))/1e9 <= le; i++ {
			cum += l.Buckets[i]
		}
		buckets[le] = cum
	}
	return prometheus.MustNewConstHistogram(desc, l.Count(), l.Sum.Seconds(), buckets, lv...)
}
