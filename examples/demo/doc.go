// Command demo shows, on one machine with nothing but Go, what cell-aware
// routing buys. It starts a control plane that serves the placement map over
// HTTP, nine cells in three zones (HTTP servers behind cell.Guard) and a
// service whose requests for 10,000 tenants go through cell.Client's
// Transport, all on loopback, then plays eight scenes:
//
//  1. baseline;
//  2. one cell fails: its breaker opens and only its tenants (≈ 1/9) see
//     errors;
//  3. the same failure at shard size 2 with stateless calls: ≈ no tenant
//     sees an error, for a few failovers within the retry budget;
//  4. a poison tenant crashes both cells of its shard: only the tenants with
//     that same shard lose every cell, measured beside the combinatorics;
//  5. a zone drained by weight steps: its traffic leaves with no errors;
//  6. a tenant migrated (copying, frozen, flipped, done) while it writes:
//     writes are refused only while frozen, none is lost or misrouted;
//  7. the control plane stopped: routing goes on on the last map; restarted:
//     the next version reaches the clients;
//  8. a bad build (one request in five fails, every one 20 ms slower)
//     reaches wave 1 (c1, c5); after a bake time (and at least 150 of wave
//     1's attempts) a gate judges wave 1 against the rest on the client's
//     SLIs by label (cell.Stats.Since, then Split on
//     the "wave" label), holds wave 2 and rolls wave 1 back: only tenants
//     with a wave 1 cell see errors.
//  9. overload (overload.go, on a celltest fleet of its own): one tenant
//     floods its cell at 10× its share, with the Guard's fairness and
//     without: with it the tenant is throttled and its neighbours keep
//     their success and latency.
//
// Each scene starts a fresh client and clears the cells' faults; the map
// carries over (scene 3's shard size 2, scene 5's drained zone until scene 7
// restores it), and each scene states what it starts from.
// Each scene prints a headline and a table, and checks its expectation. The
// command exits 0 when every scene met its expectation and 1 otherwise,
// naming the scenes that did not.
//
// Usage:
//
//	go run ./examples/demo [-quick] [-json report.json] [-html report.html] [-v]
//
// -quick plays the scenes in under 15 s instead of under 60 s; -v logs the
// clients' map and breaker events to stderr.
//
// -json writes the measurements, the verdicts and the series behind the
// charts ("-" for stdout), in the layout of report.schema.json: a
// schema_version, the unit in every numeric key (_count, _ratio, _ms, _s,
// _rps, _flag, _version), empty arrays rather than null, and per scene the
// per-slot series with their slot_width_ms.
//
// -html writes a self-contained page (inline SVG and CSS, no script, no
// external asset) that reads on a phone (390 px) and on a desktop: per
// scene a timeline (events in their own numbered lane, the client's map
// version, the control-plane outage or bake time shaded, what the callers
// got in requests per second with the requests in flight, and their p50 and
// p99 latency) and a chart per zone with each cell's attempts per second,
// failover traffic in its own colour and the breaker's state; a legend with
// one meaning per colour and a glossary (what "accepted" counts). Requests
// count in the slot in which they ended, so a stall reads as latency and a
// later burst, not as missing traffic.
package main
