// Command migration is a control plane moving one tenant to another cell
// with placement.Builder, through the four phases of a cell migration:
// copying (the new cell receives a copy; the old one serves), frozen (no
// writes anywhere while the last changes are copied), flipped (the new cell
// is authoritative; reads fall back to the old one) and done (the tenant is
// pinned to its new cell). It prints where the tenant's reads and writes go
// in each version and that version's Diff, the dry run an operator reads
// before publishing.
//
// With -dir it also publishes each version as a file with source.SaveFile,
// the way a file-based control plane does: a client following it with
// source.NewFile(dir+"/map.json", …) picks up each version.
//
// Usage:
//
//	go run ./examples/migration [-tenant acme] [-to c3] [-dir /tmp/maps]
package main
