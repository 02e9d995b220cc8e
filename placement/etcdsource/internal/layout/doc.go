// Package layout holds the pure rules of etcdsource's key layout: the
// manifest of a chunked document, its ids, the version key and the sentinel
// every breach of them matches. It imports only the standard library, so
// that its fuzz target runs in a small binary: go test -fuzz instruments
// every package the test links for coverage, and the coverage counters of
// an etcd client cost more per execution than the parse they guard.
// etcdsource re-exports ErrLayout; its package documentation specifies the
// layout.
package layout
