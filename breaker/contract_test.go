package breaker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"
)

// TestFailFastPanicEndsForARouter routes the way the documented hot path
// does, asking Available before Allow. With most cells tripped the Set
// panics in FailFast mode; the cells have recovered, and the panic must end
// through the probes that Available lets the router send.
func TestFailFastPanicEndsForARouter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cells := cellNames(4)
		s := newSet(t, Config{PanicMode: FailFast, HalfOpenProbes: 1}, cells...)
		for _, cell := range cells[:3] {
			tripCell(t, s, cell)
		}
		if !s.Panicking() {
			t.Fatal("Panicking() = false with 1 of 4 closed; want true")
		}
		route := func() (sent int) {
			for _, cell := range cells {
				if !s.Available(cell) {
					continue
				}
				tk, err := s.Allow(cell)
				if err != nil {
					t.Fatalf("Available(%q) = true, but Allow = %v", cell, err)
				}
				tk.Done(Success, time.Millisecond) // the cells are healthy again
				sent++
			}
			return sent
		}
		for range 120 {
			route()
			time.Sleep(time.Second)
		}
		if s.Panicking() {
			t.Fatal("Panicking() = true after two minutes of routing to recovered cells; want false")
		}
		for _, cell := range cells {
			wantState(t, s, cell, Closed)
		}
		if sent := route(); sent != len(cells) {
			t.Fatalf("router sent %d calls; want %d", sent, len(cells))
		}
	})
}

// TestAvailableInEveryMode checks the cases of the admission rule one by one,
// for each panic mode.
func TestAvailableInEveryMode(t *testing.T) {
	type want struct{ closed, halfOpenFree, halfOpenFull, ejected, forcedOpen, forcedClosed bool }
	tests := []struct {
		mode PanicMode
		want want
	}{
		{PanicOff, want{true, true, false, false, false, true}},
		{FailOpen, want{true, true, true, true, false, true}},
		{FailFast, want{false, true, false, false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// 6 cells with the cap at 6: "open" is ejected; 1 of 6
				// closed panics the Set (except with PanicOff).
				cells := []string{"closed", "half-free", "half-full", "open", "forced-open", "forced-closed"}
				s := newSet(t, Config{PanicMode: tt.mode, MaxEjected: 1, HalfOpenProbes: 1,
					HalfOpenMaxWait: time.Hour, OpenBase: time.Minute, Jitter: -1}, cells...)
				tripCell(t, s, "half-free")
				tripCell(t, s, "half-full")
				time.Sleep(time.Minute + time.Millisecond)
				synctest.Wait()
				if _, err := s.Allow("half-full"); err != nil {
					t.Fatalf("probe: %v", err)
				}
				tripCell(t, s, "open")
				mustForce(t, s, "forced-open", ForcedOpen)
				mustForce(t, s, "forced-closed", ForcedClosed)
				if got := s.Panicking(); got != (tt.mode != PanicOff) {
					// closed and forced-closed of the 5 counted: 2/5 < 0.5
					t.Fatalf("Panicking() = %v; want %v", got, tt.mode != PanicOff)
				}
				for cell, w := range map[string]bool{
					"closed": tt.want.closed, "half-free": tt.want.halfOpenFree, "half-full": tt.want.halfOpenFull,
					"open": tt.want.ejected, "forced-open": tt.want.forcedOpen, "forced-closed": tt.want.forcedClosed,
				} {
					got := s.Available(cell)
					tk, err := s.Allow(cell)
					if got != w || got != (err == nil) {
						t.Errorf("%s: Available = %v, Allow error %v; want %v", cell, got, err, w)
					}
					tk.Done(Ignored, 0)
				}
			})
		})
	}
}

func TestTicketIsSingleUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSet(t, Config{PanicMode: PanicOff, ConsecutiveFailures: 2})
		tk, err := s.Allow("c")
		if err != nil {
			t.Fatal(err)
		}
		copied := tk
		tk.Done(Failure, time.Millisecond)
		tk.Done(Failure, time.Millisecond)
		copied.Done(Failure, time.Millisecond)
		wantState(t, s, "c", Closed) // one failure of two
		cs := cellState(t, s, "c")
		if cs.Counts.Failures != 1 || cs.Totals.Failures != 1 {
			t.Fatalf("Counts.Failures = %d, Totals.Failures = %d after Done three times; want 1, 1", cs.Counts.Failures, cs.Totals.Failures)
		}

		// Many tickets out at once, reported out of order, each twice.
		var out []Ticket
		for range 300 {
			tk, err := s.Allow("c")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tk)
		}
		if got := cellState(t, s, "c").Counts.Requests; got != 301 {
			t.Fatalf("Counts.Requests = %d with 300 in flight; want 301", got)
		}
		r := rand.New(rand.NewPCG(1, 1))
		r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		for _, tk := range out {
			tk.Done(Success, time.Millisecond)
			tk.Done(Failure, time.Millisecond)
		}
		cs = cellState(t, s, "c")
		want := Totals{Successes: 300, Failures: 1}
		if cs.Totals != want || cs.Counts.Requests != 301 || cs.State != Closed {
			t.Fatalf("Totals %+v, Requests %d, %v; want %+v, 301, closed", cs.Totals, cs.Counts.Requests, cs.State, want)
		}

		// A ticket not judged (its breaker changed state) is single-use too.
		old, _ := s.Allow("c")
		tripCell(t, s, "c")
		old.Done(Success, time.Millisecond)
		old.Done(Success, time.Millisecond)
		if got := cellState(t, s, "c").Totals.Successes; got != 301 {
			t.Fatalf("Totals.Successes = %d; want 301", got)
		}
	})
}

