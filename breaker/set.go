package breaker

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Errors returned by Allow, Force and New. ErrOpen and ErrTooManyProbes
// wrap gobreaker's ErrOpenState and ErrTooManyRequests, so code written
// against gobreaker keeps matching them with errors.Is; ErrForcedOpen and
// ErrPanic wrap ErrOpen, so errors.Is(err, ErrOpen) means "the cell is
// unavailable" whatever the reason. ErrUnknownCell matches none of them: a
// cell the Set does not know is a mistake of the caller, not an outage.
var (
	// ErrOpen rejects a call to a cell whose breaker is open and ejected.
	ErrOpen error = &wrapped{"breaker: cell is open", gobreaker.ErrOpenState}
	// ErrTooManyProbes rejects a call to a half-open cell whose probes are
	// all taken.
	ErrTooManyProbes error = &wrapped{"breaker: half-open cell has all its probes in flight", gobreaker.ErrTooManyRequests}
	// ErrForcedOpen rejects a call to a cell forced open.
	ErrForcedOpen error = &wrapped{"breaker: cell is forced open", ErrOpen}
	// ErrPanic rejects a call while the Set panics in FailFast mode.
	ErrPanic error = &wrapped{"breaker: too few cells closed, failing fast", ErrOpen}
	// ErrUnknownCell is wrapped by the *CellError that Allow and Force
	// return for a cell not named by the last Sync.
	ErrUnknownCell = errors.New("breaker: unknown cell")
	// ErrInvalidForced is wrapped by the *CellError that Force returns for
	// a value other than Auto, ForcedOpen and ForcedClosed.
	ErrInvalidForced = errors.New("breaker: invalid Forced value for cell")
	// ErrConfig is wrapped by every *ConfigError.
	ErrConfig = errors.New("breaker: invalid config")
)

// CellError reports a cell a Set cannot act on. It unwraps to Err,
// ErrUnknownCell or ErrInvalidForced.
type CellError struct {
	Cell string
	Err  error
}

// Error returns a message such as `breaker: unknown cell "eu-9"`.
func (e *CellError) Error() string { return e.Err.Error() + " " + strconv.Quote(e.Cell) }

// Unwrap returns Err.
func (e *CellError) Unwrap() error { return e.Err }

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
// The known cells are those named by the last Sync; a new Set knows none.
// Only they have breakers, only they count toward MaxEjected and
// PanicThreshold, and every other name is refused: Allow and Force return a
// *CellError matching ErrUnknownCell and Available reports false, so that a
// mistyped cell ID can neither be called nor change how many real cells may
// be ejected.
type Set struct {
	cfg   Config // normalized
	width int64  // bucket width in nanoseconds

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
		width:  max(int64(cfg.Window)/int64(cfg.Buckets), 1),
		events: eventQueue{handler: cfg.OnEvent},
	}
	s.cells.Store(newTable(rand.Uint64(), nil))
	return s, nil
}

// Classify maps err to an Outcome with Config.Classify.
func (s *Set) Classify(err error) Outcome { return s.cfg.Classify(err) }

// ClassifyContext maps the error of a call made under the caller's ctx to
// an Outcome by Blame, the one rule package cell also uses:
// Blame(Attempt{Ctx: ctx, Err: err}, Config.Classify). So it is Ignored when
// err matches ErrCaller or ctx is done (the caller ended the call, whatever
// err says), a Failure when err is context.Canceled or DeadlineExceeded
// while ctx is alive (the cell or the path to it ended the call), and
// otherwise Classify(err). Pass the caller's context, not one the client
// derived for a single attempt: when the attempt's own deadline fires, the
// caller's ctx is not done, the cell was too slow, and the error counts as a
// Failure.
func (s *Set) ClassifyContext(ctx context.Context, err error) Outcome {
	return Blame(Attempt{Ctx: ctx, Err: err}, s.cfg.Classify)
}

