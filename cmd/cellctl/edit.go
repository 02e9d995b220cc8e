package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

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
	edits := make([]edit, len(raw))
	for i, r := range raw {
		ed, err := parseEdit(r)
		if err != nil {
			return usagef("edit %d %q: %v", i+1, r, err)
		}
		edits[i] = ed
	}
	m, notes, err := applyEdits(base, ef.d.lim, edits, raw)
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

// applyEdits runs the edits on a Builder of base (nil: from nothing) with
// the limits clients parse with, and builds the result. raw names the edits in errors.
func applyEdits(base *placement.Map, lim placement.Limits, edits []edit, raw []string) (*placement.Map, []string, error) {
	b := placement.NewBuilderWith(base, lim)
	s := &editState{b: b, base: base, zones: map[string]string{}}
	for i, ed := range edits {
		if err := ed(s); err != nil {
			return nil, nil, fmt.Errorf("edit %d %q: %w", i+1, raw[i], err)
		}
	}
	m, err := b.Build()
	if err != nil {
		return nil, nil, fmt.Errorf("build: %w", err)
	}
	return m, s.notes, nil
}

// editState is what edits work on.
type editState struct {
	b     *placement.Builder
	base  *placement.Map
	zones map[string]string // zones of the cells added by earlier edits
	notes []string
}

// zone returns the zone of cell id, for endpoints without one.
func (s *editState) zone(id string) string {
	if z, ok := s.zones[id]; ok {
		return z
	}
	if s.base != nil {
		if c, ok := s.base.Cell(id); ok {
			return c.Zone
		}
	}
	return ""
}

// eachBucketMigration applies step to the bucket migration of exactly r,
// or else to every bucket migration inside r: MigrateBuckets and Rebalance
// start one migration for each run of buckets with one owner, and the
// operator names the range they asked for.
func (s *editState) eachBucketMigration(r placement.Range, step func(*placement.Builder, placement.Migration) error) error {
	now, err := s.b.Build() // the builder's migrations, as a document
	if err != nil {
		return step(s.b, placement.Migration{Buckets: r})
	}
	var inside []placement.Migration
	for _, g := range now.Migrations() {
		if g.Key != "" {
			continue
		}
		if g.Buckets == r {
			return step(s.b, g)
		}
		if r.Lo <= g.Buckets.Lo && g.Buckets.Hi <= r.Hi {
			inside = append(inside, g)
		}
	}
	if len(inside) == 0 {
		return step(s.b, placement.Migration{Buckets: r}) // the Builder's own error
	}
	for _, g := range inside {
		if err := step(s.b, g); err != nil {
			return err
		}
	}
	return nil
}

// An edit is one parsed EDIT.
type edit func(s *editState) error

