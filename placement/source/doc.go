// Package source is the life cycle and the I/O of cellkit's placement maps:
// the contract every source meets (Source, Refresher, Parser, SourceError),
// the sources (NewStatic, NewFile, NewHTTP), the Follower that runs one and
// holds the map in force for a whole process, the last-known-good file
// (SaveFile, LoadFile), the control plane's Handler, and confirmations
// (ConfirmHandler, Confirmer, HTTPConfirmer). Package placement is the pure
// part: the document, Parse, Locate; this package does the reading, the
// polling and the clock.
//
// # The life cycle of a map
//
// A process follows the map through one Follower, shared by everything in
// it that reads the map: cell.Client on the client side, cell.Guard on the
// cell side, a Handler on a control plane. The Follower
//
//  1. loads the last-known-good file first (FollowerConfig.LastGood), so
//     that it is ready with the control plane down;
//  2. runs its Source, which fetches and parses documents with the
//     Follower's one set of options (limits, trusted keys; see Parser);
//  3. passes every map through the one version gate: a lower version, or
//     another document under the version in force, is refused
//     (ErrStaleVersion) and reported, and the map in force stays;
//  4. runs its readers' swap steps (OnSwap), then makes the map live behind
//     an atomic pointer (Map takes no lock), and saves it to the
//     last-known-good file;
//  5. reports every update (accepted or refused, the version, why) to
//     FollowerConfig.OnUpdate and its Logger, and counts them in Status.
//
// # Sources
//
// A File polls a file, an HTTP polls a URL (with ETags); both are
// Refreshers and Parsers. A source delivers each new document it fetched
// once, whatever its version: ordering versions is the Follower's job, so
// that the rule lives in one place. A source reports each state once (a
// failure, a refused document), as a *SourceError, and stays silent while
// nothing changes; the Follower keeps its current map and calls Next
// again.
//
// Signatures come beside the document, never inside it: from the
// SignatureHeader of the HTTP response, or from a signature file (default
// path + ".sig") of one or more base64 lines (ParseSignatures,
// FormatSignatures). A document is accepted when one of its signatures
// verifies (placement.ParseSigned).
//
// # Last-known-good file
//
// SaveFile writes a map's document exactly as published, atomically, with
// an integrity record at path + ".sum" (sha256sum format) and the signature
// file when signed; LoadFile refuses a document the record does not match,
// so that a file corrupted on disk is never loaded as another valid map.
//
// # Control plane
//
// A Handler serves a Holder's map (a Follower's, or Fixed) the way NewHTTP
// polls it: strong ETag, 304, HEAD, the signature header, no-cache, and the
// ETag computed once per map. A development control plane is a Follower of
// the file it edits and a Handler.
//
// # Confirmations
//
// A cell's Guard judges each request on the map in force (Follower.Judge)
// and holds that judgment until the request returns. The Follower's
// confirmed version is the newest V such that no request judged on a map
// older than V is still running. A control plane advances a migration
// (copying, frozen, flipped, done) only when every cell concerned has
// confirmed the previous phase's version: otherwise a write judged on the
// map before the freeze could land after the final copy began, and be lost.
// Cells publish their confirmed version (ConfirmHandler over HTTP, or etcd
// through etcdsource); a control plane waits with a Confirmer, which names
// the cells that have not confirmed when its ctx ends (NotConfirmedError).
//
// # Concurrency
//
// Constructors do no I/O and start no goroutines. Next runs in the caller's
// goroutine, is not for concurrent use on one source, returns when its ctx
// is done, and leaves no goroutine behind; Refresh is safe from any
// goroutine and never blocks. NewStatic's source is safe for concurrent
// use. A Follower's work runs in Run, which the caller owns; its methods
// are safe for concurrent use, and Map and Judge take no lock. A Handler
// and ConfirmHandler are safe for concurrent use. SaveFile calls for one
// path must not overlap; LoadFile may run concurrently with anything.
package source
