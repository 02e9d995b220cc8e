package source

import (
	"context"
	"strings"

	"github.com/cellkit/cellkit/placement"
)

// A Source delivers the maps a control plane publishes. Next blocks until
// the source has fetched a document it did not deliver last (a new map), a
// poll fails, or ctx is done. This package has the static, file and HTTP
// sources; others (etcd) live in their own modules. A Follower runs a Source.
//
// When ctx is done Next returns ctx.Err(); only then does its error match
// context.Canceled or context.DeadlineExceeded. Any other error is a report:
// the source skipped a document it could not fetch or would not accept (a
// *SourceError), and the caller, which keeps its last good map, calls Next
// again. A source reports each state once: a failure when it begins or its
// cause changes, a refused document when it is first seen, and nothing while
// the state stays the same. The source paces its polls itself, so calling
// Next in a loop never spins.
//
// A Source does not order versions: it delivers whatever new content it
// fetched, older or not. The Follower that runs it is the one version gate
// (see Follower); the same document again is not news and is neither
// delivered nor reported.
//
// Next is not for concurrent use by several goroutines; constructors start
// no goroutines and Next leaves none behind.
type Source interface {
	Next(ctx context.Context) (*placement.Map, error)
}

// A Refresher is a Source that can be asked to poll again at once, as a
// client does when a cell replies that a key has moved. Refresh does not
// block and is safe to call from any goroutine. Calls coalesce: however many
// arrive before the next poll starts, they cause that one poll.
type Refresher interface {
	Source
	Refresh()
}

// A Parser is a Source that parses the documents it fetches, and lets the
// Follower that runs it say how: NewFollower calls SetParse once, before the
// first Next, with the Follower's options (its one set of limits and trusted
// keys) and its Map method, the map in force that a new document replaces.
// Until SetParse, a Parser parses with placement's default options and
// trusts no key. NewFile, NewHTTP and etcdsource return Parsers.
type Parser interface {
	Source
	SetParse(opt placement.Options, current func() *placement.Map)
}

// A SourceError reports a document from a file or a URL that was not
// accepted. Err matches ErrFetch when the document could not be read at all;
// otherwise it is the error that refused it: a *placement.FieldError
// (placement.ErrSignature, placement.ErrLimit among others), ErrStaleVersion
// from the Follower's gate, or an error of this package, such as a failed
// integrity check.
type SourceError struct {
	Source string // the file's path or the URL
	Err    error
}

func (e *SourceError) Error() string {
	msg := strings.TrimPrefix(e.Err.Error(), "placement: ")
	return "source: " + e.Source + ": " + strings.TrimPrefix(msg, "source: ")
}

func (e *SourceError) Unwrap() error { return e.Err }
