package cellgrpc

import (
	"context"
	"strconv"
	"time"

	"github.com/cellkit/cellkit/cell"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The metadata of the cell protocol over gRPC: cell's HTTP header names in
// lower case (gRPC metadata keys are), with the same values. See the
// package documentation for the whole wire format.
const (
	// MDKey is the request metadata that carries the key by default
	// (RouterConfig.KeyHeader, GuardConfig.KeyHeader).
	MDKey = "cell-key"
	// MDCell is the request metadata naming the cell the client chose
	// (cell.HeaderCell), and the trailer naming the cell that refused.
	MDCell = "cell-id"
	// MDMapVersion is the version of the sender's map, decimal
	// (cell.HeaderMapVersion): sent with every attempt, and with every
	// moved reply.
	MDMapVersion = "cell-map-version"
	// MDOwner is the trailer of a moved reply naming the owner
	// (cell.HeaderOwner).
	MDOwner = "cell-owner"
	// MDRefused is the trailer of a refusal, "frozen" or "behind"
	// (cell.HeaderRefused).
	MDRefused = "cell-refused"
	// MDRetryAfter is the trailer of a refusal: whole seconds, decimal
	// (HTTP's Retry-After).
	MDRetryAfter = "retry-after"
)

// Values of MDRefused, as cell.Guard writes them in Cell-Refused.
const (
	refusedFrozen = "frozen"
	refusedBehind = "behind"
)

// The status detail of the protocol's replies: a google.rpc.ErrorInfo in
// this domain, with one of these reasons and the trailers' values as its
// metadata. Clients read it (it costs nothing when the call succeeds, where
// trailers must be asked for on every call); the trailers say the same for
// clients that read trailers.
const (
	ErrorDomain   = "cellkit"
	ReasonMoved   = "CELL_MOVED"
	ReasonRefused = "CELL_REFUSED"
)

// Moved returns a cell's answer to a call whose key it does not own:
// FAILED_PRECONDITION naming owner and the version of the cell's map, as a
// status error with its ErrorInfo detail and the trailer to set beside it.
// The Guard answers with it; a server that judges ownership itself can too.
func Moved(self, owner string, version uint64) (metadata.MD, error) {
	v := strconv.FormatUint(version, 10)
	return metadata.MD{MDCell: {self}, MDOwner: {owner}, MDMapVersion: {v}},
		withInfo(status.New(codes.FailedPrecondition, "cellgrpc: key is owned by cell "+strconv.Quote(owner)),
			ReasonMoved, map[string]string{MDOwner: owner, MDMapVersion: v})
}

// Refused returns a cell's refusal for now: UNAVAILABLE with why
// (cell.ErrFrozen or cell.ErrCellBehind) and retryAfter in whole seconds
// (rounded up), as a status error with its ErrorInfo detail and the trailer
// to set beside it.
func Refused(self string, why error, retryAfter time.Duration) (metadata.MD, error) {
	return refused(self, why, strconv.FormatInt(int64((retryAfter+time.Second-1)/time.Second), 10))
}

func refused(self string, why error, retryAfter string) (metadata.MD, error) {
	word, msg := refusedFrozen, "cellgrpc: writes of this key are frozen by a migration"
	if why == cell.ErrCellBehind {
		word, msg = refusedBehind, "cellgrpc: this cell's map is older than the call's"
	}
	return metadata.MD{MDCell: {self}, MDRefused: {word}, MDRetryAfter: {retryAfter}},
		withInfo(status.New(codes.Unavailable, msg), ReasonRefused, map[string]string{MDRefused: word, MDRetryAfter: retryAfter})
}

func withInfo(st *status.Status, reason string, md map[string]string) error {
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: md}); err == nil {
		st = d
	}
	return st.Err()
}

// An outcome is what the client makes of one attempt's reply (see
// judgeReply): the error Do is to see, and whether the reply is the
// application's answer, returned to the caller as it is.
type outcome struct {
	err    error // for Do: nil for an answer, else the cell's failure or a moved or refused reply
	answer bool  // err is nil and the call's answer is the reply's status
}

// judgeReply judges an attempt's reply, as the HTTP transport judges
// statuses (see the package documentation's table): callerCtx is the
// caller's context; trailer the reply's trailers when the caller has them
// (streams), else nil.
func judgeReply(callerCtx context.Context, r cell.Route, err error, trailer metadata.MD) outcome {
	if err == nil {
		return outcome{answer: true}
	}
	st, ok := status.FromError(err)
	if !ok {
		return outcome{err: err} // not gRPC's: the path to the cell failed
	}
	switch st.Code() {
	case codes.FailedPrecondition:
		if me := movedFrom(protocolInfo(st, trailer)); me != nil {
			return outcome{err: me}
		}
	case codes.Unavailable:
		if re := refusedFrom(r, protocolInfo(st, trailer)); re != nil {
			return outcome{err: re}
		}
		return outcome{err: err} // the cell, or the connection to it, failed
	case codes.DeadlineExceeded:
		return outcome{err: err} // Do tells the attempt's deadline from the caller's
	case codes.Canceled:
		if callerCtx.Err() != nil {
			return outcome{err: err} // the caller's: Do ignores it
		}
	}
	// RESOURCE_EXHAUSTED (the cell's pushback, like HTTP 429) and every
	// other code: the application's answer.
	return outcome{answer: true}
}

// awaitDeadline waits, when a cell answered DEADLINE_EXCEEDED, for the
// attempt's context to end too: gRPC sends the deadline to the cell, whose
// timer may fire a little before the client's. Do then tells the caller's
// deadline (not the cell's fault) from the attempt's own (the cell's)
// as it does for every attempt. It waits at most until the deadline, and
// only when that is under a second away.
func awaitDeadline(actx context.Context, err error) {
	if status.Code(err) != codes.DeadlineExceeded {
		return
	}
	if dl, ok := actx.Deadline(); ok && time.Until(dl) < time.Second {
		<-actx.Done()
	}
}

// protocolInfo returns the protocol's values of a reply: its ErrorInfo
// detail's metadata, else its trailers.
func protocolInfo(st *status.Status, trailer metadata.MD) func(string) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			md := info.GetMetadata()
			return func(k string) string { return md[k] }
		}
	}
	return func(k string) string {
		if v := trailer[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
}

// movedFrom decodes a moved reply, or returns nil when it is not the cell
// protocol's.
func movedFrom(get func(string) string) *cell.MovedError {
	owner := get(MDOwner)
	if owner == "" {
		return nil
	}
	v, err := strconv.ParseUint(get(MDMapVersion), 10, 64)
	if err != nil {
		return nil
	}
	return &cell.MovedError{Cell: owner, Version: v}
}

// refusedFrom decodes a refusal, or returns nil.
func refusedFrom(r cell.Route, get func(string) string) *cell.RefusedError {
	why := get(MDRefused)
	if why == "" {
		return nil
	}
	e := &cell.RefusedError{Key: r.Key, Cell: r.Cell, Err: cell.ErrFrozen}
	if why == refusedBehind {
		e.Err = cell.ErrCellBehind
	}
	if s, err := strconv.ParseUint(get(MDRetryAfter), 10, 32); err == nil {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}
