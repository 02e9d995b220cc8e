package breaker

import (
	"context"
	"errors"
	"time"
)

// ErrCaller marks an error as the caller's own fault: a request that could
// not be sent as it was made (a header a request cannot carry, a body that
// failed to read or cannot be sent again). Blame never counts such an error
// against a cell. Package cell wraps it in every such error it returns.
var ErrCaller = errors.New("breaker: the caller's own fault")

// An Attempt is what Blame needs to know of one attempt of a call.
type Attempt struct {
	// Ctx is the caller's context: the one the call was made under, not
	// one derived for the attempt. Nil when unknown: the error alone then
	// decides, through classify.
	Ctx context.Context
	// Expired says that the attempt ran under a deadline of its own,
	// earlier than the caller's, and that deadline had passed when it
	// returned.
	Expired bool
	// Err is what the attempt returned.
	Err error
	// Latency is how long the attempt ran.
	Latency time.Duration
	// Slow is how long the cell takes at most when it is healthy, as the
	// caller has seen it: an attempt that the caller's own deadline cut
	// after running longer than Slow is the cell's failure. Zero: the
	// caller's deadline never counts against the cell.
	Slow time.Duration
}

// Blame is the one rule that decides whose an attempt's outcome is; package
// cell's Do and Transport and Set.ClassifyContext all use it. In order:
//
//   - a nil error is a Success;
//   - an error matching ErrCaller is Ignored: the caller's request was at
//     fault, not the cell;
//   - when the caller's context is done, the caller ended the call, and the
//     attempt's error, whatever it is, is Ignored; except that an attempt
//     cut by the caller's deadline after running longer than Slow is a
//     Failure: the cell was slower than it is when healthy, and a cell that
//     accepts connections and never answers must not hide behind its
//     callers' deadlines;
//   - an attempt whose own deadline expired is a Failure: the cell was too
//     slow;
//   - context.Canceled or context.DeadlineExceeded while the caller's
//     context is alive is a Failure: the cell, or the path to it, ended the
//     call, and a cell cannot make its failure look like the caller's;
//   - any other error is what classify says (DefaultClassify when nil),
//     where anything but Success and Failure is Ignored.
//
// Blame does not allocate; it reads the caller's context only for errors.
func Blame(a Attempt, classify func(error) Outcome) Outcome {
	if a.Err == nil {
		return Success
	}
	if errors.Is(a.Err, ErrCaller) {
		return Ignored
	}
	if a.Ctx != nil {
		if cerr := a.Ctx.Err(); cerr != nil {
			if cerr == context.DeadlineExceeded && a.Slow > 0 && a.Latency > a.Slow {
				return Failure
			}
			return Ignored
		}
	}
	if a.Expired {
		return Failure
	}
	if a.Ctx != nil && (errors.Is(a.Err, context.Canceled) || errors.Is(a.Err, context.DeadlineExceeded)) {
		return Failure
	}
	if classify == nil {
		classify = DefaultClassify
	}
	return classify(a.Err).valid()
}
