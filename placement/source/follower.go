package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cellkit/cellkit/placement"
)

// Origins of the maps a Follower reports, in Update.Origin and
// Status.Origin.
const (
	OriginSource   = "source"    // delivered by FollowerConfig.Source
	OriginLastGood = "last-good" // loaded from FollowerConfig.LastGood
)

// FollowerConfig configures a Follower. Source is required; every other
// field's zero value is valid.
type FollowerConfig struct {
	// Source delivers the maps; required. When it is a Parser, NewFollower
	// gives it Options; when it is a Refresher, Refresh and Await ask it to
	// poll at once.
	Source Source
	// LastGood is the path of the last-known-good file: Run loads it before
	// anything else, so that the Follower is ready with the control plane
	// down, and saves every map accepted from Source to it (SaveFile).
	// Default "": none.
	LastGood string
	// Options are the one set of parse options: limits and trusted keys,
	// for LastGood and for Source when it is a Parser. Default: placement's
	// defaults, no key trusted.
	Options placement.Options
	// Logger hears every update and every confirmation, never a line per
	// request. Default slog.Default(); slog.New(slog.DiscardHandler) for
	// silence.
	Logger *slog.Logger
	// OnUpdate hears every update, in Run's goroutine, with no lock held;
	// it must not block for long: the next map waits for it. Default: none.
	OnUpdate func(Update)
}

// An Update reports what a Follower did with a map, or an error of its
// source or last-known-good file.
type Update struct {
	// Version is the map's; 0 for an error that carries no map.
	Version uint64
	// Previous is the version in force before; 0 before the first map.
	Previous uint64
	// Accepted says the map is now in force.
	Accepted bool
	// Origin is OriginSource or OriginLastGood.
	Origin string
	// Err says why the map was refused (ErrStaleVersion from the version
	// gate) or what the source reported; for an accepted map, a failure to
	// save the last-known-good file (the map is in force all the same).
	Err error
}

// Status is a snapshot of a Follower, for metrics and health checks.
type Status struct {
	// Version is the map in force's, 0 before the first; Origin where it
	// came from, at AcceptedAt. They change just before the map goes live.
	Version    uint64
	Origin     string
	AcceptedAt time.Time
	// Confirmed is the confirmed version (see Follower.Confirmed).
	Confirmed uint64
	// Updates counts the maps accepted, Refused the maps the version gate
	// refused, SourceErrors the errors the source and the last-known-good
	// file reported.
	Updates, Refused, SourceErrors uint64
	// LastError is the last refusal or source error, at LastErrorAt.
	LastError   error
	LastErrorAt time.Time
	// SaveError is the error of the last save of the last-known-good file,
	// nil when it succeeded.
	SaveError error
}

// A Follower owns the life cycle of the map in force: it runs a Source,
// loads the last-known-good file first, passes every map through the one
// version gate, saves each map it accepts, and holds the map in force for
// every reader in the process: clients (cell.Client), cells (cell.Guard),
// a control plane's Handler. Several readers share one Follower.
//
// The version gate: a map is accepted when its version is higher than the
// one in force (or when none is). A lower version, or another document
// under the version in force, is refused with ErrStaleVersion and reported;
// the map in force stays. The same document again is not news and is
// dropped silently.
//
// Before a map goes live the Follower runs the swap steps its readers
// registered (OnSwap): a client builds its routing table there, so that no
// reader ever sees the new map before its step ran.
//
// # Confirmations
//
// A cell judges each request on the map in force (Judge); the Follower
// counts the requests judged on each map still running. The confirmed
// version is the newest version V such that no request judged on a map
// older than V is still running: once a cell confirms V, nothing it does
// any more follows an older map, and a control plane may start the next
// phase of a migration. The counting costs the request path one atomic
// compare-and-swap and one atomic add; the bookkeeping runs when a map is
// swapped and when the last request of an older map ends.
//
// Map and Judge take no lock; the rest is safe for concurrent use. Run,
// which the caller owns, does the background work: NewFollower starts
// nothing, and nothing is left running once Run has returned.
type Follower struct {
	cfg       FollowerConfig
	refresher Refresher // cfg.Source, when it is one

	cur     atomic.Pointer[epoch]
	swapped atomic.Pointer[chan struct{}] // closed and replaced at every swap
	ready   chan struct{}
	running atomic.Bool
	stopped chan struct{} // closed when Run returns

	// swapMu serializes the swap steps with their registration, so that a
	// step registered while Run swaps sees every map exactly once.
	swapMu sync.Mutex
	steps  []*swapStep

	// mu guards the status and the confirmation bookkeeping. It is never
	// held while a hook, a step or the logger runs.
	mu        sync.Mutex
	status    Status
	older     []*epoch // maps no longer in force with requests maybe running, oldest first
	confirmed atomic.Uint64
	confirmCh atomic.Pointer[chan struct{}] // closed and replaced when confirmed changes
}

