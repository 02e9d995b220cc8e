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
//     control-plane edits (Builder) and diffs; pure, with no I/O.
//   - placement/source: the map's I/O: static, file and HTTP sources and the
//     last-known-good file.
//   - breaker: per-cell circuit breakers, compatible with gobreaker v2's
//     errors, states and settings.
//   - cell: the cell-aware client, its HTTP transport and the cell-side
//     guard; cell/celltest: fake fleets for users' failure tests.
//
// Imports flow one way: ring and breaker know nothing of each other or of
// placement; placement builds on ring; the client builds on all of them. The
// table is in docs/DESIGN.md, and a test in this package enforces it.
package cellkit
