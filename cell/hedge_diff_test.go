package cell_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
)

// The differential test of the hedged attempt loop: on random scripts of
// outcomes (each cell of the key's shard answers after a scripted latency
// with a success, a failure, the application's answer, an error Classify
// ignores, or never), a client whose hedges never fire must do exactly what
// the sequential loop does: the same attempts at the same cells with the same
// outcomes, the same failovers and skipped cells, the same breaker counts, the
// same error and the same time taken. With hedges firing, the hedged loop
// must keep the sequential loop's guarantees: every attempt returned before
// Do, no cell called twice, the shard's order, no more attempts than hops and
// hedges allow, losers not counted against their cells, and a success
// wherever the sequential loop found one.

var (
	errScriptFail    = errors.New("script: the cell failed")
	errScriptAnswer  = errors.New("script: the application's answer")
	errScriptIgnored = errors.New("script: an error Classify ignores")
)

func scriptClassify(err error) breaker.Outcome {
	switch {
	case errors.Is(err, errScriptAnswer):
		return breaker.Success
	case errors.Is(err, errScriptIgnored):
		return breaker.Ignored
	}
	return breaker.Failure
}

type stepKind uint8

const (
	stepOK stepKind = iota
	stepFail
	stepAnswer
	stepIgnored
	stepSilent // never answers: the attempt's deadline or the caller's ends it
)

func (k stepKind) String() string {
	return [...]string{"ok", "fail", "answer", "ignored", "silent"}[k]
}

type step struct {
	kind stepKind
	lat  time.Duration
}

// A script is one call: what each cell does, and the client's settings.
type script struct {
	steps          map[string]step
	forcedOpen     []string
	hops           int
	budget         cell.Budget
	attemptTimeout time.Duration
	callerTimeout  time.Duration // 0: none
}

