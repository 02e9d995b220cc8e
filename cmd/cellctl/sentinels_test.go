package main

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cellkit/cellkit/placement"
)

// libraryDirs are the packages whose sentinels cellctl names, by their
// directory from cmd/cellctl and the name their errors are printed under.
var libraryDirs = map[string]string{
	"../../placement":            "placement",
	"../../placement/source":     "source",
	"../../placement/etcdsource": "etcdsource",
}

// exportedErrs parses the non-test Go files of dir and returns its exported
// package-level variables named Err…, each with the message of the
// errors.New that defines it ("" when it is defined otherwise).
func exportedErrs(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no Go files (%v)", dir, err)
	}
	errs := make(map[string]string)
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !id.IsExported() || !strings.HasPrefix(id.Name, "Err") {
						continue
					}
					errs[id.Name] = ""
					if i < len(vs.Values) {
						errs[id.Name] = newMessage(vs.Values[i])
					}
				}
			}
		}
	}
	return errs
}

// newMessage returns the message of errors.New("…"), or "".
func newMessage(e ast.Expr) string {
	call, ok := e.(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return ""
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "New" {
		return ""
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	s, err := strconv.Unquote(lit.Value)
	if err != nil {
		return ""
	}
	return s
}

// TestSentinelsComplete enumerates the exported Err variables of
// placement, placement/source and placement/etcdsource from their source
// and checks that each has its kind in sentinels, under its own name and
// bound to the right error (its message is the one its errors.New gives).
// A sentinel added to one of those packages fails this test until cellctl
// names it.
func TestSentinelsComplete(t *testing.T) {
	byName := make(map[string]error)
	for _, s := range sentinels {
		if _, dup := byName[s.name]; dup {
			t.Errorf("kind %s is listed twice", s.name)
		}
		byName[s.name] = s.err
	}
	total := 0
	for dir, pkg := range libraryDirs {
		errs := exportedErrs(t, dir)
		if len(errs) == 0 {
			t.Errorf("%s: found no exported Err variables; the parse is broken", dir)
		}
		for name, msg := range errs {
			total++
			kind := pkg + "." + name
			err, ok := byName[kind]
			switch {
			case !ok:
				t.Errorf("%s is not in cellctl's sentinels: its errors would print no kind", kind)
			case err == nil:
				t.Errorf("%s is nil in cellctl's sentinels", kind)
			case msg != "" && err.Error() != msg:
				t.Errorf("sentinels names %q %s; that is %s's message %q", err, kind, kind, msg)
			}
		}
	}
	if total < 30 {
		t.Fatalf("found %d library sentinels; want at least 30", total)
	}
}

// TestKindOfEveryPlacementError checks, through describe (what --json
// prints), that the errors placement returns for the three sentinels the old
// hand-kept list had lost carry their kind.
func TestKindOfEveryPlacementError(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want error
		kind string
	}{
		{`{"version": 1, "cells": [{"id": "c1", "zone": 7}]}`, placement.ErrType, "placement.ErrType"},
		{"{\"version\": 1, \"cells\": [{\"id\": \"c1\", \"zone\": \"z\xff\"}]}", placement.ErrUTF8, "placement.ErrUTF8"},
		{`{"version": 1, "cells": [{"id": "c1"}], "overrides": {"": "c1"}}`, placement.ErrKey, "placement.ErrKey"},
	} {
		_, err := placement.Parse([]byte(tc.doc))
		if !errors.Is(err, tc.want) {
			t.Fatalf("Parse(%s) = %v; want %v", tc.doc, err, tc.want)
		}
		if got := describe(err).Kind; got != tc.kind {
			t.Errorf("kind of %v = %q; want %q", err, got, tc.kind)
		}
	}
}
