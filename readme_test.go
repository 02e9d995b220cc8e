package cellkit

import (
	"go/scanner"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cellkit/cellkit/placement"
)

// readmeBlock returns the first fenced block of the given language in
// README.md.
func readmeBlock(t *testing.T, lang string) string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?ms)^```" + lang + "\\s*\\n(.*?)^```").FindStringSubmatch(string(data))
	if m == nil {
		t.Fatalf("README.md has no ```%s block", lang)
	}
	return m[1]
}

// TestReadmeDocument: the map document the README shows is one Parse
// accepts, as a reader would copy it.
func TestReadmeDocument(t *testing.T) {
	doc := readmeBlock(t, "json")
	m, err := placement.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("the README's map document does not parse: %v\n%s", err, doc)
	}
	// Every key migration it shows reads from its from and to only.
	for _, g := range m.Migrations() {
		if g.Key == "" {
			continue
		}
		a, err := m.Locate(g.Key)
		if err != nil || !slices.Contains(a.Read, g.From) {
			t.Errorf("migration of %s: Locate = %+v, %v", g.Key, a, err)
		}
	}
}

// readmeImports are the packages a README example may use by their names.
var readmeImports = map[string]string{
	"placement": "github.com/cellkit/cellkit/placement",
	"source":    "github.com/cellkit/cellkit/placement/source",
	"cell":      "github.com/cellkit/cellkit/cell",
	"celltest":  "github.com/cellkit/cellkit/cell/celltest",
	"breaker":   "github.com/cellkit/cellkit/breaker",
	"ring":      "github.com/cellkit/cellkit/ring",
	"context":   "context",
	"errors":    "errors",
	"fmt":       "fmt",
	"http":      "net/http",
	"log":       "log",
	"slog":      "log/slog",
	"os":        "os",
	"time":      "time",
}

// readmeFree are the names a README snippet may use without declaring
// them, as the README's reader has them: a context, a document's bytes and
// the reader's own call of a cell.
var readmeFree = map[string]string{
	"ctx":      "var ctx = context.Background()",
	"doc":      "var doc []byte",
	"callCell": "func callCell(ctx context.Context, endpoint any) error { return nil }",
}

// TestReadmeExampleCompiles: the README's Go example compiles against this
// module. A snippet without a package clause is wrapped into a function,
// with the imports of the package names it uses (readmeImports) and the
// free names it does not declare (readmeFree); it is built with go build
// in a module of its own that replaces cellkit with this checkout.
func TestReadmeExampleCompiles(t *testing.T) {
	src := readmeBlock(t, "go")
	if !strings.Contains(src, "package ") {
		src = wrapSnippet(src)
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	sum, _ := os.ReadFile(filepath.Join(root, "go.sum"))
	files := map[string]string{
		"go.mod":  "module readmeexample\n\ngo 1.26.0\n\nrequire github.com/cellkit/cellkit v0.0.0\n\nreplace github.com/cellkit/cellkit => " + root + "\n",
		"go.sum":  string(sum),
		"main.go": src,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(goBin, "build", "-mod=mod", "-o", os.DevNull, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false", "GOPROXY=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's Go example does not compile: %v\n%s\n--- as compiled:\n%s", err, out, src)
	}
}

// wrapSnippet makes a program of a README snippet: its statements in a
// function, the imports of the package names it uses, and declarations of
// the free names it uses but does not declare.
func wrapSnippet(snippet string) string {
	used := map[string]bool{}
	declared := map[string]bool{}
	var s scanner.Scanner
	fset := token.NewFileSet()
	s.Init(fset.AddFile("", -1, len(snippet)), []byte(snippet), nil, 0)
	var prev [2]string // the two tokens before
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		text := lit
		if text == "" {
			text = tok.String()
		}
		switch {
		case tok == token.PERIOD && prev[1] != "" && prev[0] != ".":
			used[prev[1]] = true // a selector x.y: x is a package or a value
		case tok == token.DEFINE || tok == token.ASSIGN && prev[0] == "var":
			declared[prev[1]] = true
		}
		if tok == token.IDENT || tok == token.PERIOD {
			prev = [2]string{prev[1], text}
		} else {
			prev = [2]string{prev[1], ""}
		}
		if tok == token.IDENT {
			if _, free := readmeFree[lit]; free {
				used[lit] = true
			}
		}
	}
	var b strings.Builder
	b.WriteString("package main\n\nimport (\n")
	imports := map[string]bool{"context": used["ctx"] || used["callCell"]}
	for name := range used {
		if _, ok := readmeImports[name]; ok && !declared[name] {
			imports[name] = true
		}
	}
	names := make([]string, 0, len(imports))
	for name, ok := range imports {
		if ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		b.WriteString("\t\"" + readmeImports[name] + "\"\n")
	}
	b.WriteString(")\n\nfunc main() { example() }\n\n")
	for _, name := range slices.Sorted(maps.Keys(readmeFree)) {
		if used[name] && !declared[name] {
			b.WriteString(readmeFree[name] + "\n")
		}
	}
	b.WriteString("\nfunc example() {\n" + snippet + "\n}\n")
	return b.String()
}
