package cellgrpc

import (
	"context"
	"strconv"
	"time"

	"github.com/cellkit/cellkit/cell"
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

// An outcome is what the client makes of one attempt's reply (see
// judgeReply): the error Do is to see, and whether the reply is the
// application's answer, returned to the caller as it is.
type outcome struct {
	err    error // for Do: nil for an answer, else the cell's failure or a moved or refused reply
	answer bool  // err is nil and the call's answer is the reply's status
}

// judgeReply judges an attempt's reply, as the HTTP transport judges
// statuses (see the package documentation's table): callerCtx is the
// caller's context, trailer the reply's trailers.
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
		if me := movedFrom(trailer); me != nil {
			return outcome{err: me}
		}
	case codes.Unavailable:
		if re := refusedFrom(r, trailer); re != nil {
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

// movedFrom decodes a moved reply's trailers, or returns nil when they are
// not the cell protocol's.
func movedFrom(md metadata.MD) *cell.MovedError {
	owner := first(md, MDOwner)
	if owner == "" {
		return nil
	}
	v, err := strconv.ParseUint(first(md, MDMapVersion), 10, 64)
	if err != nil {
		return nil
	}
	return &cell.MovedError{Cell: owner, Version: v}
}

// refusedFrom decodes a refusal's trailers, or returns nil.
func refusedFrom(r cell.Route, md metadata.MD) *cell.RefusedError {
	why := first(md, MDRefused)
	if why == "" {
		return nil
	}
	e := &cell.RefusedError{Key: r.Key, Cell: r.Cell, Err: cell.ErrFrozen}
	if why == refusedBehind {
		e.Err = cell.ErrCellBehind
	}
	if s, err := strconv.ParseUint(first(md, MDRetryAfter), 10, 32); err == nil {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

func first(md metadata.MD, key string) string {
	if v := md[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// movedTrailer is the trailer of a moved reply.
func movedTrailer(self, owner string, version uint64) metadata.MD {
	return metadata.MD{
		MDCell:       {self},
		MDOwner:      {owner},
		MDMapVersion: {strconv.FormatUint(version, 10)},
	}
}

// refusedTrailer is the trailer of a refusal.
func refusedTrailer(self, why, retryAfter string) metadata.MD {
	return metadata.MD{MDCell: {self}, MDRefused: {why}, MDRetryAfter: {retryAfter}}
}
