// Package placement is cellkit's placement map: the one versioned document
// that tells every client process, and every cell, which cell owns each key.
//
// A Map is parsed strictly from JSON (Parse, ParseWith), is immutable and
// safe for concurrent use, and answers Locate in tens of nanoseconds without
// allocating. A control plane edits it with a Builder, compares versions with
// Diff, and publishes it; clients follow it through a Source and keep the
// last good copy on disk (SaveFile, LoadFile). The package does no I/O and
// starts no goroutines except in the sources, which run in the caller's
// goroutine under a context.
//
// # Placement
//
// A key resolves in this order; the first rule that matches is reported as
// the Assignment's Reason:
//
//  1. override: the document's override table pins the key to a cell;
//  2. migration: a migration of the key, or of its bucket, decides (below);
//  3. table: the key's bucket b = XXH64(key, seed) mod buckets (see
//     ring.Hash; the seed is the document's) names the home cell. The table
//     is explicit in the document, or, when absent, derived: bucket b goes to
//     the active cell with positive weight that ranks first for
//     ring.BucketHash(b) by weighted rendezvous (package ring documents the
//     rule bit for bit). Adding a cell to a derived table moves about
//     B/(N+1) buckets, all to it; removing one moves only its buckets.
//
// With shardSize k > 1 a key also gets a shuffle shard: its home followed by
// k−1 active cells chosen for the key (not its bucket) by ring.ShardFrom,
// spread over zones.
//
// Cell states: active cells take derived buckets and shard slots; draining
// cells keep the keys that an explicit table or an override gives them;
// disabled cells serve nothing (Locate fails fast with ErrCellDisabled);
// canary cells are reached only through overrides. A weight of 0 leaves
// derived placement like draining, so a gradual drain is a series of weight
// steps.
//
// # Migrations
//
//	phase     reads go to            writes go to
//	copying   from                   from      (to holds a copy)
//	frozen    from                   refused   (Writable is false)
//	flipped   to, then from          to        (to is authoritative)
//	done      to                     to        (entry removed; override or table updated)
//
// A migration names a key or a range of buckets. Bucket migrations need an
// explicit table, and their from cell must own every bucket of the range;
// canary cells take part in neither tables nor migrations. Keys of
// overrides and migrations are non-empty UTF-8, at most Limits.MaxKeyBytes.
// Builder.Advance moves a migration one phase on, and from flipped finishes
// it; Builder.Rollback undoes one. Owns and OwnsWrite give cells the same
// answers for the requests they receive.
//
// # The document
//
// One JSON object; schema.json (Schema) is its JSON Schema. Defaults: seed
// "0", buckets 16384, shardSize 1, a cell's zone "", weight 1, state
// "active"; no table means derived. The seed is a string (decimal or 0x-hex)
// so that no reader loses bits. Parse refuses malformed JSON, unknown
// fields, duplicate keys, a missing or zero version, bad seeds, bucket counts
// outside [1, 2²⁰], shard sizes above the active cells, empty or duplicate
// cell IDs, unknown states, negative or non-finite weights, maps without an
// active cell, endpoints that are not absolute http(s) URLs, table ranges out
// of bounds, overlapping or leaving gaps, references to undefined cells, keys
// with both an override and a migration, and migrations to the same cell.
// Each refusal is a *FieldError naming the field and the value and matching a
// sentinel with errors.Is. Limits bound document size, cells, overrides,
// migrations, key and label sizes and the work of deriving a table; an
// optional detached ed25519 signature (Options.PublicKeys) refuses tampered
// documents. MarshalJSON writes the canonical form: equal maps give equal
// bytes.
package placement
