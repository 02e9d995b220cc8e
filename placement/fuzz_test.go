package placement

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// sentinels is every error Parse may return, wrapped.
var sentinels = []error{ErrSyntax, ErrUnknownField, ErrDuplicateKey, ErrType, ErrUTF8, ErrKey, ErrVersion, ErrSeed, ErrBuckets, ErrShardSize,
	ErrCellID, ErrSpace, ErrDuplicateCell, ErrState, ErrWeight, ErrNoEligible, ErrEndpoint, ErrTable, ErrUnknownCell,
	ErrCellUse, ErrConflict, ErrMigration, ErrLimit, ErrSignature}

// fuzzLimits keep each input fast: the fuzzer explores structure, not size.
var fuzzLimits = Limits{MaxBytes: 1 << 16, MaxTableWork: 1 << 21}

// FuzzParse feeds Parse arbitrary bytes, starting from the golden documents
// and every invalid case. It must never panic; a rejection must match a
// sentinel; an accepted map must locate keys without panicking, marshal to a
// canonical form that parses back to the same bytes, and agree with itself.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		if filepath.Base(file) == "golden-answers.json" {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "key-1")
	}
	for _, tc := range invalidDocs {
		f.Add([]byte(tc.doc), "k")
	}
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		m, err := ParseWith(data, Options{Limits: fuzzLimits})
		if err != nil {
			matched := false
			for _, s := range sentinels {
				if errors.Is(err, s) {
					matched = true
				}
			}
			if !matched || m != nil {
				t.Fatalf("Parse error %v (%T) matches no sentinel", err, err)
			}
			return
		}
		a, err := m.Locate(key)
		if key == "" {
			if !errors.Is(err, ErrNoKey) {
				t.Fatalf(`Locate("") = %v`, err)
			}
			return
		}
		if err != nil && !errors.Is(err, ErrCellDisabled) {
			t.Fatalf("Locate(%q): %v", key, err)
		}
		if _, ok := m.Cell(a.Cell); !ok || len(a.Read) == 0 || a.Read[0] != a.Cell || a.Version != m.Version() {
			t.Fatalf("Locate(%q) = %+v", key, a)
		}
		if m.ShardSize() > 1 && (len(a.Shard) != m.ShardSize() || a.Shard[0] != a.Cell) {
			t.Fatalf("Locate(%q) shard %v, home %s, size %d", key, a.Shard, a.Cell, m.ShardSize())
		}
		var buf [4]string
		b, _ := m.AppendLocate(buf[:0], key)
		if !slices.Equal(b.Read, a.Read) || !slices.Equal(b.Shard, a.Shard) {
			t.Fatalf("AppendLocate(%q) = %+v; Locate = %+v", key, b, a)
		}
		for _, c := range a.Shard {
			if !m.OwnsShard(c, key) && (c != a.Cell || err == nil) {
				t.Fatalf("OwnsShard(%s, %q) = false for a member of its shard", c, key)
			}
		}
		if m.Owns(a.Cell, key) != (err == nil) {
			t.Fatalf("Owns(home %s, %q) = %v with error %v", a.Cell, key, m.Owns(a.Cell, key), err)
		}
		out, err := m.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseWith(out, Options{Limits: fuzzLimits})
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, out)
		}
		out2, _ := m2.MarshalJSON()
		if string(out) != string(out2) {
			t.Fatalf("canonical form is not stable:\n%s\n%s", out, out2)
		}
		if b, _ := m2.Locate(key); b.Cell != a.Cell || b.Bucket != a.Bucket {
			t.Fatalf("Locate(%q) = %s after the round trip; want %s", key, b.Cell, a.Cell)
		}
	})
}
