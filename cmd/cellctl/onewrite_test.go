package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoOwnAtomicWrite: cellctl replaces files only through
// placement/source's atomic write (whose directory sync failure is an
// error), not through a copy of its own. It reads cellctl's source for the
// calls such a copy makes.
func TestNoOwnAtomicWrite(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "os" && (sel.Sel.Name == "Rename" || sel.Sel.Name == "CreateTemp" || sel.Sel.Name == "WriteFile") {
				t.Errorf("%s: os.%s: cellctl writes files with source.WriteFileAtomic, not a copy of it", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}