// An epoch is one map in force, and the count of what holds it: the
// requests judged on it still running, plus one while it is in force. The
// count reaches 0 once, when the map is no longer in force and its last
// request has ended; it never rises again.
type epoch struct {
	m       *placement.Map
	refs    atomic.Int64
	drained bool // refs reached 0; guarded by Follower.mu
}

type swapStep struct{ fn func(*placement.Map) }

// NewFollower returns a Follower of cfg.Source, or an error matching
// ErrConfig. It starts nothing: Run does the work.
func NewFollower(cfg FollowerConfig) (*Follower, error) {
	if cfg.Source == nil {
		return nil, fmt.Errorf("%w: FollowerConfig.Source is required", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	f := &Follower{cfg: cfg, ready: make(chan struct{}), stopped: make(chan struct{})}
	f.refresher, _ = cfg.Source.(Refresher)
	if p, ok := cfg.Source.(Parser); ok {
		p.SetParse(cfg.Options, f.Map)
	}
	ch, cc := make(chan struct{}), make(chan struct{})
	f.swapped.Store(&ch)
	f.confirmCh.Store(&cc)
	return f, nil
}

// Map returns the map in force, or nil before the first. It takes no lock.
func (f *Follower) Map() *placement.Map {
	if e := f.cur.Load(); e != nil {
		return e.m
	}
	return nil
}

// Ready returns a channel that is closed once a first map is in force.
func (f *Follower) Ready() <-chan struct{} { return f.ready }

// Refresh asks the source to poll at once, when it is a Refresher; see
// Refresher. It never blocks.
func (f *Follower) Refresh() {
	if f.refresher != nil {
		f.refresher.Refresh()
	}
}

// Await returns the map in force once its version is at least v, asking
// the source to poll at once (Refresh). It returns ctx's error when ctx
// ends first, and an error matching ErrStopped once Run has returned
// without such a map.
func (f *Follower) Await(ctx context.Context, v uint64) (*placement.Map, error) {
	for {
		ch := *f.swapped.Load()
		if m := f.Map(); m != nil && m.Version() >= v {
			return m, nil
		}
		f.Refresh()
		select {
		case <-ch:
		case <-f.stopped:
			if m := f.Map(); m != nil && m.Version() >= v {
				return m, nil
			}
			return nil, fmt.Errorf("%w: no map of version %d", ErrStopped, v)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// OnSwap registers step, which the Follower runs with every map before the
// map goes live (before Map returns it), in Run's goroutine, one step at a
// time; if a map is already in force, OnSwap runs step with it before it
// returns. A step must not call OnSwap or the function it returns, and
// must not block for long: the map waits for it. remove unregisters step;
// once it has returned, step is not running and will not run again.
func (f *Follower) OnSwap(step func(*placement.Map)) (remove func()) {
	s := &swapStep{fn: step}
	f.swapMu.Lock()
	defer f.swapMu.Unlock()
	if m := f.Map(); m != nil {
		step(m)
	}
	f.steps = append(f.steps, s)
	return func() {
		f.swapMu.Lock()
		defer f.swapMu.Unlock()
		for i, x := range f.steps {
			if x == s {
				f.steps = append(f.steps[:i:i], f.steps[i+1:]...)
				return
			}
		}
	}
}

// Status returns a snapshot of the Follower.
func (f *Follower) Status() Status {
	f.mu.Lock()
	s := f.status
	f.mu.Unlock()
	s.Confirmed = f.confirmed.Load()
	return s
}

// Run loads the last-known-good file when FollowerConfig.LastGood is set,
// then consumes the source until ctx ends, and returns ctx's error. It
// returns ErrRunning at once if called again, even after the first Run has
// returned: a Follower follows its source once.
func (f *Follower) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer close(f.stopped)
	if path := f.cfg.LastGood; path != "" {
		m, err := LoadFile(path, f.cfg.Options)
		switch {
		case err == nil:
			f.offer(m, OriginLastGood)
		case errors.Is(err, fs.ErrNotExist):
			f.cfg.Logger.Info("source: no last-known-good map yet", "path", path)
		default:
			f.sourceError(fmt.Errorf("source: last-known-good map: %w", err), OriginLastGood)
		}
	}
	backoff, fast := time.Duration(0), 0
	for {
		start := time.Now()
		m, err := f.cfg.Source.Next(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil && m == nil {
			err = errors.New("source: the source delivered no map and no error")
		}
		if err != nil {
			f.sourceError(err, OriginSource)
			// A source paces its own polls; this only guards against one
			// that keeps failing without waiting, which would spin. A few
			// quick errors in a row are legitimate (a poll that Refresh or a
			// change woke).
			if time.Since(start) >= time.Millisecond {
				fast, backoff = 0, 0
			} else if fast++; fast >= spinErrors {
				backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
				if !sleep(ctx, backoff) {
					return ctx.Err()
				}
			}
			continue
		}
		fast, backoff = 0, 0
		f.offer(m, OriginSource)
	}
}

// spinErrors is the number of errors in a row, each returned by the source
// within a millisecond, after which Run waits before calling it again.
const spinErrors = 8

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// admit is the version gate, the one in cellkit: it reports whether m is
// news against cur, the map in force (nil for none), and why not when m
// must be refused. The same document again is not news and no error.
func admit(cur, m *placement.Map) (bool, error) {
	if cur == nil {
		return true, nil
	}
	switch v, in := m.Version(), cur.Version(); {
	case v > in:
		return true, nil
	case v < in:
		return false, fmt.Errorf("source: map version %d is lower than version %d in force: %w", v, in, ErrStaleVersion)
	case bytes.Equal(m.Bytes(), cur.Bytes()):
		return false, nil
	default:
		return false, fmt.Errorf("source: another document under version %d in force: %w", v, ErrStaleVersion)
	}
}

// offer passes m through the gate and makes it the map in force. Only Run's
// goroutine calls it.
func (f *Follower) offer(m *placement.Map, origin string) {
	cur := f.Map()
	var prev uint64
	if cur != nil {
		prev = cur.Version()
	}
	news, err := admit(cur, m)
	if err != nil {
		f.mu.Lock()
		f.status.Refused++
		f.status.LastError, f.status.LastErrorAt = err, time.Now()
		f.mu.Unlock()
		f.cfg.Logger.Warn("source: map refused", "version", m.Version(), "in_force", prev, "origin", origin, "err", err)
		f.report(Update{Version: m.Version(), Previous: prev, Origin: origin, Err: err})
		return
	}
	if !news {
		return
	}
	// The status first: a reader that sees the map (a client ready at its
	// swap step) sees its status too.
	f.mu.Lock()
	f.status.Updates++
	f.status.Version, f.status.Origin, f.status.AcceptedAt = m.Version(), origin, time.Now()
	f.mu.Unlock()
	f.swap(m)
	var saveErr error
	if f.cfg.LastGood != "" && origin != OriginLastGood {
		saveErr = SaveFile(f.cfg.LastGood, m)
	}
	f.mu.Lock()
	f.status.SaveError = saveErr
	f.mu.Unlock()
	log := f.cfg.Logger
	if saveErr != nil {
		log.Error("source: cannot save the last-known-good map", "path", f.cfg.LastGood, "version", m.Version(), "err", saveErr)
	}
	log.Info("source: map accepted", "version", m.Version(), "previous", prev, "origin", origin)
	f.report(Update{Version: m.Version(), Previous: prev, Accepted: true, Origin: origin, Err: saveErr})
	f.confirm()
}

func (f *Follower) sourceError(err error, origin string) {
	var prev uint64
	if m := f.Map(); m != nil {
		prev = m.Version()
	}
	f.mu.Lock()
	f.status.SourceErrors++
	f.status.LastError, f.status.LastErrorAt = err, time.Now()
	f.mu.Unlock()
	f.cfg.Logger.Warn("source: source error; keeping the map in force", "in_force", prev, "origin", origin, "err", err)
	f.report(Update{Previous: prev, Origin: origin, Err: err})
}

func (f *Follower) report(u Update) {
	if h := f.cfg.OnUpdate; h != nil {
		h(u)
	}
}

// swap runs the steps, then makes m the map in force, and retires the map
// it replaces: its own reference is dropped, and it drains once the
// requests judged on it have ended.
func (f *Follower) swap(m *placement.Map) {
	e := &epoch{m: m}
	e.refs.Store(1)
	f.swapMu.Lock()
	for _, s := range f.steps {
		s.fn(m)
	}
	// The map goes live and the one it replaces joins the older maps in one
	// step under mu, so that confirm never sees the new map in force
	// without the old one among the older maps.
	f.mu.Lock()
	old := f.cur.Swap(e)
	if old != nil {
		f.older = append(f.older, old)
	}
	f.mu.Unlock()
	f.swapMu.Unlock()
	if old != nil {
		f.release(old)
	}
	ch := make(chan struct{})
	close(*f.swapped.Swap(&ch))
	select {
	case <-f.ready:
	default:
		close(f.ready)
	}
}

// A Judgment is one request judged on the map in force when it started.
// The zero Judgment holds no map. Done must be called exactly once, when
// the request ends.
type Judgment struct {
	f *Follower
	e *epoch
	m *placement.Map // the map of a Holder that counts nothing (JudgeOn)
}

// Map returns the map the request is judged on; nil before the first map.
func (j Judgment) Map() *placement.Map {
	if j.e == nil {
		return j.m
	}
	return j.e.m
}

// Done ends the request; see Judge.
func (j Judgment) Done() {
	if j.e != nil {
		j.f.release(j.e)
	}
}

// JudgeOn starts a request judged on h's map: Follower.Judge when h is a
// Follower (or anything else that counts its requests), else a Judgment
// that holds h's map and counts nothing. Cells' Guards, over HTTP and gRPC,
// judge every request through it.
func JudgeOn(h Holder) Judgment {
	if j, ok := h.(interface{ Judge() Judgment }); ok {
		return j.Judge()
	}
	return Judgment{m: h.Map()}
}

// Judge starts a request judged on the map in force, which the Judgment
// holds, and counts it until Judgment.Done: the confirmed version cannot
// pass the map's version while the request runs. It takes no lock and
// does not allocate.
func (f *Follower) Judge() Judgment {
	for {
		e := f.cur.Load()
		if e == nil {
			return Judgment{}
		}
		for n := e.refs.Load(); n > 0; n = e.refs.Load() {
			if e.refs.CompareAndSwap(n, n+1) {
				return Judgment{f: f, e: e}
			}
		}
		// e drained between the load and the count: a newer map is in
		// force; judge on it.
	}
}

// release drops one reference of e; the last one drains it.
func (f *Follower) release(e *epoch) {
	if e.refs.Add(-1) != 0 {
		return
	}
	f.mu.Lock()
	e.drained = true
	f.mu.Unlock()
	f.confirm()
}

// Confirmed returns the confirmed version: the newest version V such that
// no request judged (Judge) on a map older than V is still running. It is
// 0 before the first map, and at most the version in force.
func (f *Follower) Confirmed() uint64 { return f.confirmed.Load() }

// AwaitConfirmed returns the confirmed version once it is above after,
// or ctx's error when ctx ends first. A cell that publishes its
// confirmations (to etcd, for instance) loops on it:
//
//	for v := uint64(0); ; {
//		v, err = f.AwaitConfirmed(ctx, v)
//		...publish v...
//	}
func (f *Follower) AwaitConfirmed(ctx context.Context, after uint64) (uint64, error) {
	for {
		ch := *f.confirmCh.Load()
		if v := f.confirmed.Load(); v > after {
			return v, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// confirm recomputes the confirmed version: the version of the oldest map
// with requests still running, or the version in force when none is.
func (f *Follower) confirm() {
	f.mu.Lock()
	i := 0
	for i < len(f.older) && f.older[i].drained {
		f.older[i] = nil
		i++
	}
	f.older = f.older[i:]
	var v uint64
	if len(f.older) > 0 {
		v = f.older[0].m.Version()
	} else if m := f.Map(); m != nil {
		v = m.Version()
	}
	changed := v > f.confirmed.Load()
	if changed {
		f.confirmed.Store(v)
	}
	f.mu.Unlock()
	if !changed {
		return
	}
	ch := make(chan struct{})
	close(*f.confirmCh.Swap(&ch))
	f.cfg.Logger.Info("source: map version confirmed", "confirmed", v)
}
