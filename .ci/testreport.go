//go:build ignore

// testreport reads `go test -json` from stdin and prints what plain `go
// test` would: each package's ok or FAIL line, the output of every test that
// failed, and build errors. With -slowest N and JSON files as arguments, it
// prints instead the N slowest tests of those runs, top-level tests only
// (their time includes their subtests'), slowest first. .ci/test uses it so
// that one run gives both the usual output and the time of every test.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

type event struct {
	Action     string
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	ImportPath string
}

func main() {
	slowest := flag.Int("slowest", 0, "print the N slowest tests of the JSON files given as arguments")
	flag.Parse()
	if *slowest > 0 {
		if err := printSlowest(*slowest, flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(1)
		}
		return
	}
	if err := relay(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
}

// relay prints the plain output of a JSON test run as it comes.
func relay(r io.Reader, w io.Writer) error {
	out := map[string][]string{} // package + test → output so far
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			fmt.Fprintln(w, string(line)) // not JSON: go's own message
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(w, e.Output)
		case "output":
			if e.Test == "" {
				// Package level: keep the summary lines and anything
				// printed outside a test (a panic, a TestMain), not the
				// chatter of verbose mode.
				if !strings.HasPrefix(e.Output, "=== ") && e.Output != "PASS\n" {
					fmt.Fprint(w, e.Output)
				}
				continue
			}
			out[key] = append(out[key], e.Output)
		case "fail":
			if e.Test != "" {
				fmt.Fprint(w, strings.Join(out[key], ""))
			}
			delete(out, key)
		case "pass", "skip":
			delete(out, key)
		}
	}
	return sc.Err()
}

type timing struct {
	pkg, test string
	s         float64
}

func printSlowest(n int, files []string) error {
	var ts []timing
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			var e event
			if json.Unmarshal([]byte(line), &e) != nil || e.Test == "" || strings.Contains(e.Test, "/") {
				continue
			}
			if e.Action == "pass" || e.Action == "fail" {
				ts = append(ts, timing{e.Package, e.Test, e.Elapsed})
			}
		}
	}
	slices.SortFunc(ts, func(a, b timing) int {
		switch {
		case a.s > b.s:
			return -1
		case a.s < b.s:
			return 1
		}
		return strings.Compare(a.pkg+a.test, b.pkg+b.test)
	})
	fmt.Printf("== the %d slowest tests (wall seconds; parallel tests overlap)\n", n)
	for _, t := range ts[:min(n, len(ts))] {
		fmt.Printf("%8.2fs  %s %s\n", t.s, t.pkg, t.test)
	}
	return nil
}