// parseEdit parses one EDIT; errors are misuse.
func parseEdit(raw string) (edit, error) {
	words, err := splitWords(raw)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, errors.New("empty edit")
	}
	verb, args := words[0], words[1:]
	want := func(n int, form string) error {
		if len(args) != n {
			return fmt.Errorf("want %q", form)
		}
		return nil
	}
	switch verb {
	case "add":
		return parseAdd(args)
	case "remove":
		if err := want(1, "remove ID"); err != nil {
			return nil, err
		}
		return func(s *editState) error { return s.b.RemoveCell(args[0]) }, nil
	case "state":
		if err := want(2, "state ID STATE"); err != nil {
			return nil, err
		}
		st, ok := placement.ParseState(args[1])
		if !ok {
			return nil, fmt.Errorf("unknown state %q (active, draining, disabled, canary)", args[1])
		}
		return func(s *editState) error { return s.b.SetState(args[0], st) }, nil
	case "weight":
		if err := want(2, "weight ID W"); err != nil {
			return nil, err
		}
		w, err := strconv.ParseFloat(args[1], 64)
		if err != nil {
			return nil, fmt.Errorf("weight %q is not a number", args[1])
		}
		return func(s *editState) error { return s.b.SetWeight(args[0], w) }, nil
	case "zone":
		if err := want(2, "zone ID Z"); err != nil {
			return nil, err
		}
		return func(s *editState) error {
			if err := s.b.SetZone(args[0], args[1]); err != nil {
				return err
			}
			s.zones[args[0]] = args[1]
			return nil
		}, nil
	case "endpoints":
		if len(args) < 1 {
			return nil, errors.New(`want "endpoints ID [URL[@ZONE]]..."`)
		}
		id, eps := args[0], args[1:]
		return func(s *editState) error {
			list := []placement.Endpoint{}
			for _, ep := range eps {
				list = append(list, parseEndpoint(ep, s.zone(id)))
			}
			return s.b.SetEndpoints(id, list)
		}, nil
	case "labels":
		if len(args) < 1 {
			return nil, errors.New(`want "labels ID [K=V]..."`)
		}
		labels := map[string]string{}
		for _, kv := range args[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("label %q is not K=V", kv)
			}
			labels[k] = v
		}
		if len(labels) == 0 {
			labels = nil
		}
		return func(s *editState) error { return s.b.SetLabels(args[0], labels) }, nil
	case "pin", "quarantine":
		if err := want(2, verb+" KEY CELL"); err != nil {
			return nil, err
		}
		key := keyWord(args[0])
		if verb == "pin" {
			return func(s *editState) error { return s.b.Pin(key, args[1]) }, nil
		}
		return func(s *editState) error { return s.b.Quarantine(key, args[1]) }, nil
	case "unpin":
		if err := want(1, "unpin KEY"); err != nil {
			return nil, err
		}
		key := keyWord(args[0])
		return func(s *editState) error { return s.b.Unpin(key) }, nil
	case "migrate":
		if err := want(2, "migrate SUBJECT CELL"); err != nil {
			return nil, err
		}
		g, err := parseSubject(args[0])
		if err != nil {
			return nil, err
		}
		to := args[1]
		if g.Key != "" {
			return func(s *editState) error { return s.b.MigrateKey(g.Key, to) }, nil
		}
		return func(s *editState) error { return s.b.MigrateBuckets(g.Buckets, to) }, nil
	case "advance", "rollback":
		if err := want(1, verb+" SUBJECT"); err != nil {
			return nil, err
		}
		g, err := parseSubject(args[0])
		if err != nil {
			return nil, err
		}
		step := (*placement.Builder).Advance
		if verb == "rollback" {
			step = (*placement.Builder).Rollback
		}
		if g.Key != "" {
			return func(s *editState) error { return step(s.b, g) }, nil
		}
		return func(s *editState) error { return s.eachBucketMigration(g.Buckets, step) }, nil
	case "freeze":
		if err := want(0, "freeze"); err != nil {
			return nil, err
		}
		return func(s *editState) error { return s.b.FreezeTable() }, nil
	case "rebalance":
		if err := want(0, "rebalance"); err != nil {
			return nil, err
		}
		return func(s *editState) error {
			n, err := s.b.Rebalance()
			if err == nil {
				s.notes = append(s.notes, fmt.Sprintf("rebalance: %s to move, as migrations in phase copying", plural(n, "bucket")))
			}
			return err
		}, nil
	case "seed":
		if err := want(1, "seed SEED"); err != nil {
			return nil, err
		}
		seed, err := parseSeed(args[0])
		if err != nil {
			return nil, err
		}
		return func(s *editState) error { s.b.SetSeed(seed); return nil }, nil
	case "buckets", "shard-size":
		if err := want(1, verb+" N"); err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return nil, fmt.Errorf("%s %q is not an integer", verb, args[0])
		}
		if verb == "buckets" {
			return func(s *editState) error { return s.b.SetBuckets(n) }, nil
		}
		return func(s *editState) error { return s.b.SetShardSize(n) }, nil
	}
	return nil, fmt.Errorf("unknown edit %q", verb)
}