// TestReportsMatchesASet is the differential test of the record of reports
// against a map, with tickets left out for ever (lost) and a window small
// enough to forget.
func TestReportsMatchesASet(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	for range 5 {
		var rep reports
		rep.init()
		reported := map[uint64]bool{}
		var issued, newest uint64 // newest: the highest seq reported
		var out []uint64
		var late [][2]uint64 // seq, when to report it
		forgot := 0
		for range 400_000 {
			switch {
			case len(out) == 0 || r.IntN(3) == 0:
				issued++
				switch r.IntN(1000) {
				case 0: // lost
				case 1:
					// about maxReports Tickets later, on either side of the limit
					late = append(late, [2]uint64{issued, issued + maxReports - 2000 + uint64(r.IntN(4000))})
				default:
					out = append(out, issued)
				}
			default:
				var seq uint64
				if i := r.IntN(min(len(out), 1+r.IntN(400))); len(late) == 0 || issued < late[0][1] {
					seq = out[i]
					if r.IntN(4) != 0 {
						out = append(out[:i], out[i+1:]...)
					} // else it will be reported again
				} else {
					seq, late = late[0][0], late[1:]
				}
				// A first report is ignored only once a Ticket issued
				// maxReports or more later has been reported.
				forgotten := newest >= seq+maxReports
				want := !reported[seq] && !forgotten
				if forgotten && !reported[seq] {
					forgot++
				}
				reported[seq] = true
				newest = max(newest, seq)
				if got := rep.first(seq); got != want {
					t.Fatalf("first(%d) = %v, newest reported %d; want %v", seq, got, newest, want)
				}
			}
		}
		if rep.span() > maxReports {
			t.Fatalf("span %d; want at most %d", rep.span(), maxReports)
		}
		if forgot == 0 {
			t.Fatalf("no report came late enough to be forgotten (issued %d)", issued)
		}
	}
}

func TestUnknownCells(t *testing.T) {
	r := new(recorder)
	synctest.Test(t, func(t *testing.T) {
		cells := cellNames(10)
		s := newSet(t, Config{OnEvent: r.record}, cells...)
		typos := []string{"cell-10", "cel-01", "", "CELL-01", "cell-01 ", "a-cell-name-longer-than-16-bytes"}
		for _, typo := range typos {
			for range 3 {
				_, err := s.Allow(typo)
				var ce *CellError
				if !errors.Is(err, ErrUnknownCell) || errors.Is(err, ErrOpen) || !errors.As(err, &ce) || ce.Cell != typo {
					t.Fatalf("Allow(%q) = %v; want a *CellError matching ErrUnknownCell and not ErrOpen", typo, err)
				}
				if want := fmt.Sprintf("breaker: unknown cell %q", typo); err.Error() != want {
					t.Fatalf("Allow(%q) = %q; want %q", typo, err, want)
				}
				if err := s.Force(typo, ForcedOpen); !errors.Is(err, ErrUnknownCell) {
					t.Fatalf("Force(%q, ForcedOpen) = %v; want ErrUnknownCell", typo, err)
				}
				wantAvailable(t, s, typo, false)
			}
		}
		if n := len(s.Snapshot()); n != 10 {
			t.Fatalf("len(Snapshot()) = %d after typos; want 10", n)
		}
		// The cap and the threshold are still fractions of the 10 cells:
		// 5 open breakers are all ejected, a 6th panics the Set.
		for _, cell := range cells[:5] {
			tripCell(t, s, cell)
			wantAvailable(t, s, cell, false)
		}
		if s.Panicking() {
			t.Fatal("Panicking() = true with 5 of 10 closed; want false")
		}
		tripCell(t, s, cells[5])
		if !s.Panicking() {
			t.Fatal("Panicking() = false with 4 of 10 closed; want true")
		}
		synctest.Wait()
		var panics []string
		for _, e := range r.take() {
			if e.Kind == PanicStarted {
				panics = append(panics, fmt.Sprintf("%d/%d", e.ClosedCells, e.Cells))
			}
		}
		if fmt.Sprint(panics) != "[4/10]" {
			t.Fatalf("panic events %v; want [4/10]", panics)
		}
		fresh, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fresh.Allow("c"); !errors.Is(err, ErrUnknownCell) {
			t.Fatalf("Allow(c) before any Sync = %v; want ErrUnknownCell", err)
		}
	})
}

