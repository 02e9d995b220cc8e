package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/cellkit/cellkit/placement"
)

var explainCmd = &command{
	name:    "explain",
	args:    "[--json] FILE KEY...",
	summary: "show where keys live and why",
	help: `Explain resolves each KEY in the map FILE as every client does and prints
its home cell (where writes go), the reason (override, migration or table)
with the rule that decided, its bucket and that bucket's table cell, its
shuffle shard, the cells reads go to, whether writes are allowed, and the
migration and its phase when it is moving. A key homed on a disabled cell is
explained too, with the error clients get for it.`,
	examples: `cellctl explain map.json tenant-42
cellctl explain --json map.json tenant-7 tenant-8 | jq -r '.[].cell'`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var d docFlags
		d.register(fs, true)
		asJSON := fs.Bool("json", false, "print a JSON array, one object per key")
		return func(e *env, args []string) error {
			if len(args) < 2 {
				return usagef("explain needs a map FILE and at least one KEY")
			}
			return explain(e, &d, args[0], args[1:], *asJSON)
		}
	},
}

// explanation is one key's placement.
type explanation struct {
	Key         string     `json:"key"`
	Cell        string     `json:"cell"`
	Reason      string     `json:"reason"` // override, migration or table
	Rule        string     `json:"rule"`   // the entry that decided, in words
	Bucket      int        `json:"bucket"`
	BucketOwner string     `json:"bucketOwner"` // the table's cell for the bucket
	Shard       []string   `json:"shard,omitempty"`
	Read        []string   `json:"read"`
	Writable    bool       `json:"writable"`
	Migration   *migration `json:"migration,omitempty"`
	Version     uint64     `json:"version"`
	Error       *errorInfo `json:"error,omitempty"` // a disabled home
}

// migration is a placement.Migration as cellctl prints it.
type migration struct {
	Key     string `json:"key,omitempty"`
	Buckets string `json:"buckets,omitempty"`
	From    string `json:"from"`
	To      string `json:"to"`
	Phase   string `json:"phase"`
}

func toMigration(g placement.Migration) *migration {
	m := &migration{Key: g.Key, From: g.From, To: g.To, Phase: g.Phase.String()}
	if g.Key == "" {
		m.Buckets = g.Buckets.String()
	}
	return m
}

func (g *migration) String() string {
	subject := fmt.Sprintf("key %q", g.Key)
	if g.Key == "" {
		subject = "buckets " + g.Buckets
	}
	return fmt.Sprintf("%s %s→%s (%s)", subject, g.From, g.To, g.Phase)
}

func explain(e *env, d *docFlags, path string, keys []string, asJSON bool) error {
	m, _, _, err := d.load(path)
	if err != nil {
		return err
	}
	var out []explanation
	buf := make([]string, 0, m.ShardSize()+2) // room for the read set and the shard
	for _, key := range keys {
		x, err := explainKey(m, buf, key)
		if err != nil {
			return err
		}
		out = append(out, x)
	}
	if asJSON {
		return writeJSON(e.stdout, out)
	}
	for i, x := range out {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		fmt.Fprintf(e.stdout, "%s\n", quoteKey(x.Key))
		fmt.Fprintf(e.stdout, "  cell      %s\n", x.Cell)
		fmt.Fprintf(e.stdout, "  reason    %s: %s\n", x.Reason, x.Rule)
		fmt.Fprintf(e.stdout, "  bucket    %d (table cell %s)\n", x.Bucket, x.BucketOwner)
		if len(x.Shard) > 0 {
			fmt.Fprintf(e.stdout, "  shard     %s\n", strings.Join(x.Shard, " "))
		}
		fmt.Fprintf(e.stdout, "  read      %s\n", strings.Join(x.Read, " "))
		fmt.Fprintf(e.stdout, "  writable  %v\n", x.Writable)
		if x.Migration != nil {
			fmt.Fprintf(e.stdout, "  phase     %s\n", x.Migration.Phase)
		}
		fmt.Fprintf(e.stdout, "  version   %d\n", x.Version)
		if x.Error != nil {
			fmt.Fprintf(e.stdout, "  error     %s\n", x.Error.Error)
		}
	}
	return nil
}

// quoteKey prints a key as is when that is unambiguous, else Go-quoted.
func quoteKey(k string) string {
	if k == "" || strings.ContainsAny(k, " \t\r\n\"\\") || !isPrint(k) {
		return fmt.Sprintf("%q", k)
	}
	return k
}

func isPrint(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return false
		}
	}
	return true
}

func explainKey(m *placement.Map, buf []string, key string) (explanation, error) {
	a, err := m.AppendLocate(buf[:0], key)
	if err != nil && !errors.Is(err, placement.ErrCellDisabled) {
		return explanation{}, err
	}
	x := explanation{
		Key: key, Cell: a.Cell, Reason: a.Reason.String(), Bucket: a.Bucket,
		Shard: append([]string(nil), a.Shard...), Read: append([]string(nil), a.Read...),
		Writable: a.Writable, Version: a.Version, Error: describe(err),
	}
	x.BucketOwner, _ = m.BucketOwner(a.Bucket)
	table := "derived"
	if m.Explicit() {
		table = "explicit"
	}
	switch a.Reason {
	case placement.ReasonOverride:
		x.Rule = fmt.Sprintf("overrides[%q] pins it to %s", key, a.Cell)
	case placement.ReasonMigration:
		for _, g := range m.Migrations() {
			if g.Key == key || (g.Key == "" && g.Buckets.Lo <= a.Bucket && a.Bucket <= g.Buckets.Hi) {
				x.Migration = toMigration(g)
				break
			}
		}
		x.Rule = "migration"
		if x.Migration != nil {
			x.Rule = "migration of " + x.Migration.String()
		}
	default:
		x.Rule = fmt.Sprintf("bucket %d of the %s table", a.Bucket, table)
	}
	return x, nil
}
