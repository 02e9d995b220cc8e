// Package placement is cellkit's placement map: the one versioned document
// that tells every client process, and every cell, which cell owns each key.
//
// A Map is parsed strictly from JSON (Parse, ParseWith), is immutable and
// safe for concurrent use, and answers AppendLocate in tens of nanoseconds
// without allocating. A control plane edits it with a Builder and compares
// versions with Diff. The package is pure: it does no I/O, reads no clock
// and starts no goroutines; package placement/source reads maps from files
// and HTTP and keeps the last good copy on disk.
//
// # Placement
//
// A key resolves in this order; the first rule that matches is reported as
// the Assignment's Reason:
//
//  1. override: the document's override table pins the key to a cell,
//     unless the key itself is migrating: then its migration decides, and
//     its override says where its data is (the migration's From);
//  2. migration: a migration of the key, or of its bucket, decides (below);
//  3. table: the key's bucket b = XXH64(key, seed) mod buckets (see
//     ring.Hash; the seed is the document's) names the home cell. The table
//     is explicit in the document, or, when absent, derived: bucket b goes to
//     the active cell with positive weight that ranks first for
//     ring.BucketHash(b) by weighted rendezvous (package ring documents the
//     rule bit for bit). Adding a cell to a derived table moves about
//     B/(N+1) buckets, all to it; removing one moves only its buckets.
//
// The empty key has no cell (ErrNoKey). With shardSize k > 1 a key also
// gets a shuffle shard: its home followed by k−1 active cells chosen for the
// key (not its bucket) by ring.ShardFrom, spread over zones. A key whose
// home is disabled gets its shard too, with the error, so that stateless
// callers can fail over along Shard[1:]; OwnsShard lets those cells accept
// it.
//
// Cell states: active cells take derived buckets and shard slots; draining
// cells keep the keys that an explicit table or an override gives them;
// disabled cells serve nothing (Locate fails fast with ErrCellDisabled);
// canary cells are reached only through overrides. A weight of 0 leaves
// derived placement like draining, so a gradual drain is a series of weight
// steps. Overrides and migrations may name a cell in any state but canary
// migrations: pinning a key to a disabled cell suspends it, and disabling a
// cell keeps its pinned keys where their data is.
//
// # Routing without allocating
//
// AppendLocate appends an Assignment's Read and Shard to a caller's buffer
// (Go's append convention); Read and Shard never share memory with the Map,
// so a caller may sort or append to them. Locate is AppendLocate(nil, key).
// NumCells, AppendCellIDs, CellState, CellZone and AppendEndpoints answer
// the other questions of a router, and Owns, OwnsWrite and OwnsShard those
// of a cell's guard, without allocating. Every method of a nil or zero *Map
// gives its documented zero answer, or ErrNoMap.
//
// # Migrations
//
//	phase     reads go to            writes go to
//	copying   from                   from      (to holds a copy)
//	frozen    from                   refused   (Writable is false)
//	flipped   to, then from          to        (to is authoritative)
//	done      to                     to        (entry removed; override or table updated)
//
// A migration names a key or a range of buckets. A migration starts from
// the cell that holds the data: a bucket migration needs an explicit table,
// and its from cell must own every bucket of the range; a key migration's
// from must be the key's home without that migration — its override, else
// its bucket's migration (the new cell after the flip), else its table
// cell — or Parse refuses it (ErrMigration, naming the key, the stated from
// and the home), since Locate would send the key's reads to a cell without
// its data. Canary cells take part in neither tables nor migrations.
// Builder.MigrateKey starts a key's migration from the home Locate gives it
// now, and pins the key there while it moves, so that no edit of the table
// moves its home under it; Builder.Advance moves a migration one phase on, and from flipped
// finishes it; Builder.Rollback undoes one, leaving the keys on the cell
// that holds their data. Owns and OwnsWrite give cells the same answers for
// the requests they receive.
//
// # The document
//
// One JSON object in UTF-8, without a byte order mark; schema.json (Schema)
// is its JSON Schema. Defaults: seed "0", buckets 16384, shardSize 1, a
// cell's zone "", weight 1, state "active"; no table means derived. The
// seed is a string (decimal or 0x-hex) so that no reader loses bits. null
// is not a value of any field.
//
// The strings of a document are kept exactly as written: a string that is
// not valid UTF-8, or that escapes half of a UTF-16 surrogate pair, is
// refused (ErrUTF8), never rewritten to U+FFFD, so two zones or keys that
// differ only in invalid bytes never become one. A cell ID is an ASCII
// letter or digit followed by up to 62 letters, digits, '.', '_' or '-'
// (the pattern [A-Za-z0-9][A-Za-z0-9._-]{0,62}): safe unescaped in HTTP
// headers, URL paths, logs and metric labels. Zones (of cells and of
// endpoints) and label keys are compared exactly, so none starts or ends
// with Unicode White_Space, nor does a cell ID (ErrSpace): "z1 " would be a
// zone of its own beside "z1", and shards spread over zones would count one
// zone twice. A duplicate cell ID is reported at the duplicate, naming the
// first cell with it. Override and migration keys
// are any non-empty UTF-8 of at most Limits.MaxKeyBytes. A weight is 0 or
// within [MinWeight, MaxWeight] (see there why). An endpoint URL is
// scheme://host[:port][/path-prefix], as Endpoint documents, with the
// request's path appended to it.
//
// ParseNext parses the document that replaces a map in force, as a
// follower does: the same answer as ParseSigned, sharing the previous map's
// derived table when every input of its derivation is unchanged.
//
// Parse refuses malformed JSON, unknown and repeated fields, values of the
// wrong type, a missing or zero version, bad seeds, bucket counts outside
// [1, 2²⁰], shard sizes above the active cells, bad or duplicate cell IDs,
// unknown states, weights out of range, maps without an active cell,
// endpoints of another form, table ranges out of bounds, overlapping or
// leaving gaps, references to undefined cells, key migrations that do not
// start from the key's home, and migrations to the same cell. Each refusal is a
// *FieldError naming the field (cells[3].weight, overrides["tenant-9"]) and
// quoting the offending value as written, with what is expected: "placement:
// seed: the seed is a string: a 64-bit integer in decimal, or in hex after
// 0x: 12". It matches one sentinel with errors.Is, the same for one cause
// wherever it occurs. An error message quotes at most MaxQuote bytes of any
// value or key, so that messages stay short whatever the input.
//
// # Cost on hostile input
//
// Parse reads a document in one pass, checking each value where it stands,
// and counts cells, endpoints, labels, table ranges, overrides and
// migrations against Limits as it reads them: it stops at the first entry
// over a limit, having spent no more than the entries before it. Parse
// allocates in all at most 16 bytes for each byte of the document plus 16
// bytes for each bucket (its peak memory is below that too), and a Map keeps
// the document's text once, its strings sharing it. MarshalJSON writes the
// canonical form: equal maps give equal bytes.
//
// # The Builder
//
// A Builder edits a draft of the next version and applies to it the code
// Parse and Locate run: each edit checks the entries it writes with Parse's
// rules, Build checks the whole draft with Parse's rules and the Builder's
// Limits, and an edit that needs to know where a key lives asks the draft's
// own Locate. Whatever Build accepts, Parse with the same limits accepts;
// see Builder. An edit costs less than Parse of its result: Build merges
// the keys edited into the base map's sorted override index, reuses its
// derived table when the cells, weights, seed and buckets are unchanged,
// and writes the canonical bytes once.
package placement
