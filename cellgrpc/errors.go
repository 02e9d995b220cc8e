package cellgrpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/cellkit/cellkit/cell"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors a caller branches on, matched with errors.Is.
var (
	// ErrNoClient rejects a RouterConfig without its cell.Client.
	ErrNoClient = errors.New("cellgrpc: no cell.Client")
	// ErrNoMap rejects a GuardConfig without its Map.
	ErrNoMap = errors.New("cellgrpc: no map")
	// ErrNoCell rejects a GuardConfig without its Cell.
	ErrNoCell = errors.New("cellgrpc: no cell ID")
	// ErrConfig is wrapped by every configuration error of the package.
	ErrConfig = errors.New("cellgrpc: invalid config")
	// ErrNotRouted is the picker's answer to a call that did not go through
	// the Router's interceptors: the channel does not know its cell.
	ErrNotRouted = errors.New("cellgrpc: call made without the Router's interceptors")

	errNegative = errors.New("must not be negative")
)

// A StatusError is an error of cellkit that the call ended with, carrying
// the gRPC code the call reports (its GRPCStatus, so status.Code and
// status.FromError see it) while errors.Is and errors.As still find cell's
// errors in Err: a *cell.UnavailableError, a *cell.CallError wrapping a
// *cell.RefusedError, cell.ErrNotReady, cell.ErrNoKey and so on.
type StatusError struct {
	Code codes.Code
	Err  error
}

func (e *StatusError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *StatusError) Unwrap() error { return e.Err }

// GRPCStatus returns the status the call reports: Code, and Err's message.
func (e *StatusError) GRPCStatus() *status.Status { return status.New(e.Code, e.Err.Error()) }

// callError turns what Do returned into what the interceptor returns: an
// error with a gRPC status, cell's errors still inside.
func callError(err error) error {
	if err == nil {
		return nil
	}
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) {
		return err // a cell's own status, wrapped by a *cell.CallError
	}
	code := codes.Unavailable
	var moved *cell.MovedError
	switch {
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, cell.ErrNoKey), errors.Is(err, cell.ErrClass), errors.Is(err, cell.ErrCaller):
		code = codes.InvalidArgument
	case errors.As(err, &moved):
		code = codes.FailedPrecondition // a moved reply Do did not follow
	case errors.Is(err, cell.ErrOverloaded):
		code = codes.ResourceExhausted // the cell's pushback: retry later
	}
	return &StatusError{Code: code, Err: err}
}

func configError(field string, why error) error {
	return fmt.Errorf("%w: %s: %w", ErrConfig, field, why)
}
