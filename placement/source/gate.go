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
// state once however many polls find it.
type reporter struct{ last outcome }

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

// gate keeps a source's deliveries in version order.
type gate struct {
	version uint64            // of the last map delivered, or After
	doc     [sha256.Size]byte // of the last map delivered
	hasDoc  bool              // doc is known: a map was delivered
}

func newGate(after uint64) gate { return gate{version: after} }

// admit parses a document with any of sigs and checks its version against
// the last delivered (or After). It returns nil, nil for a document that is
// not news: the one last delivered, or one of version After.
func (g *gate) admit(doc []byte, k contentKey, sigs [][]byte, opt placement.Options) (*placement.Map, error) {
	m, err := placement.ParseSigned(doc, sigs, opt)
	if err != nil {
		return nil, err
	}
	switch v := m.Version(); {
	case v < g.version && g.hasDoc:
		return nil, fieldErr(ErrStaleVersion, "version", "%d is lower than %d, the version last delivered", v, g.version)
	case v < g.version:
		return nil, fieldErr(ErrStaleVersion, "version", "%d is lower than %d, the version the source started after", v, g.version)
	case v == g.version && (!g.hasDoc || k.doc == g.doc):
		return nil, nil
	case v == g.version:
		return nil, fieldErr(ErrStaleVersion, "version", "%d did not increase, but the document changed", v)
	}
	g.version, g.doc, g.hasDoc = m.Version(), k.doc, true
	return m, nil
}