// TestRetiredBreaker covers a breaker dropped by Sync while an Allow or a
// Force holds it: the call is admitted untracked (it was routed before the
// Sync, and must finish), the Force answers as for an unknown cell.
func TestRetiredBreaker(t *testing.T) {
	s := newSet(t, Config{}, "a", "b")
	b := s.cells.Load().get("a")
	s.Sync([]string{"b"})
	if tk, err := b.allow(); err != nil || tk.gen != 0 {
		t.Fatalf("allow on a dropped breaker = %+v, %v; want an untracked Ticket", tk, err)
	}
	if changed, ok := b.force(ForcedOpen, time.Now()); changed || ok {
		t.Fatalf("force on a dropped breaker = %v, %v; want false, false", changed, ok)
	}
}

// TestStaleWordTakesTheLock covers an Allow that read a closed breaker's
// word just before the breaker tripped: it must decide again under the lock,
// and leave no call counted in flight.
func TestStaleWordTakesTheLock(t *testing.T) {
	s := newSet(t, Config{PanicMode: PanicOff})
	b := s.cells.Load().get("c")
	stale := b.word.Load()
	tripCell(t, s, "c")
	if _, err := b.decided(admit, stale); !errors.Is(err, ErrOpen) {
		t.Fatalf("admit on a stale word = %v; want ErrOpen", err)
	}
	if n := uint32(b.inFlight.Load()); n != 0 {
		t.Fatalf("%d calls in flight; want 0", n)
	}
	mustForce(t, s, "c", ForcedClosed)
	stale = b.word.Load()
	mustForce(t, s, "c", Auto)
	mustForce(t, s, "c", ForcedClosed) // a newer generation, closed again
	tk, err := b.decided(admit, stale)
	if err != nil || tk.gen != b.gen {
		t.Fatalf("admit on a stale word = %+v, %v; want a ticket of generation %d", tk, err, b.gen)
	}
	if n := uint32(b.inFlight.Load()); n != 1 {
		t.Fatalf("%d calls in flight; want 1", n)
	}
	tk.Done(Success, 0)
	if n := uint32(b.inFlight.Load()); n != 0 {
		t.Fatalf("%d calls in flight after Done; want 0", n)
	}
}

func TestNoJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSet(t, Config{Jitter: -1, HalfOpenProbes: 1, PanicMode: PanicOff})
		tripCell(t, s, "c")
		for _, want := range []time.Duration{5, 10, 20, 40, 60, 60} {
			if got := time.Until(cellState(t, s, "c").OpenUntil); got != want*time.Second {
				t.Fatalf("open for %v with Jitter -1; want exactly %v", got, want*time.Second)
			}
			openUntilHalfOpen(t, s, "c")
			call(t, s, "c", Failure, time.Millisecond)
		}
	})
	s := newSet(t, Config{Jitter: -0.5})
	if s.cfg.Jitter != 0 {
		t.Errorf("Jitter -0.5 normalized to %v; want 0 (none)", s.cfg.Jitter)
	}
	if s := newSet(t, Config{}); s.cfg.Jitter != defaultJitter {
		t.Errorf("Jitter 0 normalized to %v; want the default %v", s.cfg.Jitter, defaultJitter)
	}
}

func TestNoWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSet(t, Config{Window: -1, ConsecutiveFailures: 3, PanicMode: PanicOff})
		call(t, s, "c", Failure, time.Millisecond)
		call(t, s, "c", Failure, time.Millisecond)
		time.Sleep(24 * time.Hour)
		want := Counts{Requests: 2, Failures: 2, ConsecutiveFailures: 2}
		if got := cellState(t, s, "c").Counts; got != want {
			t.Fatalf("Counts a day later with no window = %+v; want %+v", got, want)
		}
		call(t, s, "c", Failure, time.Millisecond)
		wantState(t, s, "c", Open)
	})
}

func TestHalfOpenWaitsForEver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSet(t, Config{HalfOpenMaxWait: -1, HalfOpenProbes: 1, PanicMode: PanicOff})
		tripCell(t, s, "c")
		openUntilHalfOpen(t, s, "c")
		lost, err := s.Allow("c")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(365 * 24 * time.Hour)
		synctest.Wait()
		wantState(t, s, "c", HalfOpen)
		wantAvailable(t, s, "c", false)
		lost.Done(Success, time.Millisecond)
		wantState(t, s, "c", Closed)
	})
}