func parseAdd(args []string) (edit, error) {
	if len(args) < 1 || strings.Contains(args[0], "=") {
		return nil, errors.New(`want "add ID [zone=Z] [weight=W] [state=S] [endpoint=URL[@ZONE]]... [label=K=V]..."`)
	}
	c := placement.Cell{ID: args[0], Weight: 1}
	var eps []string
	for _, a := range args[1:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not NAME=VALUE", a)
		}
		switch k {
		case "zone":
			c.Zone = v
		case "weight":
			w, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("weight %q is not a number", v)
			}
			c.Weight = w
		case "state":
			st, ok := placement.ParseState(v)
			if !ok {
				return nil, fmt.Errorf("unknown state %q (active, draining, disabled, canary)", v)
			}
			c.State = st
		case "endpoint":
			eps = append(eps, v)
		case "label":
			lk, lv, ok := strings.Cut(v, "=")
			if !ok {
				return nil, fmt.Errorf("label %q is not K=V", v)
			}
			if c.Labels == nil {
				c.Labels = map[string]string{}
			}
			c.Labels[lk] = lv
		default:
			return nil, fmt.Errorf("unknown cell field %q (zone, weight, state, endpoint, label)", k)
		}
	}
	for _, ep := range eps {
		c.Endpoints = append(c.Endpoints, parseEndpoint(ep, c.Zone))
	}
	return func(s *editState) error {
		if err := s.b.AddCell(c); err != nil {
			return err
		}
		s.zones[c.ID] = c.Zone
		return nil
	}, nil
}

// parseEndpoint reads URL[@ZONE]; endpoint URLs have no user info, so an @
// after the host names the zone.
func parseEndpoint(s, defaultZone string) placement.Endpoint {
	if i := strings.LastIndexByte(s, '@'); i >= 0 && !strings.ContainsAny(s[i+1:], "/:") {
		return placement.Endpoint{URL: s[:i], Zone: s[i+1:]}
	}
	return placement.Endpoint{URL: s, Zone: defaultZone}
}

// formatEndpoint is the inverse of parseEndpoint.
func formatEndpoint(ep placement.Endpoint, cellZone string) string {
	if ep.Zone == cellZone {
		return ep.URL
	}
	return ep.URL + "@" + ep.Zone
}

// keyWord reads a KEY word: key=K is K.
func keyWord(w string) string {
	if k, ok := strings.CutPrefix(w, "key="); ok {
		return k
	}
	return w
}

// parseSubject reads KEY, key=KEY or buckets=LO-HI.
func parseSubject(w string) (placement.Migration, error) {
	if r, ok := strings.CutPrefix(w, "buckets="); ok {
		rg, err := placement.ParseRange(r)
		if err != nil {
			return placement.Migration{}, fmt.Errorf("bad bucket range %q: want LO-HI or N", r)
		}
		return placement.Migration{Buckets: rg}, nil
	}
	return placement.Migration{Key: keyWord(w)}, nil
}

// parseSeed reads a seed as the document writes it: decimal or 0x-hex.
func parseSeed(s string) (uint64, error) {
	var v uint64
	var err error
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		v, err = strconv.ParseUint(h, 16, 64)
	} else {
		v, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil {
		return 0, fmt.Errorf("seed %q is not a 64-bit decimal or 0x-hex number", s)
	}
	return v, nil
}

// splitWords splits an EDIT at spaces; a word may hold Go-quoted parts,
// which keep their spaces.
func splitWords(s string) ([]string, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("not valid UTF-8")
	}
	var words []string
	var w strings.Builder
	in := false // inside a word
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case unicode.IsSpace(r):
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
			s = s[size:]
		case r == '"':
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("bad quoted string at %q", s)
			}
			u, _ := strconv.Unquote(q)
			w.WriteString(u)
			in = true
			s = s[len(q):]
		default:
			w.WriteRune(r)
			in = true
			s = s[size:]
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words, nil
}
