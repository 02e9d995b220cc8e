// Cellservice is one cell of a cell-based service, in the few lines the cell
// side takes: a source.Follower keeps the cell's map current (from the
// control plane, starting from its last-known-good file), a cell.Guard
// checks every request against it and counts the requests judged on each
// version, and source.ConfirmHandler tells the control plane which version
// the cell has confirmed, so that a migration advances only when no request
// judged on an older map is still running.
//
//	go run ./examples/cellservice -cell c1 -map http://control-plane/map -addr :8080
package main
