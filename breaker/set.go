package breaker

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Errors returned by Allow and New. ErrOpen and ErrTooManyProbes wrap
// gobreaker's ErrOpenState and ErrTooManyRequests, so code written against
// gobreaker keeps matching them with errors.Is; ErrForcedOpen and ErrPanic
// wrap ErrOpen, so errors.Is(err, ErrOpen) means "the cell is unavailable"
// whatever the reason.
var (
	// ErrOpen rejects a call to a cell whose breaker is open and ejected.
	ErrOpen error = &wrapped{"breaker: cell is open", gobreaker.ErrOpenState}
	// ErrTooManyProbes rejects a call to a half-open cell whose probes are
	// all in flight.
	ErrTooManyProbes error = &wrapped{"breaker: half-open cell has all its probes in flight", gobreaker.ErrTooManyRequests}
	// ErrForcedOpen rejects a call to a cell forced open.
	ErrForcedOpen error = &wrapped{"breaker: cell is forced open", ErrOpen}
	// ErrPanic rejects a call while the Set panics in FailFast mode.
	ErrPanic error = &wrapped{"breaker: too few cells closed, failing fast", ErrOpen}
	// ErrConfig is wrapped by every *ConfigError.
	ErrConfig = errors.New("breaker: invalid config")
)

// wrapped is a sentinel error that matches another under errors.Is without
// repeating its message.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }

// Set holds one circuit breaker per cell. It is safe for concurrent use; use
// New to make one.
//
// A cell's breaker is created by Sync, or by the first Allow or Force that
// names the cell. The known cells, of which MaxEjected and PanicThreshold
// are fractions, are the cells that have a breaker.
type Set struct {
	cfg   Config // normalized
	epoch time.Time
	width int64 // bucket width in nanoseconds

	cells     atomic.Pointer[table]
	panicking atomic.Bool
	trips     atomic.Uint64 // orders trips, for the ejection queue

	// mu serialises changes to cells and rebalancing. It is never taken
	// while a cell's lock is held; a cell's lock may be taken under it.
	mu    sync.Mutex
	views []cellView // rebalance's scratch

	events eventQueue
}

// New returns a Set configured by cfg, or a *ConfigError if a field is out of
// range. It starts no goroutine.
func New(cfg Config) (*Set, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	s := &Set{
		cfg:    cfg,
		epoch:  time.Now(),
		width:  int64(cfg.Window) / int64(cfg.Buckets),
		events: eventQueue{handler: cfg.OnEvent},
	}
	s.cells.Store(newTable(rand.Uint64(), nil))
	return s, nil
}

// tick returns the window bucket that now falls in.
func (s *Set) tick(now time.Time) int64 {
	return max(int64(now.Sub(s.epoch))/s.width, 0)
}

// Classify maps err to an Outcome with Config.Classify.
func (s *Set) Classify(err error) Outcome { return s.cfg.Classify(err) }

// Ticket is an admitted call. Report its result with Done. The zero Ticket is
// valid and Done on it does nothing.
type Ticket struct {
	b     *cellBreaker
	gen   uint64 // the breaker generation it was admitted in; 0: not judged
	probe uint64 // the half-open probe it is, or 0
}

// Done reports the outcome of the call and its latency, measured by the
// caller, which decides slow calls. Done never blocks on event handlers.
//
// Call Done once per Ticket. A second call is safe: it is ignored for a
// half-open probe, but counted again for any other call. Reports that
// arrive after the breaker changed state are counted in Totals only.
func (t Ticket) Done(o Outcome, latency time.Duration) {
	if t.b != nil {
		t.b.done(t, o.valid(), latency)
	}
}

// Allow asks to call the cell. If the cell may be called, Allow returns a
// Ticket whose Done must report the result; otherwise it returns ErrOpen,
// ErrForcedOpen, ErrTooManyProbes or ErrPanic, all of which match ErrOpen or
// gobreaker's errors under errors.Is.
//
// A call to an open breaker that the ejection cap keeps available, or that a
// Set panicking in FailOpen mode lets through beyond the probes, is admitted;
// its outcome is counted in Totals but not judged.
func (s *Set) Allow(cell string) (Ticket, error) {
	b := s.cells.Load().get(cell)
	if b == nil {
		b = s.add(cell)
	}
	return b.allow()
}

