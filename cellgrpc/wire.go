package cellgrpc

import (
	"context"
	"net/http"
	"strconv"
	"strings"
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
// status error with its ErrorInfo detail, and the trailer to set beside it.
// The values are cell.SetMoved's. The Guard answers with it; a server that
// judges ownership itself can too.
func Moved(self, owner string, version uint64) (metadata.MD, error) {
	h := make(http.Header, 2)
	cell.SetMoved(h, owner, version)
	return reply(codes.FailedPrecondition, ReasonMoved, self, h, "cellgrpc: key is owned by cell "+strconv.Quote(owner))
}

// Refused returns a cell's refusal for now: UNAVAILABLE with why
// (cell.ErrFrozen, else cell.ErrCellBehind), retryAfter (whole seconds,
// rounded up) and the version of the cell's map, as a status error with its
// ErrorInfo detail, and the trailer to set beside it. The values are
// cell.SetRefused's.
func Refused(self string, why error, retryAfter time.Duration, version uint64) (metadata.MD, error) {
	h := make(http.Header, 3)
	cell.SetRefused(h, why, retryAfter, version)
	msg := "cellgrpc: this cell's map is older than the call's"
	if why == cell.ErrFrozen {
		msg = "cellgrpc: writes of this key are frozen by a migration"
	}
	return reply(codes.Unavailable, ReasonRefused, self, h, msg)
}

// reply carries the protocol's headers h as trailers and as an ErrorInfo
// detail, under their names in lower case.
func reply(code codes.Code, reason, self string, h http.Header, msg string) (metadata.MD, error) {
	md := metadata.MD{MDCell: {self}}
	info := make(map[string]string, len(h))
	for k, v := range h {
		k = strings.ToLower(k)
		md[k] = v
		info[k] = v[0]
	}
	st := status.New(code, msg)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: info}); err == nil {
		st = d
	}
	return md, st.Err()
}

// decodeReply reads a protocol reply with cell.DecodeReply, as the HTTP
// status it stands for (FAILED_PRECONDITION for 421, UNAVAILABLE for 503):
// from its ErrorInfo detail, else from its trailers (nil for a unary
// call). It returns a *cell.MovedError, a *cell.RefusedError, or nil.
func decodeReply(st *status.Status, trailer metadata.MD) error {
	code := http.StatusMisdirectedRequest
	switch st.Code() {
	case codes.FailedPrecondition:
	case codes.Unavailable:
		code = http.StatusServiceUnavailable
	default:
		return nil
	}
	h := make(http.Header, 4)
	found := false
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			for k, v := range info.GetMetadata() {
				h.Set(k, v)
			}
			found = true
			break
		}
	}
	if !found {
		for _, k := range [...]string{MDOwner, MDMapVersion, MDRefused, MDRetryAfter} {
			if v := trailer[k]; len(v) > 0 {
				h.Set(k, v[0])
			}
		}
	}
	return cell.DecodeReply(code, h)
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
	switch e := decodeReply(st, trailer).(type) {
	case *cell.MovedError:
		return outcome{err: e}
	case *cell.RefusedError:
		e.Key, e.Cell = r.Key, r.Cell
		return outcome{err: e}
	}
	switch st.Code() {
	case codes.ResourceExhausted:
		// The cell's pushback: Do backs that cell off (its limit halves,
		// it gets no new attempt for the time it asked) and fails over
		// where the class allows, as for an HTTP 429.
		h := make(http.Header, 1)
		if v := trailer[strings.ToLower(cell.HeaderGRPCPushback)]; len(v) > 0 {
			h.Set(cell.HeaderGRPCPushback, v[0])
		}
		if oe, ok := cell.DecodeGRPC(int(codes.ResourceExhausted), h).(*cell.OverloadedError); ok {
			oe.Key, oe.Cell = r.Key, r.Cell
			return outcome{err: oe}
		}
	case codes.Unavailable:
		return outcome{err: err} // the cell, or the connection to it, failed
	case codes.DeadlineExceeded:
		return outcome{err: err} // Do tells the attempt's deadline from the caller's
	case codes.Canceled:
		if callerCtx.Err() != nil {
			return outcome{err: err} // the caller's: Do ignores it
		}
	}
	// Every other code: the application's answer.
	return outcome{answer: true}
}

// awaitDeadline waits, when a cell answered DEADLINE_EXCEEDED, for the
// attempt's context to end too: gRPC sends the deadline to the cell, whose
// timer may fire a little before the client's. Do then judges the attempt
// by whose deadline it was, as for every attempt, instead of taking it for
// the cell ending the call while the caller waits. It waits at most until
// the deadline, and only when that is under a second away.
func awaitDeadline(actx context.Context, err error) {
	if status.Code(err) != codes.DeadlineExceeded {
		return
	}
	if dl, ok := actx.Deadline(); ok && time.Until(dl) < time.Second {
		<-actx.Done()
	}
}
