// Command compare runs the whole comparison of package bench in one
// process: every timed case of every implementation, interleaved over
// -count passes, then balance, movement and shard stability. It prints
// markdown tables whose ratios to cellkit come from this same run and, with
// -svg DIR, writes one SVG chart per table into DIR.
//
//	cd bench && go run ./cmd/compare -svg charts > /tmp/compare.md
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cellkit/cellkit/bench"
)

func main() {
	testing.Init() // testing.Benchmark reads the -test.* flags
	count := flag.Int("count", 5, "passes over every timed case; the tables quote medians")
	benchtime := flag.String("benchtime", "500ms", "time (or Nx iterations) of each timed run")
	svgDir := flag.String("svg", "", "write one SVG chart per table into this directory")
	quick := flag.Bool("quick", false, "the test's small sizes: n = 10 and 100 for owners, n = 50 for shards, fewer keys")
	quiet := flag.Bool("q", false, "do not report progress on standard error")
	flag.Parse()

	cfg := bench.Config{Count: *count, BenchTime: *benchtime}
	if *quick {
		cfg.OwnerNs, cfg.ShardNs = []int{10, 100}, []int{50}
		cfg.PeerBalanceKeys, cfg.StabilityKeys = 50_000, 4096
	}
	if !*quiet {
		cfg.Progress = func(s string) { fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), s) }
	}
	loadBefore := loadavg()
	rep, err := bench.Run(cfg)
	if rep == nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}

	var out bytes.Buffer
	fmt.Fprintf(&out, "## Comparison run %s\n\n", rep.Started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&out, "%s, %s/%s, %s, %d CPUs, GOMAXPROCS %d. Load average %s before, %s after. %d passes of %s per case; medians; %s in all.\n\n",
		cpuModel(), runtime.GOOS, runtime.GOARCH, runtime.Version(), runtime.NumCPU(), runtime.GOMAXPROCS(0),
		loadBefore, loadavg(), rep.Config.Count, *benchtime, rep.Elapsed.Round(time.Second))
	for _, t := range rep.Tables() {
		out.WriteString(t.Markdown())
		if *svgDir != "" {
			name := filepath.Join(*svgDir, t.Name+".svg")
			if err := os.MkdirAll(*svgDir, 0o755); err != nil {
				fmt.Fprintln(os.Stderr, "compare:", err)
				os.Exit(1)
			}
			if err := os.WriteFile(name, t.Chart.SVG(), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "compare:", err)
				os.Exit(1)
			}
			fmt.Fprintf(&out, "\n![%s](%s)\n", t.Chart.Title, filepath.ToSlash(name))
		}
		out.WriteString("\n")
	}
	os.Stdout.Write(out.Bytes())
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " / ")
}