type unwrapper struct{ err error }

func (u unwrapper) Error() string { return "unwrapper: " + u.err.Error() }
func (u unwrapper) Unwrap() error { return u.err }

func TestDefaultClassifyChains(t *testing.T) {
	shutdown := fmt.Errorf("breaker_test: shutting down: %w", context.Canceled)
	tests := []struct {
		name string
		err  error
		want Outcome
	}{
		{"a cause wrapping Canceled", shutdown, Ignored},
		{"the cause wrapped again", fmt.Errorf("get: %w", shutdown), Ignored},
		{"joined", errors.Join(errors.New("read: EOF"), context.Canceled), Ignored},
		{"custom Unwrap", unwrapper{fmt.Errorf("x: %w", context.Canceled)}, Ignored},
		{"a bare cause", errors.New("breaker_test: user left"), Failure},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), Failure},
	}
	for _, tt := range tests {
		if got := DefaultClassify(tt.err); got != tt.want {
			t.Errorf("DefaultClassify(%s: %v) = %v; want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestClassifyContext(t *testing.T) {
	s := newSet(t, Config{})
	left := errors.New("breaker_test: user left")
	budget := errors.New("breaker_test: caller's budget spent")

	cancelled, cancel := context.WithCancelCause(context.Background())
	cancel(left)
	expired, cancelExpired := context.WithDeadlineCause(context.Background(), time.Now().Add(-time.Second), budget)
	defer cancelExpired()
	live := context.Background()
	attempt, cancelAttempt := context.WithTimeout(live, -time.Second) // the attempt's own deadline
	defer cancelAttempt()

	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want Outcome
	}{
		{"success", cancelled, nil, Success},
		{"the cause itself", cancelled, left, Ignored},
		{"the cause wrapped", cancelled, fmt.Errorf("get: %w", left), Ignored},
		{"Canceled", cancelled, context.Canceled, Ignored},
		{"a cell error while cancelled", cancelled, errors.New("503"), Ignored}, // the caller ended the call
		{"the caller's fault", live, fmt.Errorf("bad header: %w", ErrCaller), Ignored},
		{"Canceled by the cell", live, context.Canceled, Failure},
		{"DeadlineExceeded by the cell", live, fmt.Errorf("rpc: %w", context.DeadlineExceeded), Failure},
		{"caller's deadline cause", expired, budget, Ignored},
		{"caller's deadline", expired, context.DeadlineExceeded, Ignored},
		{"attempt's deadline", live, attempt.Err(), Failure},
		{"cause of a live ctx", live, left, Failure},
		{"nil ctx", nil, context.Canceled, Ignored}, // DefaultClassify
	}
	for _, tt := range tests {
		if got := s.ClassifyContext(tt.ctx, tt.err); got != tt.want {
			t.Errorf("ClassifyContext(%s, %v) = %v; want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestClassifyContextHTTP shows the case DefaultClassify cannot see: net/http
// returns the cause given to context.WithCancelCause, which does not wrap
// context.Canceled.
func TestClassifyContextHTTP(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	left := errors.New("breaker_test: user left")
	ctx, cancel := context.WithCancelCause(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, func() { cancel(left) })
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("Do returned a response; want the cancellation")
	}
	s := newSet(t, Config{})
	if got := s.ClassifyContext(ctx, err); got != Ignored {
		t.Errorf("ClassifyContext(cancelled, %v) = %v; want ignored", err, got)
	}
	if errors.Is(err, left) && !errors.Is(err, context.Canceled) && s.Classify(err) != Failure {
		t.Errorf("Classify(%v) = %v; want failure: the error alone does not say the caller left", err, s.Classify(err))
	}
}

func TestForcedClosedBeatsFailFast(t *testing.T) {
	cells := cellNames(4)
	s := newSet(t, Config{PanicMode: FailFast}, cells...)
	for _, cell := range cells[:3] {
		tripCell(t, s, cell)
	}
	mustForce(t, s, cells[0], ForcedClosed) // 2 of 4 closed: no panic
	if s.Panicking() {
		t.Fatal("Panicking() = true with 2 of 4 closed; want false")
	}
	mustForce(t, s, cells[0], Auto)
	mustForce(t, s, cells[3], ForcedClosed) // 1 of 4 closed, and forced
	if !s.Panicking() {
		t.Fatal("Panicking() = false with 1 of 4 closed; want true")
	}
	wantAvailable(t, s, cells[3], true)
	call(t, s, cells[3], Success, time.Millisecond)
}
