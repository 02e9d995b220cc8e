// Package cellprom exports a cell.Client's metrics to Prometheus: a
// prometheus.Collector that reads the client's Stats at scrape time, in the
// manner of collectors.NewDBStatsCollector, plus histograms and counters
// fed by the client's Observer. It registers on the caller's Registerer
// only, never on the default one.
//
//	m, err := cellprom.New(cellprom.Config{Label: "wave"})
//	cfg.Observer = m.Observer(cfg.Observer) // keeps the caller's hooks
//	client, err := cell.NewClient(cfg)
//	err = m.Register(reg, client)
//
// # Series
//
// Labels are of low cardinality only: cell, zone, the configured cell
// label (Config.Label), class, outcome, reason, health. The tenant key is
// never a label.
//
// Read from Stats at scrape time:
//
//	cellkit_map_ready                      gauge    1 once a map is in force
//	cellkit_map_version                    gauge    version of the map in force
//	cellkit_map_age_seconds                gauge    s since the map in force was accepted
//	cellkit_map_updates_total              counter  maps accepted
//	cellkit_map_rejected_total             counter  maps refused
//	cellkit_map_source_errors_total        counter  errors of the source
//	cellkit_retry_budget_tokens            gauge    extra attempts allowed now
//	cellkit_retries_total                  counter  extra attempts made
//	cellkit_retry_budget_refused_total     counter  extra attempts refused
//	cellkit_breakers_panicking             gauge    1 in the breakers' panic mode
//	cellkit_cells{health}                  gauge    cells not disabled: healthy, unhealthy
//	cellkit_cell_attempts_total{cell,zone[,label]}        counter
//	cellkit_cell_failures_total{cell,zone[,label]}        counter
//	cellkit_cell_in_flight{cell,zone[,label]}             gauge
//	cellkit_cell_rejections_total{cell,zone[,label],reason} counter  breaker, bulkhead, disabled, budget
//	cellkit_cell_breaker_state{cell,zone[,label]}         gauge    0 closed, 1 half-open, 2 open
//	cellkit_cell_healthy{cell,zone[,label]}               gauge    1 not disabled and closed
//	cellkit_attempt_duration_seconds{cell,zone[,label],outcome} histogram  s; outcome success or failure
//
// Fed by the Observer:
//
//	cellkit_call_duration_seconds{class,outcome} histogram  s; a Do from start to return
//	cellkit_failovers_total{cell,class}    counter  by the cell failed over from
//	cellkit_hedges_total{cell,class}       counter  by the slow attempt's cell
//	cellkit_redirects_total{cell,class}    counter  by the cell that replied "moved"
//
// The attempt histogram is cell.Latency exported at DefaultBuckets, which
// are bounds of its buckets, so its counts are exact. Class is write, read
// or stateless; a call's outcome is one of cell.CallOutcome's names.
package cellprom
