// Command bakegate shows a deployment pipeline gated on cellkit's SLIs by
// label: a new build goes out wave by wave (the cells' "wave" label in the
// placement map), each wave bakes under traffic, and a gate compares the
// wave's error ratio and p99 over the last seconds of the bake with the
// rest of the fleet's. A wave worse than the rest by more than the stated
// margins is held and rolled back, and the waves after it never get the
// build: the blast radius stops at the wave.
//
// The fleet is a celltest fleet on an in-memory network; the bad build, on
// wave -bad, makes its cells fail a fraction -errors of their requests and
// answer -slow later.
//
//	go run ./examples/bakegate
//	go run ./examples/bakegate -bad 3 -errors 0 -slow 40ms
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
	"github.com/cellkit/cellkit/placement"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bakegate:", err)
		os.Exit(2)
	}
}

// A Gate judges a wave against the rest of the fleet over a window of
// Stats (see cell.Stats.Since).
type Gate struct {
	Label string // the cells' label naming their wave
	// MaxErrorPoints is how far the wave's error ratio may exceed the
	// rest's, in points (0.02: two points).
	MaxErrorPoints float64
	// MaxP99Factor is how many times the rest's p99 (of successful
	// attempts) the wave's may be.
	MaxP99Factor float64
	// MinJudged is the number of judged attempts a wave needs in the
	// window to be judged at all; with fewer the gate holds, since it
	// cannot tell.
	MinJudged uint64
}

// A Verdict is a Gate's judgement of one wave.
type Verdict struct {
	Wave       string
	In, Rest   cell.Group
	Hold       bool
	Reasons    []string
	Unhealthy  int // the wave's cells whose breaker is not closed
	WindowSpan time.Duration
}

// Judge judges wave over win, a difference of two snapshots.
func (g Gate) Judge(win *cell.Stats, wave string) Verdict {
	in, rest := win.Split(func(cs *cell.CellStats) bool { return cs.Labels[g.Label] == wave })
	v := Verdict{Wave: wave, In: in, Rest: rest, Unhealthy: in.Unhealthy}
	if in.Judged() < g.MinJudged {
		v.Hold = true
		v.Reasons = append(v.Reasons, fmt.Sprintf("%d judged attempts < %d: too few to tell", in.Judged(), g.MinJudged))
		return v
	}
	if e, r := in.ErrorRatio(), rest.ErrorRatio(); e > r+g.MaxErrorPoints {
		v.Hold = true
		v.Reasons = append(v.Reasons, fmt.Sprintf("error ratio %.1f%% > rest %.1f%% + %.1f points", 100*e, 100*r, 100*g.MaxErrorPoints))
	}
	if p, r := in.P99(), rest.P99(); float64(p) > g.MaxP99Factor*float64(r) {
		v.Hold = true
		v.Reasons = append(v.Reasons, fmt.Sprintf("p99 %v > %.2f x rest %v", round(p), g.MaxP99Factor, round(r)))
	}
	return v
}

// A window keeps the client's last snapshots, one per interval: the gate
// judges the newest less the oldest, the last len-1 intervals.
type window struct {
	snaps []cell.Stats
	at    []time.Time
	size  int
}

func (w *window) push(s cell.Stats, at time.Time) {
	w.snaps, w.at = append(w.snaps, s), append(w.at, at)
	if len(w.snaps) > w.size {
		w.snaps, w.at = w.snaps[1:], w.at[1:]
	}
}

// last returns what happened over the window, and its span.
func (w *window) last() (cell.Stats, time.Duration) {
	n := len(w.snaps)
	return w.snaps[n-1].Since(&w.snaps[0]), w.at[n-1].Sub(w.at[0])
}

type config struct {
	cells, waves, bad, workers int
	errRate                    float64
	slow, base                 time.Duration
	bake, interval, window     time.Duration
	gate                       Gate
}

func run(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("bakegate", flag.ContinueOnError)
	fs.SetOutput(w)
	var c config
	fs.IntVar(&c.cells, "cells", 9, "number of cells")
	fs.IntVar(&c.waves, "waves", 3, "number of waves the cells are dealt to")
	fs.IntVar(&c.bad, "bad", 2, "the wave whose build is bad")
	fs.IntVar(&c.workers, "workers", 24, "concurrent callers")
	fs.Float64Var(&c.errRate, "errors", 0.15, "fraction of requests the bad build fails")
	fs.DurationVar(&c.slow, "slow", 120*time.Millisecond, "the bad build's latency")
	fs.DurationVar(&c.base, "base", 5*time.Millisecond, "the good build's latency")
	fs.DurationVar(&c.bake, "bake", 3*time.Second, "bake time of each wave")
	fs.DurationVar(&c.interval, "interval", 250*time.Millisecond, "snapshot interval")
	fs.DurationVar(&c.window, "window", 2*time.Second, "the gate judges the last window of the bake")
	fs.Float64Var(&c.gate.MaxErrorPoints, "max-error-points", 0.02, "margin on the error ratio over the rest's (0.02: 2 points)")
	fs.Float64Var(&c.gate.MaxP99Factor, "max-p99-factor", 1.5, "margin on the p99 as a factor of the rest's")
	fs.Uint64Var(&c.gate.MinJudged, "min-judged", 50, "judged attempts a wave needs in the window")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.gate.Label = "wave"
	switch {
	case c.cells < 2 || c.cells > 999:
		return errors.New("-cells must be in [2, 999]")
	case c.waves < 2 || c.waves > c.cells:
		return errors.New("-waves must be in [2, cells]")
	case c.bad < 0 || c.bad > c.waves:
		return errors.New("-bad must be in [0, waves] (0: no bad build)")
	case c.workers < 1 || c.workers > 1000:
		return errors.New("-workers must be in [1, 1000]")
	case c.errRate < 0 || c.errRate > 1:
		return errors.New("-errors must be in [0, 1]")
	case c.slow < 0 || c.base < 0:
		return errors.New("-slow and -base must not be negative")
	case c.interval <= 0 || c.window < c.interval || c.bake < c.window:
		return errors.New("need 0 < -interval <= -window <= -bake")
	case c.gate.MaxP99Factor < 1 || c.gate.MaxErrorPoints < 0:
		return errors.New("-max-p99-factor must be >= 1 and -max-error-points >= 0")
	}
	return rollout(c, w)
}

