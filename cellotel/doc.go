// Package cellotel instruments a cell.Client with OpenTelemetry: metrics
// from the client's Observer and Stats, and, optionally, a client span per
// attempt. It takes a MeterProvider (the global one by default) and a
// TracerProvider (none by default); the SDK is the application's choice.
//
//	m, err := cellotel.New(cellotel.Config{Label: "wave"})
//	cfg.Observer = m.Observer(cfg.Observer) // keeps the caller's hooks
//	client, err := cell.NewClient(cfg)
//	err = m.Register(client) // the observable gauges read client.Stats
//	defer m.Close()
//	err = client.Do(ctx, key, cell.Stateless, m.Trace(fn)) // spans per attempt
//
// # Instruments
//
// Attributes are of low cardinality only: cellkit.cell.id,
// cellkit.cell.zone, cellkit.cell.<Label> (the configured cell label),
// cellkit.class (write, read, stateless), cellkit.outcome, cellkit.reason
// (breaker, bulkhead, disabled, budget), cellkit.health. The tenant key is
// never an attribute.
//
//	cellkit.call.duration        histogram  s            class, outcome (a cell.CallOutcome: ok, failed, unavailable, refused, canceled, invalid, not_ready)
//	cellkit.attempt.duration     histogram  s            cell, zone, label, class, outcome (success, failure, ignored)
//	cellkit.failovers            counter    {failover}   cell (the cell left), zone, label, class
//	cellkit.hedges               counter    {hedge}      cell (the slow attempt's), zone, label, class
//	cellkit.redirects            counter    {redirect}   cell (that replied moved), zone, label, class
//	cellkit.rejections           counter    {rejection}  cell, zone, label, class, reason
//	cellkit.breaker.state        gauge      {state}      cell, zone, label; 0 closed, 1 half-open, 2 open
//	cellkit.cell.in_flight       gauge      {attempt}    cell, zone, label
//	cellkit.cells                gauge      {cell}       health (healthy: not disabled, breaker closed; unhealthy)
//	cellkit.map.version          gauge      {version}
//	cellkit.map.age              gauge      s
//	cellkit.retry_budget.tokens  gauge      {token}
//
// The histograms advise DefaultBuckets (seconds). The gauges are read
// from Stats at collection time, from Register until Close.
//
// # Spans
//
// Trace wraps a Do's fn so that every attempt (the first, each failover,
// hedge and redirect) runs in a client span "cellkit.attempt <class>", a
// child of the caller's span, as the HTTP semantic conventions ask of
// retries; it carries cellkit.cell.id, cellkit.cell.zone, cellkit.class,
// cellkit.attempt and cellkit.map.version, and the attempt's error. With
// the Transport, put an instrumented RoundTripper (otelhttp) in as the
// Transport's base instead: each attempt is a RoundTrip of it.
package cellotel
