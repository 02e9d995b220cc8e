package source

import (
	"crypto/sha256"

	"github.com/cellkit/cellkit/placement"
)

// A contentKey names what a source fetched: a document and the signatures
// that came with it.
type contentKey struct{ doc, sig [sha256.Size]byte }

func keyOf(doc, sig []byte) contentKey {
	return contentKey{sha256.Sum256(doc), sha256.Sum256(sig)}
}

// An outcome is the state a poll found: a fetch failure, or content. The
// zero outcome is "nothing yet"; each other outcome is reported once.
type outcome struct {
	failure string     // the cause of a failure; empty for content
	content contentKey // of the content judged
}

// A reporter remembers the last outcome, so that a source reports each
// state once however many polls find it, and the last document delivered,
// so that the same document again (after a failure, or with its signature
// file rewritten) is not delivered twice.
type reporter struct {
	last      outcome
	delivered [sha256.Size]byte
	hasDoc    bool
}

// deliver reports whether a map parsed from content k is news: its
// document is not the one last delivered. It records it.
func (r *reporter) deliver(k contentKey) bool {
	if r.hasDoc && r.delivered == k.doc {
		return false
	}
	r.delivered, r.hasDoc = k.doc, true
	return true
}

// report records o and returns err if o is a new state, nil if it is the
// state last recorded.
func (r *reporter) report(o outcome, err error) error {
	if o == r.last {
		return nil
	}
	r.last = o
	return err
}

// fail records a fetch failure of cause; see report.
func (r *reporter) fail(cause string, err error) error {
	return r.report(outcome{failure: cause}, err)
}

// judged reports whether content k is the state last recorded, and records
// it: content is judged once for as long as nothing else is seen.
func (r *reporter) judged(k contentKey) bool {
	o := outcome{content: k}
	if o == r.last {
		return true
	}
	r.last = o
	return false
}

// parsing is how a Parser of this package parses what it fetched: with the
// options and against the map in force that SetParse gave it.
type parsing struct {
	opt     placement.Options
	max     int                   // opt's MaxBytes: bounds the bytes read
	current func() *placement.Map // the map in force; nil without a Follower
}

func newParsing() parsing {
	return parsing{max: placement.Limits{}.WithDefaults().MaxBytes}
}

func (p *parsing) set(opt placement.Options, current func() *placement.Map) {
	p.opt, p.max, p.current = opt, opt.Limits.WithDefaults().MaxBytes, current
}

// signed reports whether keys are trusted: only then are signatures read.
func (p *parsing) signed() bool { return len(p.opt.PublicKeys) > 0 }

// parse parses doc with any of sigs, as the document that replaces the map
// in force.
func (p *parsing) parse(doc []byte, sigs [][]byte) (*placement.Map, error) {
	var prev *placement.Map
	if p.current != nil {
		prev = p.current()
	}
	return parseNext(prev, doc, sigs, p.opt)
}

// parseNext parses doc, which replaces prev (nil for none). It is the one
// parse of every document a source or LoadFile reads.
func parseNext(prev *placement.Map, doc []byte, sigs [][]byte, opt placement.Options) (*placement.Map, error) {
	return placement.ParseSigned(doc, sigs, opt)
}
