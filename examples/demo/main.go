package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	quick    bool
	jsonPath string
	htmlPath string
	verbose  bool
	rate     float64
	workers  int
}

// timing is the length of each part of the scenes.
type timing struct {
	baseline  time.Duration
	fault     time.Duration // the failure scenes (2–4)
	warm      time.Duration // their time before the fault
	drainStep time.Duration
	migPre    time.Duration
	migPhase  time.Duration // copying, flipped and done
	migFreeze time.Duration
	cpBefore  time.Duration
	cpDown    time.Duration
	cpAfter   time.Duration
	waveWarm  time.Duration // the deploy scene: before the deploy,
	waveBake  time.Duration // wave 1's bake time,
	waveAfter time.Duration // and after the gate
}

var (
	fullTiming = timing{
		baseline: 4 * time.Second, fault: 6 * time.Second, warm: 1200 * time.Millisecond,
		drainStep: 1500 * time.Millisecond,
		migPre:    800 * time.Millisecond, migPhase: 1200 * time.Millisecond, migFreeze: 800 * time.Millisecond,
		cpBefore: time.Second, cpDown: 2500 * time.Millisecond, cpAfter: 1500 * time.Millisecond,
		waveWarm: time.Second, waveBake: 3 * time.Second, waveAfter: 1500 * time.Millisecond,
	}
	quickTiming = timing{
		baseline: time.Second, fault: 1600 * time.Millisecond, warm: 350 * time.Millisecond,
		drainStep: 400 * time.Millisecond,
		migPre:    250 * time.Millisecond, migPhase: 350 * time.Millisecond, migFreeze: 300 * time.Millisecond,
		cpBefore: 300 * time.Millisecond, cpDown: 800 * time.Millisecond, cpAfter: 500 * time.Millisecond,
		waveWarm: 300 * time.Millisecond, waveBake: 800 * time.Millisecond, waveAfter: 400 * time.Millisecond,
	}
)

// demo is one run: the fleet, the tenants, and where output goes.
type demo struct {
	opt       options
	t         timing
	fleet     *fleet
	tenants   []string // t-00000 … t-09999
	order     []int    // the order the load visits tenants in
	logger    *slog.Logger
	numScenes int // len(scenes), which the scenes cannot refer to
	progress  io.Writer
	tty       bool
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt options
	fs.BoolVar(&opt.quick, "quick", false, "play the scenes in under 15 s")
	fs.StringVar(&opt.jsonPath, "json", "", "write the measurements and verdicts as JSON to `file` (- for stdout)")
	fs.StringVar(&opt.htmlPath, "html", "", "write a self-contained HTML report to `file`")
	fs.BoolVar(&opt.verbose, "v", false, "log the clients' map and breaker events to stderr")
	fs.Float64Var(&opt.rate, "rate", 2000, "requests per second sent by the service")
	fs.IntVar(&opt.workers, "workers", 16, "client goroutines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case opt.rate < 100 || opt.rate > 100_000:
		return fmt.Errorf("-rate %v: want 100 to 100000 requests per second", opt.rate)
	case opt.workers < 1 || opt.workers > 256:
		return fmt.Errorf("-workers %d: want 1 to 256", opt.workers)
	}
	d := &demo{opt: opt, t: fullTiming, logger: discard, progress: stderr, numScenes: len(scenes)}
	if opt.quick {
		d.t = quickTiming
	}
	if opt.verbose {
		d.logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			d.tty = true
		}
	}
	for i := range numTenants {
		d.tenants = append(d.tenants, fmt.Sprintf("t-%05d", i))
	}
	d.order = rand.New(rand.NewPCG(1, 2)).Perm(numTenants)

	textOut := stdout
	if opt.jsonPath == "-" {
		textOut = stderr
	}
	start := time.Now()
	f, err := newFleet()
	if err != nil {
		return err
	}
	defer f.close()
	d.fleet = f
	fmt.Fprintf(textOut, "cellkit demo: a control plane, %d cells in %d zones and a service with %d tenants, on loopback.\n",
		numCells, numZones, numTenants)
	fmt.Fprintf(textOut, "Each scene starts a fresh client (new breakers, budget and counters) on the control plane's map.\n")

	rep := &Report{
		SchemaVersion: SchemaVersion, Quick: opt.quick, TenantsCount: numTenants, CellsCount: numCells, ZonesCount: numZones,
		Glossary: glossary, Scenes: []*SceneResult{}, Failed: []string{},
	}
	for i, sc := range scenes {
		res, err := sc(d, i+1)
		if err != nil {
			return fmt.Errorf("scene %d: %w", i+1, err)
		}
		res.verdict()
		res.print(textOut, len(scenes))
		rep.Scenes = append(rep.Scenes, res)
		if !res.OK {
			rep.Failed = append(rep.Failed, fmt.Sprintf("%d %s", res.N, res.Name))
		}
	}
	rep.Blast = blastRadius(rep.Scenes)
	printBlast(textOut, rep.Blast)
	rep.OK = len(rep.Failed) == 0
	rep.DurationS = time.Since(start).Seconds()
	fmt.Fprintf(textOut, "\n%d of %d scenes met their expectation in %.1fs.\n", len(rep.Scenes)-len(rep.Failed), len(rep.Scenes), rep.DurationS)

	if opt.jsonPath != "" {
		if err := writeJSON(opt.jsonPath, stdout, rep); err != nil {
			return err
		}
	}
	if opt.htmlPath != "" {
		if err := os.WriteFile(opt.htmlPath, renderHTML(rep), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(textOut, "Report written to %s.\n", opt.htmlPath)
	}
	return rep.err()
}

// err names the scenes that missed their expectation and the checks they
// failed, or returns nil.
func (rep *Report) err() error {
	var why []string
	for _, s := range rep.Scenes {
		if !s.OK {
			why = append(why, fmt.Sprintf("scene %d (%s): %s", s.N, s.Name, s.failedChecks()))
		}
	}
	if len(why) == 0 {
		return nil
	}
	return errors.New("expectation not met: " + strings.Join(why, "; "))
}

func writeJSON(path string, stdout io.Writer, rep *Report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if path == "-" {
		_, err = stdout.Write(data)
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
