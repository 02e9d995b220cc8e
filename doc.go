// Package cellkit routes a service's own requests to the right cell of a
// cell-based architecture, with no central router in the request path.
//
// A control plane publishes a small, versioned placement map; every client
// holds it in memory, resolves a key to its cell in tens of nanoseconds, calls
// the cell through that cell's own circuit breaker, and keeps working on the
// last good map when the control plane is down. This root package holds no
// code; the work is done by its packages:
//
//   - ring: pure algorithms: the seeded key hash, weighted rendezvous,
//     shuffle shards, bucket tables and their minimal-move planner.
//   - placement: the placement map document, its validation, Locate,
//     control-plane edits, diffs and sources.
//   - breaker: per-cell circuit breakers on gobreaker v2.
//
// Imports flow one way: ring and breaker know nothing of each other or of
// placement; placement builds on ring; the client builds on all three. A test
// in this package enforces that table.
package cellkit