// Available reports whether the cell may be called: false while its breaker is
// open and ejected, while it is forced open, and for every cell while the Set
// panics in FailFast mode; true while it panics in FailOpen mode (unless forced
// open), for half-open cells, and for unknown cells. It takes no lock and does
// not allocate.
func (s *Set) Available(cell string) bool {
	return s.cells.Load().available(cell)
}

// State returns the state of the cell's breaker as overrides make it: Open
// when forced open, Closed when forced closed. An unknown cell is Closed.
func (s *Set) State(cell string) State {
	b := s.cells.Load().get(cell)
	if b == nil {
		return Closed
	}
	return stateOf(b.word.Load())
}

// Panicking reports whether the Set panics: whether the fraction of known
// cells (not counting those forced open) whose breaker is closed is below
// Config.PanicThreshold. It is always false with PanicOff.
func (s *Set) Panicking() bool { return s.panicking.Load() }

// Force overrides the cell's breaker. ForcedOpen and ForcedClosed pause its
// state machine, which keeps counting outcomes but neither trips nor times
// out, until Force(cell, Auto) resumes it where it was: a breaker whose open
// time ran out meanwhile turns half-open, and a closed one judges the outcomes
// in its window. Calls admitted before the change are not judged. Values
// other than Auto, ForcedOpen and ForcedClosed are ignored.
func (s *Set) Force(cell string, f Forced) {
	if f > ForcedClosed {
		return
	}
	b := s.cells.Load().get(cell)
	if b == nil {
		if f == Auto {
			return
		}
		b = s.add(cell)
	}
	if b.force(f, time.Now()) {
		s.rebalance()
	}
}

// Sync makes cells the known cells: it adds breakers for new names and drops
// the breakers of names not listed, whose state is lost (a dropped cell that
// comes back starts closed).
func (s *Set) Sync(cells []string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cells.Load()
	list := make([]*cellBreaker, 0, len(cells))
	seen := make(map[string]bool, len(cells))
	for _, name := range cells {
		if seen[name] {
			continue
		}
		seen[name] = true
		b := old.get(name)
		if b == nil {
			b = s.newCell(name, now)
		}
		list = append(list, b)
	}
	for _, b := range old.cells {
		if !seen[b.name] {
			b.retire()
		}
	}
	slices.SortFunc(list, byName)
	s.cells.Store(newTable(old.seed, list))
	s.rebalanceLocked()
}

// add returns the cell's breaker, creating it if needed.
func (s *Set) add(name string) *cellBreaker {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cells.Load()
	if b := old.get(name); b != nil {
		return b
	}
	b := s.newCell(name, now)
	i, _ := slices.BinarySearchFunc(old.cells, b, byName)
	s.cells.Store(newTable(old.seed, slices.Insert(slices.Clone(old.cells), i, b)))
	s.rebalanceLocked()
	return b
}

func byName(x, y *cellBreaker) int { return strings.Compare(x.name, y.name) }

// CellState describes a cell's breaker, for metrics.
type CellState struct {
	Cell   string
	State  State  // as State reports it
	Forced Forced // the override
	// Ejected is true when the breaker is open and counted against
	// MaxEjected: Allow rejects its calls. An open breaker over the cap is
	// tracked instead: not ejected, available, ejected when room frees.
	Ejected bool
	// Available is what Available reports.
	Available bool
	// Panicking is what Panicking reported when the snapshot was taken.
	Panicking bool
	Counts    Counts // the outcomes the breaker judges now
	Totals    Totals
	Probes    int // half-open probes in flight
	// ConsecutiveOpens counts the opens since the breaker last closed from
	// half-open; it scales the open time.
	ConsecutiveOpens int
	// OpenUntil is when the breaker turns half-open, if it is open and not
	// forced.
	OpenUntil time.Time
}

// Snapshot returns the state of every known cell, sorted by cell name.
func (s *Set) Snapshot() []CellState {
	now := time.Now()
	s.mu.Lock() // no rebalance half done: Ejected and Available agree across cells
	defer s.mu.Unlock()
	cells := s.cells.Load().cells
	out := make([]CellState, len(cells))
	panicking := s.panicking.Load()
	for i, b := range cells {
		out[i] = b.snapshot(now)
		out[i].Panicking = panicking
	}
	return out
}
