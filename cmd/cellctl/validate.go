package main

import (
	"crypto/ed25519"
	"flag"
	"fmt"
	"slices"

	"github.com/cellkit/cellkit/cmd/cellctl/internal/editlang"
	"github.com/cellkit/cellkit/placement"
)

var validateCmd = &command{
	name:    "validate",
	args:    "[--public-key PUB]... [--json] FILE...",
	summary: "check maps strictly, as every client will",
	help: `Validate parses each map FILE as strictly as a client does: unknown
fields, duplicate cells, bad ranges, gaps or overlaps in an explicit table,
unknown cells in overrides or migrations, non-finite weights, documents past
the limits. A refusal prints the field and the value. With --public-key, a
map is accepted only when one of the signatures in FILE.sig verifies with one
of the keys. The limits default to placement's; the --max flags lower or
raise them, as a client configured with those Limits would.`,
	examples: `cellctl validate map.json
cellctl validate --public-key control-plane.pub --max-cells 500 map.json
cellctl validate --json maps/*.json | jq '.[] | select(.ok | not)'`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var d docFlags
		d.register(fs, true)
		asJSON := fs.Bool("json", false, "print one JSON object per file, in an array")
		return func(e *env, args []string) error {
			if len(args) == 0 {
				return usagef("validate needs at least one FILE")
			}
			return validate(e, &d, args, *asJSON)
		}
	},
}

// mapSummary describes a valid map in a line (and in JSON).
type mapSummary struct {
	Version    uint64 `json:"version"`
	Cells      int    `json:"cells"`
	Zones      int    `json:"zones"`
	Buckets    int    `json:"buckets"`
	Explicit   bool   `json:"explicitTable"`
	ShardSize  int    `json:"shardSize"`
	Overrides  int    `json:"overrides"`
	Migrations int    `json:"migrations"`
	SignedBy   string `json:"signedBy,omitempty"` // the ID of the key that verified it
}

func summarize(m *placement.Map, keys []ed25519.PublicKey) mapSummary {
	cells := m.Cells()
	var zones []string
	for _, c := range cells {
		if !slices.Contains(zones, c.Zone) {
			zones = append(zones, c.Zone)
		}
	}
	s := mapSummary{
		Version: m.Version(), Cells: len(cells), Zones: len(zones), Buckets: m.Buckets(),
		Explicit: m.Explicit(), ShardSize: m.ShardSize(), Overrides: m.Overrides(), Migrations: len(m.Migrations()),
	}
	if sig := m.Signature(); sig != nil {
		for _, k := range keys {
			if ed25519.Verify(k, m.Bytes(), sig) {
				s.SignedBy = keyID(k)
				break
			}
		}
	}
	return s
}

func (s mapSummary) String() string {
	table := "derived"
	if s.Explicit {
		table = "explicit"
	}
	out := fmt.Sprintf("v%d, %s in %s, %d buckets (%s table), shardSize %d, %s, %s",
		s.Version, plural(s.Cells, "cell"), plural(s.Zones, "zone"), s.Buckets, table, s.ShardSize,
		plural(s.Overrides, "override"), plural(s.Migrations, "migration"))
	if s.SignedBy != "" {
		out += ", signed by key " + s.SignedBy
	}
	return out
}

// plural is editlang.Plural, which the edit language's notes use too.
func plural(n int, noun string) string { return editlang.Plural(n, noun) }

type validateResult struct {
	File string `json:"file"`
	OK   bool   `json:"ok"`
	*mapSummary
	Error *errorInfo `json:"error,omitempty"`
}

func validate(e *env, d *docFlags, files []string, asJSON bool) error {
	opt, err := d.options()
	if err != nil {
		return err
	}
	var results []validateResult
	refused := 0
	for _, f := range files {
		m, _, _, err := loadDoc(f, opt)
		r := validateResult{File: f, OK: err == nil, Error: describe(err)}
		if err != nil {
			refused++
			if !asJSON {
				printError(e.stdout, "", err)
			}
		} else {
			s := summarize(m, opt.PublicKeys)
			r.mapSummary = &s
			if !asJSON {
				fmt.Fprintf(e.stdout, "%s: ok: %s\n", f, s)
			}
		}
		results = append(results, r)
	}
	if asJSON {
		if err := writeJSON(e.stdout, results); err != nil {
			return err
		}
	}
	if refused > 0 {
		return fmt.Errorf("%d of %d maps refused", refused, len(files))
	}
	return nil
}

var schemaCmd = &command{
	name:    "schema",
	args:    "",
	summary: "print the JSON Schema of the placement document",
	help: `Schema prints the JSON Schema (draft 2020-12) of the placement document,
for editors and for checks in other languages. It describes the fields;
validate applies every rule, including those a schema cannot express (gaps in
tables, references between fields, the limits).`,
	examples: `cellctl schema > placement.schema.json`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		return func(e *env, args []string) error {
			if len(args) != 0 {
				return usagef("schema takes no arguments")
			}
			_, err := e.stdout.Write(placement.Schema())
			return err
		}
	},
}