func rollout(c config, w io.Writer) error {
	f, err := celltest.New(celltest.Config{Cells: c.cells, Zones: 3, InMemory: true, Seed: 1})
	if err != nil {
		return err
	}
	defer f.Close()
	client := f.Client()
	<-client.Ready()
	waves := make([][]*celltest.Cell, c.waves)
	m, err := f.Publish(func(b *placement.Builder) error {
		for i, cl := range f.Cells() {
			wave := i%c.waves + 1
			waves[wave-1] = append(waves[wave-1], cl)
			if err := b.SetLabels(cl.ID(), map[string]string{"wave": strconv.Itoa(wave)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := client.Follower().Await(context.Background(), m.Version()); err != nil {
		return err
	}
	for _, cl := range f.Cells() {
		cl.Slow(c.base)
	}

	// The callers: every key's writes, round and round, until stop.
	keys := f.Keys(2000)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range c.workers {
		wg.Go(func() {
			for j := i; ctx.Err() == nil; j += c.workers {
				client.Do(ctx, keys[j%len(keys)], cell.Write, f.Call)
			}
		})
	}
	defer func() { stop(); wg.Wait() }()

	fmt.Fprintf(w, "gate: a wave is held if, over the last %v of its %v bake, its error ratio exceeds the rest's by more than %.1f points,\n",
		c.window, c.bake, 100*c.gate.MaxErrorPoints)
	fmt.Fprintf(w, "      or its p99 (successful attempts) exceeds %.2f x the rest's, or it has fewer than %d judged attempts\n",
		c.gate.MaxP99Factor, c.gate.MinJudged)
	win := &window{size: int(c.window/c.interval) + 1}
	for i, cells := range waves {
		wave := strconv.Itoa(i + 1)
		build := "good build"
		if i+1 == c.bad {
			build = fmt.Sprintf("bad build: %.0f%% errors, %v latency", 100*c.errRate, c.slow)
		}
		fmt.Fprintf(w, "wave %s: %s to %s; baking %v\n", wave, build, ids(cells), c.bake)
		for _, cl := range cells {
			if i+1 == c.bad {
				cl.ErrorRate(c.errRate)
				cl.Slow(c.slow)
			}
		}
		win.snaps, win.at = win.snaps[:0], win.at[:0]
		tick := time.NewTicker(c.interval)
		for start := time.Now(); time.Since(start) < c.bake; {
			<-tick.C
			win.push(client.Stats(), time.Now())
		}
		tick.Stop()
		st, span := win.last()
		v := c.gate.Judge(&st, wave)
		v.WindowSpan = span
		report(w, v)
		if v.Hold {
			for _, cl := range cells {
				cl.Recover()
				cl.Slow(c.base)
			}
			rest := 0
			for _, later := range waves[i+1:] {
				rest += len(later)
			}
			fmt.Fprintf(w, "rollout held at wave %s: the wave is rolled back; %d cells of later waves never got the build\n", wave, rest)
			return nil
		}
	}
	fmt.Fprintln(w, "rollout complete: every wave passed its gate")
	return nil
}

func report(w io.Writer, v Verdict) {
	verdict := "PASS"
	if v.Hold {
		verdict = "HOLD: " + strings.Join(v.Reasons, "; ")
	}
	fmt.Fprintf(w, "  last %v: wave %s %5d judged, error ratio %5.1f%%, p50 %v, p99 %v, %d unhealthy | rest %5d judged, error ratio %5.1f%%, p99 %v\n",
		round(v.WindowSpan), v.Wave, v.In.Judged(), 100*v.In.ErrorRatio(), round(v.In.Success.P50()), round(v.In.P99()), v.Unhealthy,
		v.Rest.Judged(), 100*v.Rest.ErrorRatio(), round(v.Rest.P99()))
	fmt.Fprintf(w, "  -> %s\n", verdict)
}

func ids(cells []*celltest.Cell) string {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = c.ID()
	}
	return strings.Join(s, " ")
}

// round keeps two significant decimals of a latency, for reading.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
