package placement

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"
)

// A Source delivers successive maps, each newer than the last. Next blocks
// until a map newer than the one it last returned is available, a poll fails,
// or ctx is done.
//
// When ctx is done Next returns ctx.Err(); only then does its error match
// context.Canceled or context.DeadlineExceeded. Any other error is a report:
// the source skipped a document it could not fetch or would not accept (a
// *SourceError), and the caller, which keeps its last good map, calls Next
// again. The source paces its polls itself, so calling Next in a loop never
// spins.
//
// The sources of this package never deliver a map whose version is lower
// than the one they last delivered, nor a different document under the same
// version: they report it as ErrStaleVersion. The same document again is not
// news and is neither delivered nor reported.
//
// Next is not for concurrent use by several goroutines; constructors start
// no goroutines and Next leaves none behind.
type Source interface {
	Next(ctx context.Context) (*Map, error)
}

// A Refresher is a Source that can be asked to poll again at once, as a
// client does when a cell replies that a key has moved. Refresh does not
// block and is safe to call from any goroutine. Calls coalesce: however many
// arrive before the next poll starts, they cause that one poll.
type Refresher interface {
	Source
	Refresh()
}

// A SourceError reports a document from a file or a URL that was not
// accepted. Err matches ErrFetch, or is the *FieldError that refused the
// document (ErrStaleVersion among others).
type SourceError struct {
	Source string // the file's path or the URL
	Err    error
}

func (e *SourceError) Error() string {
	return "placement: source " + e.Source + ": " + strings.TrimPrefix(e.Err.Error(), "placement: ")
}

func (e *SourceError) Unwrap() error { return e.Err }

// NewStatic returns a Source of one map: the first Next returns m, later
// calls wait for ctx. A nil m is reported once, as an error wrapping
// ErrFetch, by the first Next. The source is safe for concurrent use;
// exactly one caller gets m.
func NewStatic(m *Map) Source {
	s := &static{nilMap: m == nil}
	s.m.Store(m)
	s.pending.Store(true)
	return s
}

type static struct {
	m       atomic.Pointer[Map]
	pending atomic.Bool // the first Next has not happened
	nilMap  bool
}

func (s *static) Next(ctx context.Context) (*Map, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.pending.Swap(false) {
		if s.nilMap {
			return nil, &SourceError{Source: "static", Err: fmt.Errorf("%w: NewStatic of a nil map", ErrFetch)}
		}
		return s.m.Swap(nil), nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

// A contentKey names what a source fetched: a document and the signatures
// that came with it. Each distinct key is judged once.
type contentKey struct{ doc, sig [sha256.Size]byte }

func keyOf(doc, sig []byte) contentKey {
	return contentKey{sha256.Sum256(doc), sha256.Sum256(sig)}
}

// gate keeps a source's deliveries in version order and remembers what it
// has already judged.
type gate struct {
	judged    contentKey // the last document judged, delivered or not
	hasJudged bool
	delivered bool
	version   uint64            // of the last map delivered
	doc       [sha256.Size]byte // of the last map delivered
}

// seen reports whether k was the last content judged, and records it.
func (g *gate) seen(k contentKey) bool {
	if g.hasJudged && g.judged == k {
		return true
	}
	g.judged, g.hasJudged = k, true
	return false
}

// forget makes the next content be judged even if it was the last judged:
// the source saw something else in between.
func (g *gate) forget() { g.hasJudged = false }

// admit parses a document with any of sigs and checks its version against
// the last delivered. It returns nil, nil for the document last delivered.
func (g *gate) admit(doc []byte, k contentKey, sigs [][]byte, opt Options) (*Map, error) {
	m, err := parseSigned(doc, sigs, opt)
	if err != nil {
		return nil, err
	}
	if g.delivered {
		switch v := m.Version(); {
		case v < g.version:
			return nil, fieldErr(ErrStaleVersion, "version", "", "%d is lower than %d, the version last delivered", v, g.version)
		case v == g.version && k.doc == g.doc:
			return nil, nil
		case v == g.version:
			return nil, fieldErr(ErrStaleVersion, "version", "", "%d did not increase, but the document changed", v)
		}
	}
	g.delivered, g.version, g.doc = true, m.Version(), k.doc
	return m, nil
}

// parseSigned parses doc with the first of sigs that one of opt.PublicKeys
// verifies; when none does, the first makes the error.
func parseSigned(doc []byte, sigs [][]byte, opt Options) (*Map, error) {
	if len(opt.PublicKeys) > 0 {
		opt.Signature = nil
		for _, s := range sigs {
			if verify(doc, s, opt.PublicKeys) == nil {
				opt.Signature = s
				break
			}
		}
		if opt.Signature == nil && len(sigs) > 0 {
			opt.Signature = sigs[0]
		}
	}
	return ParseWith(doc, opt)
}

// pacer schedules a polling source's polls: the first at once, then one an
// interval (with jitter) after the end of the last, or sooner on Refresh.
type pacer struct {
	interval time.Duration
	jitter   float64       // fraction of interval, 0 for none
	minGap   time.Duration // shortest time from a poll's end to a refreshed poll
	refresh  chan struct{} // holds one pending Refresh
	end      time.Time     // of the last poll; zero before the first
	due      time.Time     // of the next poll without Refresh
}

func newPacer(interval, minGap time.Duration, jitter float64) pacer {
	return pacer{interval: interval, jitter: jitter, minGap: min(minGap, interval), refresh: make(chan struct{}, 1)}
}

func (p *pacer) wake() {
	select {
	case p.refresh <- struct{}{}:
	default:
	}
}

// wait blocks until the next poll may start or ctx is done.
func (p *pacer) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	at := p.due
	for !p.end.IsZero() {
		d := time.Until(at)
		if d <= 0 {
			break
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		case <-p.refresh:
			t.Stop()
			if soon := p.end.Add(p.minGap); soon.Before(at) {
				at = soon
			}
		}
	}
	// The poll about to start answers every Refresh made until now.
	select {
	case <-p.refresh:
	default:
	}
	return nil
}

// done records the end of a poll and schedules the next.
func (p *pacer) done() {
	p.end = time.Now()
	d := p.interval
	if p.jitter > 0 {
		d = time.Duration(float64(d) * (1 + p.jitter*(2*rand.Float64()-1)))
	}
	p.due = p.end.Add(d)
}
