// Command httpservice is the smallest cell-aware HTTP service: two cells,
// each an HTTP server behind a cell.Guard, and a client service that calls
// them through cell.Client's Transport, which sends each request to the cell
// of its tenant. Everything runs in this process, on loopback.
package main