func (s script) String() string {
	ids := make([]string, 0, len(s.steps))
	for id := range s.steps {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := fmt.Sprintf("hops %d, budget %+v, attempt timeout %v, caller timeout %v, forced open %v:",
		s.hops, s.budget, s.attemptTimeout, s.callerTimeout, s.forcedOpen)
	for _, id := range ids {
		out += fmt.Sprintf(" %s=%v/%v", id, s.steps[id].kind, s.steps[id].lat)
	}
	return out
}

// fixedSource delivers one map, then waits for the end of Run.
type fixedSource struct {
	m    *placement.Map
	once sync.Once
}

func (s *fixedSource) Next(ctx context.Context) (*placement.Map, error) {
	delivered := false
	s.once.Do(func() { delivered = true })
	if delivered {
		return s.m, nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// startClient returns a ready client on m, stopped at cleanup.
func startClient(tb testing.TB, m *placement.Map, cfg cell.Config) *cell.Client {
	tb.Helper()
	cfg.Source = &fixedSource{m: m}
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := cell.NewClient(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	<-c.Ready()
	return c
}

// A trace is what one call did, as the client's observer and breakers saw it.
type trace struct {
	mu          sync.Mutex
	attempts    []string // "cell#attempt:outcome", in the order the client judged them
	hedges      []string
	failovers   []string
	unavailable []string
	started     map[string]int
	ended       map[string]error // what fn returned, by cell
	running     int
	maxRunning  int
	startOrder  []string

	err     string
	elapsed time.Duration
	totals  map[string]breaker.Totals
	leaked  int // fn calls still running when Do returned
}

func (tr *trace) String() string {
	return fmt.Sprintf("started %v, attempts %v, hedges %v, failovers %v, skipped %v, err %q, %v",
		tr.startOrder, tr.attempts, tr.hedges, tr.failovers, tr.unavailable, tr.err, tr.elapsed)
}

func (tr *trace) observer() cell.Observer {
	return cell.Observer{
		Attempt: func(a cell.AttemptInfo) {
			tr.mu.Lock()
			tr.attempts = append(tr.attempts, fmt.Sprintf("%s#%d:%v", a.Cell, a.Attempt, a.Outcome))
			tr.mu.Unlock()
		},
		Failover: func(f cell.FailoverInfo) {
			tr.mu.Lock()
			tr.failovers = append(tr.failovers, fmt.Sprintf("%s->%s#%d", f.From, f.To, f.Attempt))
			tr.mu.Unlock()
		},
		Hedge: func(f cell.FailoverInfo) {
			tr.mu.Lock()
			tr.hedges = append(tr.hedges, fmt.Sprintf("%s->%s#%d", f.From, f.To, f.Attempt))
			tr.mu.Unlock()
		},
		Unavailable: func(u cell.UnavailableInfo) {
			tr.mu.Lock()
			tr.unavailable = append(tr.unavailable, fmt.Sprintf("%s:%v", u.Cell, u.Reason))
			tr.mu.Unlock()
		},
	}
}

// fn plays the script.
func (tr *trace) fn(s script) func(context.Context, cell.Route) error {
	return func(ctx context.Context, r cell.Route) error {
		st := s.steps[r.Cell]
		tr.mu.Lock()
		tr.started[r.Cell]++
		tr.startOrder = append(tr.startOrder, r.Cell)
		tr.running++
		tr.maxRunning = max(tr.maxRunning, tr.running)
		tr.mu.Unlock()
		err := st.play(ctx)
		tr.mu.Lock()
		tr.running--
		tr.ended[r.Cell] = err
		tr.mu.Unlock()
		return err
	}
}

// play waits for the step's latency (forever when silent) or the end of
// ctx, and returns the step's result or ctx's error.
func (st step) play(ctx context.Context) error {
	if st.kind == stepSilent {
		<-ctx.Done()
		return ctx.Err()
	}
	t := time.NewTimer(st.lat)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	switch st.kind {
	case stepFail:
		return errScriptFail
	case stepAnswer:
		return errScriptAnswer
	case stepIgnored:
		return errScriptIgnored
	}
	return nil
}

const diffKey = "tenant-7"

// diffMap is eight cells with shuffle shards of five.
func diffMap(tb testing.TB) *placement.Map {
	var cells []string
	for i := range 8 {
		cells = append(cells, fmt.Sprintf("c%d/z%d/active/http://c%d.test", i, i%3, i))
	}
	return mapOf(tb, 1, `, "shardSize": 5`, cells...)
}

// play runs the script on a new client with the given hedging, in the
// caller's synctest bubble.
func play(t *testing.T, m *placement.Map, s script, hedge cell.Hedge) *trace {
	tr := &trace{started: map[string]int{}, ended: map[string]error{}}
	c := startClient(t, m, cell.Config{
		Hops:           s.hops,
		Budget:         s.budget,
		AttemptTimeout: s.attemptTimeout,
		Hedge:          hedge,
		Classify:       scriptClassify,
		Observer:       tr.observer(),
		Breakers:       breaker.Config{ConsecutiveFailures: 1000, MinRequests: 1000, Seed: 1},
	})
	for _, id := range s.forcedOpen {
		if err := c.Breakers().Force(id, breaker.ForcedOpen); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if s.callerTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.callerTimeout)
		defer cancel()
	}
	start := time.Now()
	err := c.Do(ctx, diffKey, cell.Stateless, tr.fn(s))
	tr.elapsed = time.Since(start)
	tr.mu.Lock()
	tr.leaked = tr.running
	tr.mu.Unlock()
	if err != nil {
		tr.err = err.Error()
	}
	tr.totals = map[string]breaker.Totals{}
	for _, st := range c.Breakers().Snapshot() {
		tr.totals[st.Cell] = st.Totals
	}
	return tr
}

// randomScript draws a script for the key's shard. Silent cells need a
// deadline to end their attempts: an attempt timeout or the caller's.
func randomScript(rng *rand.Rand, shard []string, withLatency bool) script {
	s := script{steps: map[string]step{}, hops: rng.IntN(6) - 1}
	switch rng.IntN(4) {
	case 0:
		s.budget = cell.Budget{Ratio: -1, PerSecond: -1} // none
	case 1:
		s.budget = cell.Budget{Ratio: -1, PerSecond: 0.2} // two extra attempts in 10 s
	default:
		s.budget = cell.Budget{PerSecond: 1000}
	}
	switch rng.IntN(3) {
	case 0:
		s.attemptTimeout = 250 * time.Millisecond
	case 1:
		s.attemptTimeout = -1
	}
	if rng.IntN(2) == 0 {
		s.callerTimeout = time.Duration(200+rng.IntN(2000)) * time.Millisecond
	}
	bounded := s.attemptTimeout > 0 || s.callerTimeout > 0
	for _, id := range shard {
		st := step{kind: stepKind(rng.IntN(5))}
		if st.kind == stepSilent && !bounded {
			st.kind = stepFail
		}
		if withLatency {
			st.lat = time.Duration(rng.IntN(400)) * time.Millisecond
		} else {
			st.lat = time.Duration(rng.IntN(4)) * 10 * time.Millisecond
		}
		s.steps[id] = st
	}
	for _, id := range shard {
		if len(s.forcedOpen) < 2 && rng.IntN(5) == 0 {
			s.forcedOpen = append(s.forcedOpen, id)
		}
	}
	return s
}

func shardOf(t *testing.T, m *placement.Map) []string {
	a, err := m.Locate(diffKey)
	if err != nil || len(a.Shard) != 5 {
		t.Fatalf("Locate(%q) = %+v, %v; want a shard of 5", diffKey, a, err)
	}
	return a.Shard
}

// TestHedgeDifferentialNoFire: hedges that never fire change nothing.
func TestHedgeDifferentialNoFire(t *testing.T) {
	m := diffMap(t)
	shard := shardOf(t, m)
	rng := rand.New(rand.NewPCG(17, 11))
	compared := 0
	defer func() {
		if compared < 250 {
			t.Errorf("%d scripts compared; want at least 250", compared)
		}
	}()
	for i := range 300 {
		s := randomScript(rng, shard, false)
		compared++
		var seq, hed *trace
		synctest.Test(t, func(t *testing.T) { seq = play(t, m, s, cell.Hedge{}) })
		synctest.Test(t, func(t *testing.T) { hed = play(t, m, s, cell.Hedge{Delay: time.Hour, Max: 2}) })
		diff := func(what string, a, b any) {
			t.Helper()
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("script %d (%v):\n%s differ:\n  sequential %v\n  hedged     %v", i, s, what, a, b)
			}
		}
		diff("attempts", seq.attempts, hed.attempts)
		diff("failovers", seq.failovers, hed.failovers)
		diff("skipped cells", seq.unavailable, hed.unavailable)
		diff("errors", seq.err, hed.err)
		diff("elapsed", seq.elapsed, hed.elapsed)
		diff("breaker totals", seq.totals, hed.totals)
		if len(hed.hedges) != 0 || hed.maxRunning > 1 {
			t.Fatalf("script %d (%v): a hedge fired (%v, %d at once) with a delay of an hour", i, s, hed.hedges, hed.maxRunning)
		}
		if seq.leaked != 0 || hed.leaked != 0 {
			t.Fatalf("script %d: Do returned with attempts still running", i)
		}
	}
}

// TestHedgeDifferentialFiring: hedges that fire keep the sequential loop's
// guarantees, and find a success wherever the sequential loop does.
func TestHedgeDifferentialFiring(t *testing.T) {
	m := diffMap(t)
	shard := shardOf(t, m)
	rng := rand.New(rand.NewPCG(23, 5))
	for i := range 300 {
		s := randomScript(rng, shard, true)
		// The implication "sequential succeeds, so does hedged" holds when
		// nothing ends a call early: no answer or ignored error (a hedged
		// call may get one from a hedge first), budget to spare, and no
		// caller deadline.
		plain := s.budget.PerSecond == 1000 && s.callerTimeout == 0
		for _, st := range s.steps {
			if st.kind == stepAnswer || st.kind == stepIgnored {
				plain = false
			}
		}
		h := cell.Hedge{Delay: time.Duration(10+rng.IntN(200)) * time.Millisecond, Max: 1 + rng.IntN(2)}
		var seq, hed *trace
		synctest.Test(t, func(t *testing.T) { seq = play(t, m, s, cell.Hedge{}) })
		synctest.Test(t, func(t *testing.T) { hed = play(t, m, s, h) })
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("script %d (%v, hedge %+v): %s\n  sequential: %s\n  hedged:     %s",
				i, s, h, fmt.Sprintf(format, args...), seq, hed)
		}
		if hed.leaked != 0 {
			fail("Do returned with %d attempts running", hed.leaked)
		}
		// No cell twice, in shard order, within what hops and hedges allow.
		pos := -1
		for _, id := range hed.startOrder {
			p := slices.Index(shard, id)
			if p <= pos {
				fail("cell %s called out of the shard's order %v", id, shard)
			}
			pos = p
		}
		hops := min(max(s.hops, 0), len(shard)-1)
		if s.hops == 0 {
			hops = 1
		}
		if n := len(hed.startOrder); n > 1+hops+h.Max || len(hed.hedges) > h.Max {
			fail("%d attempts and %d hedges; at most 1+%d+%d and %d", n, len(hed.hedges), hops, h.Max, h.Max)
		}
		// Losers are not counted against their cells: a cell's failures are
		// exactly its attempts judged Failure.
		for _, id := range shard {
			fails := 0
			for _, a := range hed.attempts {
				if a == fmt.Sprintf("%s#%d:%v", id, attemptOf(a), breaker.Failure) {
					fails++
				}
			}
			if got := hed.totals[id].Failures; got != uint64(fails) {
				fail("breaker of %s counts %d failures; its attempts judged Failure are %d", id, got, fails)
			}
		}
		// An attempt the call cancelled itself (the caller's context only
		// has a deadline, so context.Canceled comes from the call: a loser)
		// is never the cell's failure.
		for id, err := range hed.ended {
			if !errors.Is(err, context.Canceled) {
				continue
			}
			for _, a := range hed.attempts {
				if strings.HasPrefix(a, id+"#") && !strings.HasSuffix(a, ":"+breaker.Ignored.String()) {
					fail("the loser %s was judged %s; want ignored", id, a)
				}
			}
		}
		// A success only from a cell that succeeds.
		if hed.err == "" {
			ok := false
			for _, id := range hed.startOrder {
				ok = ok || s.steps[id].kind == stepOK
			}
			if !ok {
				fail("Do succeeded without a successful attempt")
			}
		}
		if plain && seq.err == "" && hed.err != "" {
			fail("the sequential loop succeeded and the hedged one did not")
		}
		if plain && seq.err == "" && hed.elapsed > seq.elapsed {
			fail("hedging made a successful call slower: %v against %v", hed.elapsed, seq.elapsed)
		}
	}
}

// TestHedgeAttemptDeadlineSkipsUnavailable is the divergence the
// differential test found: by default an attempt's deadline is the caller's
// remaining time divided by the attempts still allowed. The sequential loop
// counted the cells that can still be called; the hedged one counted the
// hops left, callable or not, so with open breakers in the shard it cut its
// last attempt short and failed a call the sequential loop completes. Both
// now share call.attemptDeadline.
func TestHedgeAttemptDeadlineSkipsUnavailable(t *testing.T) {
	m := diffMap(t)
	shard := shardOf(t, m)
	// First cell fails at once; the next three are open; the last answers
	// after 900ms of the caller's 2s: the only attempt left, it may use
	// them all.
	s := script{
		steps:         map[string]step{shard[0]: {kind: stepFail}, shard[4]: {kind: stepOK, lat: 900 * time.Millisecond}},
		forcedOpen:    shard[1:4],
		hops:          4,
		budget:        cell.Budget{PerSecond: 1000},
		callerTimeout: 2 * time.Second,
	}
	var seq, hed *trace
	synctest.Test(t, func(t *testing.T) { seq = play(t, m, s, cell.Hedge{}) })
	synctest.Test(t, func(t *testing.T) { hed = play(t, m, s, cell.Hedge{Delay: time.Hour}) })
	if seq.err != "" {
		t.Fatalf("sequential: %v; want a success at %s", seq, shard[4])
	}
	if hed.err != "" || hed.elapsed != seq.elapsed {
		t.Fatalf("the hedged loop differs from the sequential one:\n  sequential: %v\n  hedged:     %v", seq, hed)
	}
}

// attemptOf reads the attempt number of a trace entry "cell#n:outcome".
func attemptOf(entry string) int {
	var n int
	if i := slices.Index([]byte(entry), '#'); i >= 0 {
		fmt.Sscanf(entry[i+1:], "%d", &n)
	}
	return n
}