// Allow asks to call the cell. If the cell may be called, Allow returns a
// Ticket whose Done must report the result; otherwise it returns ErrOpen,
// ErrForcedOpen, ErrTooManyProbes or ErrPanic, all of which match ErrOpen or
// gobreaker's errors under errors.Is, or, for a cell not named by the last
// Sync, a *CellError matching ErrUnknownCell.
//
// A call to an open breaker that the ejection cap keeps available, or that a
// Set panicking in FailOpen mode lets through beyond the probes, is admitted;
// its outcome is counted in Totals but not judged.
//
// On a closed breaker Allow takes no lock and does not allocate.
func (s *Set) Allow(cell string) (Ticket, error) {
	b := s.cells.Load().get(cell)
	if b == nil {
		return Ticket{}, &CellError{Cell: cell, Err: ErrUnknownCell}
	}
	return b.allow()
}

// A Breaker is one cell's breaker, as Set.Breaker returns it, for a router
// that routes on a snapshot of the cells (a placement map) and so must be
// able to finish the calls it routed before a Sync dropped their cell.
// While its cell is known, Allow and Available are the Set's; once Sync has
// dropped it, Allow still admits calls (untracked: their outcomes are
// counted in no state), unless the breaker was open or forced open when it
// was dropped. A Breaker is safe for concurrent use.
type Breaker struct {
	b *cellBreaker
}

// Breaker returns the breaker of a cell named by the last Sync, or nil.
// Taking it costs a lookup; its methods then cost none.
func (s *Set) Breaker(cell string) *Breaker {
	if b := s.cells.Load().get(cell); b != nil {
		return b.handle
	}
	return nil
}

// Cell returns the breaker's cell.
func (h *Breaker) Cell() string { return h.b.name }

// Allow is Set.Allow for the breaker's cell, which need not be known any
// more: see Breaker. It never returns ErrUnknownCell.
func (h *Breaker) Allow() (Ticket, error) { return h.b.allow() }

// Available reports whether Allow would admit a call now; see
// Set.Available.
func (h *Breaker) Available() bool { return admits(h.b.word.Load(), h.b.gate.Load()) }

// Available reports whether Allow(cell) would admit a call now, in every
// mode: false for an unknown cell, a cell forced open, an open breaker
// that is ejected, a half-open breaker whose probes are all taken (unless
// the Set panics in FailOpen mode), and every cell not forced closed while
// the Set panics in FailFast mode, except half-open breakers with a probe
// free, so that a router that asks Available before Allow still sends the
// probes that end the panic. Concurrent calls may change the answer at
// once, and Allow may then still refuse. It takes no lock and does not
// allocate.
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
// in its window by the built-in rules (ReadyToTrip waits for the next
// failure). Calls admitted before the change are not judged. The override
// beats panic mode: a cell forced closed is available even while the Set
// fails fast, and one forced open is not while it fails open.
//
// Force returns a *CellError matching ErrUnknownCell for a cell not named by
// the last Sync, and one matching ErrInvalidForced for a value other than
// Auto, ForcedOpen and ForcedClosed; it then changes nothing.
func (s *Set) Force(cell string, f Forced) error {
	if f > ForcedClosed {
		return &CellError{Cell: cell, Err: ErrInvalidForced}
	}
	b := s.cells.Load().get(cell)
	if b == nil {
		return &CellError{Cell: cell, Err: ErrUnknownCell}
	}
	changed, ok := b.force(f, time.Now())
	if !ok {
		return &CellError{Cell: cell, Err: ErrUnknownCell} // dropped by a concurrent Sync
	}
	if changed {
		s.rebalance()
	}
	return nil
}

// Sync makes cells the known cells: it adds closed breakers for new names
// and drops the breakers of names not listed, whose state is lost (a dropped
// cell that comes back starts closed). Tickets of a dropped cell are not
// judged. Duplicate names count once. A Breaker handle of a dropped cell
// stays usable, so that calls routed before the Sync finish.
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
