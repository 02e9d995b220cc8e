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
//  8. overload (overload.go, on a celltest fleet of its own): one tenant
//     floods its cell at 10× its share, with the Guard's fairness and
//     without: with it the tenant is throttled and its neighbours keep
//     their success and latency.
//
// Each scene prints a headline and a table, and checks its expectation. The
// command exits 0 when every scene met its expectation and 1 otherwise,
// naming the scenes that did not.
//
// Usage:
//
//	go run ./examples/demo [-quick] [-json report.json] [-html report.html] [-v]
//
// -quick plays the scenes in under 15 s instead of under 60 s; -json writes
// the measurements and verdicts ("-" for stdout); -html writes a page with a
// chart per scene and the blast-radius comparison, self-contained (inline
// SVG, no script, no external asset); -v logs the clients' map and breaker
// events to stderr.
package main
