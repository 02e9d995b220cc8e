package cellkit

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/cellkit/cellkit"

// allowed is the import table of ARCHITECTURE.md §1: the module packages
// (and outside modules) each package may import, beyond the standard library.
var allowed = map[string][]string{
	"":              {},
	"ring":          {"github.com/cespare/xxhash/v2"},
	"breaker":       {"github.com/sony/gobreaker/v2"},
	"placement":     {"ring"},
	"cell":          {"ring", "placement", "breaker", "golang.org/x/sync/"},
	"cell/celltest": {"cell", "placement", "ring", "breaker"},
	"examples/":     {"*"}, // anything in the module
}

// TestImportTable reads every package's imports with go list and fails on any
// import the table does not allow, naming both packages.
func TestImportTable(t *testing.T) {
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
		rules, ok := rulesFor(rel)
		if !ok {
			t.Errorf("package %s is not in the import table of ARCHITECTURE.md §1", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if !permitted(rules, imp) {
				t.Errorf("package %s imports %s, which the import table forbids", p.ImportPath, imp)
			}
		}
	}
	if seen < 3 {
		t.Fatalf("go list found %d packages; the module has more", seen)
	}
}

// rulesFor finds the table row of a package: its exact path, or a prefix
// ending in a slash.
func rulesFor(rel string) ([]string, bool) {
	if r, ok := allowed[rel]; ok {
		return r, true
	}
	for prefix, r := range allowed {
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

// TestPermitted checks the rule matcher on the table's own cases.
func TestPermitted(t *testing.T) {
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
		{"cell", "golang.org/x/sync/singleflight", true},
		{"cell/celltest", module + "/cell", true},
		{"examples/shardstats", module + "/ring", true},
		{"cell", module + "/examples/demo", false},
	} {
		rules, _ := rulesFor(tc.pkg)
		if got := permitted(rules, tc.imp); got != tc.want {
			t.Errorf("permitted(%s imports %s) = %v; want %v", tc.pkg, tc.imp, got, tc.want)
		}
	}
}
