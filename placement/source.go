package placement

import (
	"context"
	"strings"
)

// A Source delivers successive maps, each newer than the last. Next blocks
// until a map newer than the one it last returned is available, a poll fails,
// or ctx is done. Package placement/source has the static, file and HTTP
// sources; others (etcd) live in their own modules.
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
// A Source never delivers a map whose version is lower than the one it last
// delivered, nor a different document under the same version: it reports it
// as ErrStaleVersion. The same document again is not news and is neither
// delivered nor reported.
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
// accepted. Err matches ErrFetch when the document could not be read at all;
// otherwise it is the error that refused it: a *FieldError (ErrStaleVersion,
// ErrSignature, ErrLimit among others), or an error of the source's own
// package, such as a failed integrity check.
type SourceError struct {
	Source string // the file's path or the URL
	Err    error
}

func (e *SourceError) Error() string {
	return "placement: source " + e.Source + ": " + strings.TrimPrefix(e.Err.Error(), "placement: ")
}

func (e *SourceError) Unwrap() error { return e.Err }
