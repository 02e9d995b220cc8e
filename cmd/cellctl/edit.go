package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/cellkit/cellkit/cmd/cellctl/internal/editlang"
	"github.com/cellkit/cellkit/placement"
)

// editHelp is the edit language, shared by edit and new.
const editHelp = `Each EDIT is one argument (quote it in the shell): a verb and its words,
separated by spaces. A word may hold Go-quoted parts ("tenant 42") for keys
with spaces or unusual characters. KEY is a key; write key=KEY for a key that
looks like buckets=…; SUBJECT is a key or buckets=LO-HI (or buckets=N).

  add ID [zone=Z] [weight=W] [state=S] [endpoint=URL[@ZONE]]... [label=K=V]...
                         add a cell (weight 1 and state active by default;
                         an endpoint's zone defaults to the cell's)
  remove ID              remove a cell nothing refers to any more
  state ID STATE         set a cell's state: active, draining, disabled, canary
  weight ID W            set a cell's weight (0 drains it from derived placement)
  zone ID Z              move a cell to another zone
  endpoints ID [URL[@ZONE]]...   replace a cell's endpoints
  labels ID [K=V]...     replace a cell's labels
  pin KEY CELL           pin a key to a cell (an override)
  unpin KEY              remove a key's override
  quarantine KEY CELL    pin a key at once, dropping its migration
  migrate SUBJECT CELL   start moving a key, or buckets of an explicit table,
                         to CELL (phase copying)
  advance SUBJECT        copying → frozen → flipped → done (the entry goes,
                         the override or table names the new cell)
  rollback SUBJECT       undo a migration (after the flip, it turns around)
  freeze                 make the derived table explicit, moving no key
  rebalance              plan bucket migrations that even out an explicit table
  seed SEED              set the hash seed (decimal or 0x-hex)
  buckets N              set the number of buckets
  shard-size K           set the shuffle shard size

The edits apply in order to one Builder; the first the Builder refuses stops
the command with the typed error, and nothing is written.`

var editCmd = &command{
	name:    "edit",
	args:    "-o OUT [--dry-run] [--json] [--await-confirmed] FILE EDIT...",
	summary: "make the next version of a map through the Builder",
	help: `Edit applies the EDITs to the map FILE and writes the next version (its
version plus one) to OUT, then prints what changed, as diff does. The new
document is unsigned: sign it before publishing to clients that require
signatures (a stale OUT.sig is removed). With --dry-run, nothing is written.

With --await-confirmed, the next phase of a migration is written only once
every cell of each migration that the edits change (its from and to cells)
has confirmed FILE's version: no request judged on an older map still runs
there. Each cell is asked at its endpoints in FILE (GET --confirm-path, the
handler of placement/source.ConfirmHandler beside the cell's Guard) until
it confirms or --confirm-timeout passes; then nothing is written and the
error names the cells that have not confirmed (source.ErrNotConfirmed).
With --confirm-via etcd:ENDPOINTS/PREFIX the confirmations are read where
the cells write them in etcd (placement/etcdsource's ConfirmWriter).

` + editHelp,
	examples: `cellctl edit map.json -o v2.json 'add c4 zone=az2 endpoint=https://c4.internal:8443'
cellctl edit map.json -o v3.json 'pin tenant-42 c4' 'state c1 draining'
cellctl edit v3.json -o v4.json 'migrate tenant-7 c2'
cellctl edit v4.json -o v5.json 'advance tenant-7'
cellctl edit --await-confirmed --confirm-timeout 5m v5.json -o v6.json 'advance tenant-7'
cellctl edit v5.json -o v6.json freeze 'migrate buckets=0-99 c3'
cellctl edit --dry-run v6.json 'weight c2 0.5'`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var ef editFlags
		ef.register(fs, true)
		return func(e *env, args []string) error {
			if len(args) < 2 {
				return usagef("edit needs a map FILE and at least one EDIT")
			}
			if err := ef.check(); err != nil {
				return err
			}
			base, _, _, err := ef.d.load(args[0])
			if err != nil {
				return err
			}
			return ef.run(e, base, args[1:])
		}
	},
}

