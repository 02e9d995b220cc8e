// Package source is the I/O of cellkit's placement maps: the sources a
// client follows (NewStatic, NewFile, NewHTTP) and the last-known-good file
// it keeps (SaveFile, LoadFile), with the contract every source meets
// (Source, Refresher, SourceError). Package placement is the pure part: the
// document, Parse, Locate; this package does the reading, the polling and
// the clock. It does not publish maps (a control plane writes them with
// SaveFile or serves them over HTTP) nor decide what a client does with a
// report.
//
// # Sources
//
// A File polls a file, an HTTP polls a URL (with ETags); both implement
// Refresher, parse with the placement.Options of their config
// (limits, trusted keys), and deliver only maps newer than the last one
// delivered, or than FileConfig.After or HTTPConfig.After: a client that
// restarts from its last-known-good map of version v starts its source
// After v, so that a lagging server cannot take it back to an older map.
// A source reports each state once (a failure, a refused document), as a
// *SourceError, and stays silent while nothing changes; the
// caller keeps its current map and calls Next again.
//
// Signatures come beside the document, never inside it: from the
// SignatureHeader of the HTTP response, or from a signature file (default
// path + ".sig") of one or more base64 lines. A document is accepted when
// one of its signatures verifies (placement.ParseSigned).
//
// # Last-known-good file
//
// SaveFile writes a map's document exactly as published, atomically, with
// an integrity record at path + ".sum" (sha256sum format) and the signature
// file when signed; LoadFile refuses a document the record does not match,
// so that a file corrupted on disk is never loaded as another valid map.
//
// # Concurrency
//
// Constructors do no I/O and start no goroutines. Next runs in the caller's
// goroutine, is not for concurrent use on one source, returns when its ctx
// is done, and leaves no goroutine behind; Refresh is safe from any
// goroutine and never blocks. NewStatic's source is safe for concurrent
// use. SaveFile calls for one path must not overlap; LoadFile may run
// concurrently with anything.
package source
