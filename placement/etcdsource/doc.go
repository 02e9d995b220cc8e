// Package etcdsource keeps cellkit's placement map in etcd: a Source that
// follows it with a watch, for every client process, and a Publisher that
// writes it with compare-and-swap, for the control plane. It is a module of
// its own, so that the core module does not depend on etcd.
//
// # Key layout
//
// Everything lives under one prefix P, which ends with "/" (say
// "/cellkit/placement/prod/"):
//
//	P+"version"    the stored map's version in decimal ASCII, "42": the publishers' lock
//	P+"doc"        the document, when it is stored in one value
//	P+"manifest"   when it is stored in chunks: {"id":"…","chunks":N,"bytes":B,"sha256":"…"}
//	P+"chunk/"+id+"/"+i   chunk i of that document, i from 000000 to N−1 (six digits)
//	P+"sig"        optional: detached ed25519 signatures of the document, one a line,
//	               in standard base64 with padding (the signature file format of
//	               placement/source)
//	P+"cells/"+id  the version cell id has confirmed, in decimal ASCII, bound to
//	               the cell's lease (see ConfirmWriter): absent for a dead cell
//
// Exactly one of doc and manifest is stored. A manifest's id is 1 to 128
// bytes of [A-Za-z0-9._-]; its chunks, concatenated in index order, are the
// document, of B bytes with the lowercase hex SHA-256 given. Readers never
// read the version key: the document carries its version.
//
// A control plane in another language publishes compatibly with the same
// transactions as Publisher. Where base is the version it built on, a
// document that fits one request is published by
//
//	If   value(P+"version") = base       (create_revision(P+"version") = 0 when base is 0)
//	Then put P+"version" = new version, put P+"doc", put P+"sig" (or delete it),
//	     delete P+"manifest", delete the range of P+"chunk/"
//	Else get P+"version"                 (the stored version, for the conflict)
//
// A larger one is first written in chunks under a fresh id (Publisher uses
// the version in 20 digits, a dash and 16 random hex digits), one put per
// chunk, each within the server's --max-request-bytes; then one transaction
// compares the version key as above and the mod_revision of every chunk with
// that of its put, and puts P+"manifest", P+"version" and P+"sig" (or deletes
// it), deletes P+"doc", and deletes every other chunk: the ranges
// [P+"chunk/", P+"chunk/"+id+"/") and [end of P+"chunk/"+id+"/", end of
// P+"chunk/"), where the end of a prefix is etcd's prefix range end. A
// publish that loses deletes its chunks.
//
// # Guarantees
//
// A Source reads the document, the signatures and the manifest in one
// transaction, hence at one revision, and the chunks at that same revision;
// it watches the prefix, but for the chunk directory, from the next
// revision and brings what it read up to date one revision at a time. So a
// reader sees the map before a publish or after it, whole, never a mix of
// two.
//
// Its memory is bounded by Options.Limits.MaxBytes whatever is written
// under the prefix: it never watches the chunk directory (chunks under ids
// no manifest names never reach it), checks a manifest's declared size
// against MaxBytes before it reads any chunk, counts the chunks before it
// reads one, reads them one at a time and stops at the first that does not
// fit the manifest, and drops them once their document is judged. Besides
// the map in force it holds at most one pending document; TestMemoryBounded
// measures the process at most 2 × MaxBytes + 4 MiB over its heap before
// the attacks of issue 19 at a tenth of their size (40 chunks of 1 MiB
// under ids no manifest names, and manifests declaring 300 bytes and
// MaxBytes over 40 chunks of 1 MiB), where the watch of the whole prefix
// peaked at 285 MiB and kept 120 MiB. A change to the chunks of the
// manifest in force without a new manifest, which no publisher makes, is
// seen at the next read (Refresh, or a watch that fails).
//
// A Source orders no versions: it delivers each document it did not
// deliver last, and the source.Follower that runs it (one version gate for
// every source) refuses a lower version or another document under the same
// version. It parses with the Follower's options (SetParse): it refuses
// invalid documents, documents no trusted key signed (when keys are
// trusted; the sig key is read with source.ParseSignatures) and keys that
// break the layout, reporting each once while the caller keeps its map.
// When the watch fails (a lost leader, a cancellation by the server) it
// watches again from the revision after the last one it applied, so it
// delivers every version still in etcd's history, in order, across a
// failover; after a compaction past that revision it reads the current
// state. While the client is disconnected its watch resumes at the same
// revision once etcd is back.
//
// A Publisher stores a map only if the version key still holds the base
// the caller built on, and only a map of a higher version: of publishers
// racing from the same base exactly one wins and the others get a
// *ConflictError with the version stored. Documents larger than etcd's
// request limit (1.5 MiB by default) are chunked, with the manifest and the
// removal of the previous document's chunks in the transaction that
// publishes; the number of chunks is bounded by the server's --max-txn-ops
// (64 chunks of 1 MiB under the default 128 is a 64 MiB document, the
// default placement.Limits.MaxBytes).
//
// # Confirmations
//
// A migration advances only once every cell it concerns has confirmed the
// previous phase: no request judged on an older map is still running
// there. A cell runs a ConfirmWriter beside its source.Follower, which
// writes the Follower's confirmed version (Follower.AwaitConfirmed) at
// P+"cells/"+id under a lease it keeps alive; a control plane calls
// Publisher.AwaitConfirmed(ctx, version, cells) (the Publisher is a
// source.Confirmer, as source.HTTPConfirmer is over HTTP), which reads and
// watches those keys and, when ctx ends first, returns a
// *source.NotConfirmedError naming the cells that have not confirmed and
// the version each is at. A cell
// that dies loses its confirmation within its lease's TTL (default 10s); a
// cell that stops revokes it at once; one that comes back writes it again.
// Sources do not watch these keys: they sort before the chunk directory.
//
// # Running it
//
// The caller builds the *clientv3.Client: endpoints, TLS (clientv3.Config.TLS),
// authentication (Username and Password), and a key namespace if it wants
// one (package clientv3/namespace). Readers need read access to the range
// of P; publishers read and write. The Source watches with
// clientv3.WithRequireLeader, so a member that loses its leader ends the
// watch instead of holding it silently. gRPC's default reconnect backoff
// grows to two minutes; a client that should see etcd back within a
// second after an outage sets a shorter one, such as
//
//	DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
//		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
//		MinConnectTimeout: time.Second,
//	})}
//
// A cell.Client follows the map with the Source as its Config.Source; a
// control plane reads the current map with a Source's first Next, edits it
// with a placement.Builder, and publishes on the version it read.
//
// The tests start an embedded etcd (go.etcd.io/etcd/server/v3/embed) on
// loopback ports in a temporary directory, with the server's default
// request limits. The time from Publish returning to 100 sources in one
// process having the new map is measured by
//
//	go test -run '^$' -bench Propagation -benchtime 100x
//
// (p50-ms, p99-ms and max-ms per 100 publishes).
//
// # Concurrency
//
// Constructors do no I/O and start no goroutines. Next runs in the caller's
// goroutine and is not for concurrent use on one Source; the goroutines of
// its watch are the client's and end with the context of the calls
// (clientv3 ends them shortly after). Refresh is safe from any goroutine and
// never blocks. A Publisher is safe for concurrent use.
package etcdsource