var newCmd = &command{
	name:    "new",
	args:    "-o OUT [--dry-run] [--json] EDIT...",
	summary: "build a first map (version 1) from nothing",
	help: `New starts from an empty document (seed 0, 16384 buckets, shard size 1, no
cells), applies the EDITs and writes version 1 to OUT. The map needs at least
one active cell.

` + editHelp,
	examples: `cellctl new -o v1.json 'seed 0x9e3779b97f4a7c15' 'shard-size 2' \
    'add c1 zone=az1 endpoint=https://c1.internal:8443' \
    'add c2 zone=az2 endpoint=https://c2.internal:8443' \
    'add c3 zone=az3 endpoint=https://c3.internal:8443'`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var ef editFlags
		ef.register(fs, false)
		return func(e *env, args []string) error {
			if len(args) < 1 {
				return usagef("new needs at least one EDIT")
			}
			if err := ef.check(); err != nil {
				return err
			}
			return ef.run(e, nil, args)
		}
	},
}

type editFlags struct {
	d      docFlags
	out    string
	dryRun bool
	asJSON bool
	await  awaitFlags
}

func (ef *editFlags) register(fs *flag.FlagSet, await bool) {
	ef.d.register(fs, true)
	fs.StringVar(&ef.out, "o", "", "write the new version to `OUT` (required unless --dry-run)")
	fs.BoolVar(&ef.dryRun, "dry-run", false, "print the changes and write nothing")
	fs.BoolVar(&ef.asJSON, "json", false, "print the result as JSON")
	if await {
		ef.await.register(fs)
	}
}

func (ef *editFlags) check() error {
	if ef.out == "" && !ef.dryRun {
		return usagef("-o OUT is required (or --dry-run)")
	}
	return nil
}

// editResult is what edit, new and each drain step print with --json.
type editResult struct {
	Version uint64   `json:"version"`
	File    string   `json:"file,omitempty"`
	Notes   []string `json:"notes,omitempty"`
	Changes *changes `json:"changes"`
	// Awaited is the confirmation --await-confirmed waited for.
	Awaited *awaitedResult `json:"awaited,omitempty"`
}

func (ef *editFlags) run(e *env, base *placement.Map, raw []string) error {
	edits := make([]editlang.Edit, len(raw))
	for i, r := range raw {
		ed, err := editlang.Parse(r)
		if err != nil {
			return usagef("edit %d %q: %v", i+1, r, err)
		}
		edits[i] = ed
	}
	m, notes, err := editlang.Apply(base, ef.d.lim, edits, raw)
	if err != nil {
		return err
	}
	res := editResult{Version: m.Version(), Notes: notes, Changes: diffOf(base, m, nil, false)}
	if ef.await.on && !ef.dryRun {
		if base == nil {
			return usagef("--await-confirmed needs a map to edit: the cells confirm its version")
		}
		var via target
		if ef.await.via != "" {
			if via, err = parseTarget(ef.await.via, false); err != nil {
				return err
			}
		}
		if res.Awaited, err = ef.await.awaitPrevious(e.ctx, e.stderr, via, base, m); err != nil {
			return err
		}
	}
	if !ef.dryRun {
		if err := saveDoc(ef.out, m.Bytes(), nil); err != nil {
			return err
		}
		res.File = ef.out
	}
	if ef.asJSON {
		return writeJSON(e.stdout, res)
	}
	res.print(e.stdout)
	return nil
}

func (r *editResult) print(w io.Writer) {
	r.Changes.print(w)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if r.File != "" {
		fmt.Fprintf(w, "wrote v%d to %s\n", r.Version, r.File)
	} else {
		fmt.Fprintf(w, "v%d not written (--dry-run)\n", r.Version)
	}
}
