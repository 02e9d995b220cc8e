package cellkit

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/cellkit/cellkit"

// designDoc holds the import table, under its "## Imports" heading.
const designDoc = "docs/DESIGN.md"

// importTable reads the table of designDoc's Imports section: package (a
// path relative to the module, "(root)" for the module's own package, or a
// prefix ending in a slash) → what it may import beyond the standard library
// (module-relative paths, outside module paths, or "*" for anything in the
// module).
func importTable(t testing.TB) map[string][]string {
	t.Helper()
	f, err := os.Open(designDoc)
	if err != nil {
		t.Fatalf("the import table lives in %s: %v", designDoc, err)
	}
	defer f.Close()
	table := map[string][]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "## ") {
			in = line == "## Imports"
			continue
		}
		if !in || !strings.HasPrefix(line, "|") {
			continue
		}
		cols := strings.Split(strings.Trim(line, "|"), "|")
		if len(cols) != 2 {
			t.Fatalf("%s: import table row %q has %d columns; want 2", designDoc, line, len(cols))
		}
		pkg := strings.TrimSpace(cols[0])
		if pkg == "package" || strings.HasPrefix(pkg, "---") {
			continue // the header and its rule
		}
		if pkg == "(root)" {
			pkg = ""
		}
		var rules []string
		for r := range strings.SplitSeq(cols[1], ",") {
			switch r = strings.TrimSpace(r); r {
			case "std":
			case "anything in the module":
				rules = append(rules, "*")
			default:
				rules = append(rules, r)
			}
		}
		table[pkg] = rules
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(table) < 4 {
		t.Fatalf("%s: found %d rows in the import table; the section is missing or malformed", designDoc, len(table))
	}
	return table
}

// TestImportTable reads every package's imports with go list and fails on any
// import the table does not allow, naming both packages.
func TestImportTable(t *testing.T) {
	table := importTable(t)
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		rules, ok := rulesFor(table, rel)
		if !ok {
			t.Errorf("package %s is not in the import table of %s", p.ImportPath, designDoc)
			continue
		}
		for _, imp := range p.Imports {
			if !permitted(rules, imp) {
				t.Errorf("package %s imports %s, which the import table of %s forbids", p.ImportPath, imp, designDoc)
			}
		}
	}
	if seen < 3 {
		t.Fatalf("go list found %d packages; the module has more", seen)
	}
}

// rulesFor finds the table row of a package: its exact path, or a prefix
// ending in a slash.
func rulesFor(table map[string][]string, rel string) ([]string, bool) {
	if r, ok := table[rel]; ok {
		return r, true
	}
	for prefix, r := range table {
		if strings.HasSuffix(prefix, "/") && strings.HasPrefix(rel, prefix) {
			return r, true
		}
	}
	return nil, false
}

func permitted(rules []string, imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	if !strings.Contains(first, ".") {
		return true // the standard library
	}
	if strings.HasPrefix(imp, module+"/examples") {
		return false // nothing imports examples
	}
	target := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
	for _, r := range rules {
		switch {
		case r == "*" && strings.HasPrefix(imp, module):
			return true
		case r == target, r == imp:
			return true
		case strings.HasSuffix(r, "/") && strings.HasPrefix(imp, r):
			return true
		}
	}
	return false
}

// TestPermitted checks the rule matcher against the table's own cases.
func TestPermitted(t *testing.T) {
	table := importTable(t)
	for _, tc := range []struct {
		pkg, imp string
		want     bool
	}{
		{"ring", "math/bits", true},
		{"ring", "github.com/cespare/xxhash/v2", true},
		{"ring", module + "/placement", false},
		{"ring", "github.com/sony/gobreaker/v2", false},
		{"breaker", module + "/ring", false},
		{"placement", module + "/ring", true},
		{"placement", module + "/breaker", false},
		{"placement", module + "/placement/source", false},
		{"placement/source", module + "/placement", true},
		{"placement/source", module + "/ring", false},
		{"cell", "golang.org/x/sync/singleflight", true},
		{"cell", module + "/placement/source", true},
		{"cell/celltest", module + "/cell", true},
		{"examples/shardstats", module + "/ring", true},
		{"cell", module + "/examples/demo", false},
		{"", module + "/ring", false},
	} {
		rules, ok := rulesFor(table, tc.pkg)
		if !ok {
			t.Errorf("no row for package %q in %s", tc.pkg, designDoc)
			continue
		}
		if got := permitted(rules, tc.imp); got != tc.want {
			t.Errorf("permitted(%s imports %s) = %v; want %v", tc.pkg, tc.imp, got, tc.want)
		}
	}
}
