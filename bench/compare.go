package bench

import (
	"errors"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// Config sizes one comparison. The zero value is the full comparison that
// BENCHMARKS.md quotes.
type Config struct {
	// Count is the number of passes over every timed case; the tables quote
	// each case's median. Passes are interleaved (every case once, then
	// every case again), so that every impl sees the same spells of noise on
	// a shared machine. Default 5.
	Count int
	// BenchTime is the -test.benchtime of each timed run ("1s", "200x").
	// Default "": the testing package's flag as it is (1 s unless set).
	BenchTime string
	// OwnerNs, ShardNs and ShardKs are the sizes of the timed groups.
	// Defaults OwnerNs, ShardNs and ShardKs.
	OwnerNs, ShardNs, ShardKs []int
	// BalanceKeys is the number of keys of cellkit's rows in the balance
	// and movement table. Default BalanceKeys (400,000).
	BalanceKeys int
	// PeerBalanceKeys is the same for the peers. Default BalanceKeys.
	PeerBalanceKeys int
	// StabilityKeys is the number of keys of the stability table; the
	// default, KeyCount, is the timed set.
	StabilityKeys int
	// Progress, when set, is told what runs next; it may be called from
	// several goroutines at once.
	Progress func(string)
}

func (c Config) withDefaults() Config {
	if c.Count == 0 {
		c.Count = 5
	}
	if c.OwnerNs == nil {
		c.OwnerNs = OwnerNs
	}
	if c.ShardNs == nil {
		c.ShardNs = ShardNs
	}
	if c.ShardKs == nil {
		c.ShardKs = ShardKs
	}
	if c.BalanceKeys == 0 {
		c.BalanceKeys = BalanceKeys
	}
	if c.PeerBalanceKeys == 0 {
		c.PeerBalanceKeys = BalanceKeys
	}
	if c.StabilityKeys == 0 {
		c.StabilityKeys = KeyCount
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
	return c
}

// Timing is the result of one Case over every pass.
type Timing struct {
	Case
	Ns     []float64 // ns/op of each pass
	CPU    []float64 // cpu-ns/op of each pass (process CPU time), when measured
	Allocs int64     // allocations per op, of the last pass
	Bytes  int64     // bytes allocated per op, of the last pass
}

// Median returns the median ns/op of the passes, or NaN if there are none.
func (t *Timing) Median() float64 { return median(t.Ns) }

// CPUMedian returns the median cpu-ns/op of the passes, or NaN if it was
// not measured.
func (t *Timing) CPUMedian() float64 {
	if len(t.CPU) != len(t.Ns) {
		return nanValue
	}
	return median(t.CPU)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return nanValue
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Report is everything one comparison measured, in one process.
type Report struct {
	Config    Config
	Started   time.Time
	Elapsed   time.Duration
	Timings   []*Timing // every timed case, in Groups and table order
	Quality   []Quality
	Stability []Stability
}

// Timing returns the timing of group/impl at param, or nil.
func (r *Report) Timing(group, impl, param string) *Timing {
	for _, t := range r.Timings {
		if t.Group == group && t.Impl == impl && t.Param == param {
			return t
		}
	}
	return nil
}

// StabilityK is the shard size of the stability table: the k = 4
// (Infima changes 3.24 of 4 members going from 20 to 21 endpoints).
const StabilityK = 4

// Run runs the whole comparison in this process: every timed case Count
// times, interleaved, then balance, movement and stability. It needs the
// testing flags (testing.Init) when BenchTime is set. A case that fails
// leaves its timing without passes and Run returns an error naming it,
// after running everything else.
func Run(cfg Config) (*Report, error) {
	if cfg.Count < 0 || cfg.BalanceKeys < 0 || cfg.PeerBalanceKeys < 0 || cfg.StabilityKeys < 0 {
		return nil, fmt.Errorf("bench: Config counts must not be negative: %+v", cfg)
	}
	for _, n := range slices.Concat(cfg.OwnerNs, cfg.ShardNs, cfg.ShardKs) {
		if n < 1 {
			return nil, fmt.Errorf("bench: Config sizes must be positive: %v", n)
		}
	}
	cfg = cfg.withDefaults()
	rep := &Report{Config: cfg, Started: time.Now()}
	if cfg.BenchTime != "" {
		f := flag.Lookup("test.benchtime")
		if f == nil {
			return nil, errors.New("bench: Config.BenchTime needs the testing flags: call testing.Init first")
		}
		old := f.Value.String()
		if err := f.Value.Set(cfg.BenchTime); err != nil {
			return nil, fmt.Errorf("bench: Config.BenchTime: %w", err)
		}
		defer f.Value.Set(old)
	}
	for _, g := range Groups {
		var ns, ks []int
		switch g {
		case "Owner":
			ns = cfg.OwnerNs
		case "Shard":
			ns, ks = cfg.ShardNs, cfg.ShardKs
		}
		for _, c := range Cases(g, ns, ks) {
			rep.Timings = append(rep.Timings, &Timing{Case: c})
		}
	}
	var errs []error
	failed := make(map[*Timing]bool)
	for pass := range cfg.Count {
		for _, t := range rep.Timings {
			if failed[t] {
				continue
			}
			cfg.Progress(fmt.Sprintf("pass %d/%d: %s/%s", pass+1, cfg.Count, t.Group, t.Name()))
			res := testing.Benchmark(t.Run)
			if res.N == 0 {
				failed[t] = true
				t.Ns = nil
				errs = append(errs, fmt.Errorf("bench: %s/%s produced no result", t.Group, t.Name()))
				continue
			}
			t.Ns = append(t.Ns, float64(res.T.Nanoseconds())/float64(res.N))
			if c, ok := res.Extra[CPUMetric]; ok {
				t.CPU = append(t.CPU, c)
			}
			t.Allocs, t.Bytes = res.AllocsPerOp(), res.AllocedBytesPerOp()
		}
	}

	// Balance, movement and stability time nothing: they run side by side,
	// GOMAXPROCS at a time, and keep table order.
	var owners []OwnerImpl
	for _, impl := range OwnerImpls {
		if impl.NoQuality == "" {
			owners = append(owners, impl)
		}
	}
	var shards []ShardImpl
	for _, impl := range ShardImpls {
		if impl.NoStability == "" && impl.Supports(StabilityK) {
			shards = append(shards, impl)
		}
	}
	rep.Quality = make([]Quality, len(owners))
	rep.Stability = make([]Stability, len(shards))
	qErrs := make([]error, len(owners)+len(shards))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, impl := range owners {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			keys := cfg.PeerBalanceKeys
			if impl.Ours {
				keys = cfg.BalanceKeys
			}
			cfg.Progress("balance and movement: " + impl.Name)
			q, err := MeasureQuality(impl, BalanceN, Keys(keys))
			if err != nil {
				q.Keys = 0
			}
			rep.Quality[i], qErrs[i] = q, err
		})
	}
	for i, impl := range shards {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cfg.Progress("shard stability: " + impl.Name)
			st, err := MeasureStability(impl, BalanceN, StabilityK, Keys(cfg.StabilityKeys))
			if err != nil {
				st.Keys = 0
			}
			rep.Stability[i], qErrs[len(owners)+i] = st, err
		})
	}
	wg.Wait()
	errs = append(errs, qErrs...)
	rep.Elapsed = time.Since(rep.Started)
	return rep, errors.Join(errs...)
}
