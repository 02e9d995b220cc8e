package cell

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/placement"
)

// Errors a caller branches on, matched with errors.Is. The typed errors below
// carry data and unwrap to them.
var (
	// ErrNoKey rejects an empty key, and an HTTP request its KeyFunc finds
	// no key in. It is the same value as placement.ErrNoKey.
	ErrNoKey = placement.ErrNoKey
	// ErrNotReady is returned by Resolve, Do and the Transport until the
	// first map is in force (see Client.Ready), and by every method of a
	// Client not made by NewClient that returns an error, Run included.
	ErrNotReady = errors.New("cell: no placement map yet")
	// ErrFrozen refuses a write while the key's migration is frozen. It is
	// retryable: the migration flips within moments.
	ErrFrozen = errors.New("cell: writes of the key are frozen by a migration")
	// ErrCellBehind is a cell's refusal of a request made on a newer map
	// than its own (HTTP 503 from Guard). It is retryable once the cell has
	// caught up.
	ErrCellBehind = errors.New("cell: the cell's map is older than the caller's")
	// ErrCellUnavailable is wrapped by *UnavailableError: no cell the call
	// may use could be called.
	ErrCellUnavailable = errors.New("cell: cell unavailable")
	// ErrMoved is wrapped by *MovedError.
	ErrMoved = errors.New("cell: key moved")
	// ErrBudget is matched by a *CallError whose failover the retry budget
	// refused.
	ErrBudget = errors.New("cell: retry budget exhausted")
	// ErrNoEndpoint is returned by the Transport for a cell that lists no
	// endpoint.
	ErrNoEndpoint = errors.New("cell: cell has no endpoint")
	// ErrCaller is matched by every error that is the caller's own fault
	// (a *RequestError): never counted against a cell, never failed over.
	// It is the same value as breaker.ErrCaller, which breaker.Blame never
	// counts.
	ErrCaller = breaker.ErrCaller
	// ErrBadKey rejects a key that cannot be sent: a key header holding
	// bytes no header can carry. Nothing is routed or sent.
	ErrBadKey = errors.New("cell: the key cannot be sent")
	// ErrBadHeader rejects a request with a header name or value that
	// cannot be sent. Nothing is routed or sent.
	ErrBadHeader = errors.New("cell: the request has a header that cannot be sent")
	// ErrBody is matched by the *RequestError of a request whose body
	// failed to read: the caller's body, not the cell, failed.
	ErrBody = errors.New("cell: the request body failed to read")
	// ErrNotReplayable is matched by the *RequestError of a request whose
	// redirect needs a body that was already sent and has no GetBody (or
	// whose GetBody failed).
	ErrNotReplayable = errors.New("cell: request body cannot be sent again")
	// ErrNoFunc rejects a Do without a function to call.
	ErrNoFunc = errors.New("cell: Do needs a function to call")
	// ErrClass rejects a Class that is not Write, Read or Stateless.
	ErrClass = errors.New("cell: unknown class")
	// ErrRunning is returned by a second call of Client.Run.
	ErrRunning = errors.New("cell: Run called more than once")
	// ErrConfig is wrapped by every *ConfigError.
	ErrConfig = errors.New("cell: invalid config")
	// ErrOverloaded is matched by an *OverloadedError: a cell said it is
	// overloaded (its pushback), or the client holds the cell's new
	// attempts after one. It is retryable after the error's RetryAfter.
	ErrOverloaded = errors.New("cell: cell overloaded")
	// ErrThrottled is matched by a *ThrottledError: the cell's Guard
	// refused the key for being over its share (GuardConfig.Fairness). It
	// is retryable after the error's RetryAfter; the cell is not at fault
	// and serves other keys.
	ErrThrottled = errors.New("cell: key over its share of the cell")
)

// A MovedError is a cell's reply that it does not own the key: Cell owns it
// in the cell's map of version Version. The Transport makes one of an HTTP 421
// with Cell-Owner and Cell-Map-Version headers; a non-HTTP fn returns one
// itself. Do follows it at most once per call (see Client.Do).
type MovedError struct {
	Cell    string // the owner, as the replying cell's map names it
	Version uint64 // the version of the replying cell's map
}

func (e *MovedError) Error() string {
	return fmt.Sprintf("cell: key moved to cell %q (map version %d)", e.Cell, e.Version)
}

// Unwrap returns ErrMoved.
func (e *MovedError) Unwrap() error { return ErrMoved }

// A Rejection says why a cell could not be called.
type Rejection uint8

const (
	// RejectBreaker: the cell's breaker refused the call (open, forced open,
	// all half-open probes in flight, or a panic in fail-fast mode).
	RejectBreaker Rejection = iota
	// RejectLimit: the cell's concurrency limit (Config.Limit) is reached.
	RejectLimit
	// RejectDisabled: the map disables the cell.
	RejectDisabled
	// RejectBudget: the retry budget had no token for an extra attempt.
	RejectBudget
	// RejectOverloaded: the cell's pushback holds its new attempts (see
	// Config.Limit); the *UnavailableError's Err is an *OverloadedError
	// with the time left.
	RejectOverloaded

	numRejections = iota
)

// RejectBulkhead is the former name of RejectLimit, from when the limit was
// a fixed bulkhead (Config.MaxInFlight).
//
// Deprecated: use RejectLimit.
const RejectBulkhead = RejectLimit

var rejectionNames = [...]string{"breaker", "limit", "disabled", "budget", "overloaded"}

// String returns "breaker", "limit", "disabled", "budget" or "overloaded".
func (r Rejection) String() string {
	if int(r) < len(rejectionNames) {
		return rejectionNames[r]
	}
	return fmt.Sprintf("Rejection(%d)", r)
}

// An UnavailableError reports a call that reached no cell: every cell it was
// allowed to use was unavailable, and fn was not called. Cell and Reason are
// those of the first cell the call would have used (the key's home for
// Write, its first read cell for Read, the first member of its shard for
// Stateless). It matches ErrCellUnavailable and Err.
type UnavailableError struct {
	Key    string
	Cell   string
	Reason Rejection
	Err    error // the breaker's error, placement's *CellError, or nil
}

func (e *UnavailableError) Error() string {
	s := fmt.Sprintf("cell: cell %q unavailable for key %q (%s)", e.Cell, e.Key, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrCellUnavailable and Err.
func (e *UnavailableError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrCellUnavailable}
	}
	return []error{ErrCellUnavailable, e.Err}
}

// A RefusedError is a retryable refusal: a write while the key's migration is
// frozen (ErrFrozen, decided by the client's own map or by the cell), or a
// cell whose map is older than the caller's (ErrCellBehind). RetryAfter is the
// cell's Retry-After, or 0 when the client refused on its own.
type RefusedError struct {
	Key        string
	Cell       string
	RetryAfter time.Duration
	Version    uint64 // the version of the refusing cell's map; 0 when the client refused on its own
	Err        error  // ErrFrozen or ErrCellBehind
}

func (e *RefusedError) Error() string {
	s := fmt.Sprintf("cell: cell %q refused key %q: %s", e.Cell, e.Key, strings.TrimPrefix(e.Err.Error(), "cell: "))
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %v)", e.RetryAfter)
	}
	return s
}

// Unwrap returns Err.
func (e *RefusedError) Unwrap() error { return e.Err }

// A CallError is what Do returns when fn was called and the call failed:
// Tried names the cells called, in order, and Err is fn's last error.
// When the retry budget refused a failover it also matches ErrBudget.
type CallError struct {
	Key    string
	Class  Class
	Tried  []string
	Err    error
	Budget bool // the retry budget refused an extra attempt
}

func (e *CallError) Error() string {
	s := fmt.Sprintf("cell: %s of key %q failed on %s", e.Class, e.Key, strings.Join(e.Tried, ", "))
	if e.Budget {
		s += " (retry budget exhausted)"
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns Err, and ErrBudget when the budget refused a failover.
func (e *CallError) Unwrap() []error {
	if e.Budget {
		return []error{e.Err, ErrBudget}
	}
	return []error{e.Err}
}

// A ConfigError reports a Config field that NewClient rejects. It unwraps to
// ErrConfig.
type ConfigError struct {
	Field  string // name of the Config field, such as "Hedge.Delay"
	Value  any
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("cell: invalid config: %s = %v: %s", e.Field, e.Value, e.Reason)
}

// Unwrap returns ErrConfig.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// A RequestError is a request that cannot be sent as the caller made it: a
// key or header that no request can carry (refused before any routing), a
// body that failed to read, or one that cannot be sent again. It is the
// caller's fault: Do and the Transport return it as it is, at once, without
// counting it against a cell or failing over. It matches ErrCaller and Err.
type RequestError struct {
	Method string
	URL    string // redacted
	Err    error  // matches ErrBadKey, ErrBadHeader, ErrBody or ErrNotReplayable
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("cell: cannot send %s %s: %s", e.Method, e.URL, strings.TrimPrefix(e.Err.Error(), "cell: "))
}

// Unwrap returns ErrCaller and Err.
func (e *RequestError) Unwrap() []error { return []error{ErrCaller, e.Err} }

// An OverloadedError is a cell's pushback: it answered 429 Too Many Requests
// or 503 Service Unavailable with Retry-After (and no Cell-Refused header), or
// gRPC RESOURCE_EXHAUSTED, saying that it is overloaded. It is not a failure
// of the cell: its breaker is not told, but its concurrency limit halves and
// the client sends it no new attempt for RetryAfter (bounded and jittered;
// see Config.Limit). A Read or Stateless call fails over to its next cell;
// a Write returns it, wrapped in a *CallError, or in an *UnavailableError
// (RejectOverloaded) while the hold lasts. It matches ErrOverloaded, and is
// retryable after RetryAfter. A fn that is not the Transport returns one
// itself to report a cell's pushback.
type OverloadedError struct {
	Key        string
	Cell       string
	RetryAfter time.Duration // the time to wait; 0 when the cell named none
}

func (e *OverloadedError) Error() string {
	s := fmt.Sprintf("cell: cell %q overloaded (key %q)", e.Cell, e.Key)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %v)", e.RetryAfter)
	}
	return s
}

// Unwrap returns ErrOverloaded.
func (e *OverloadedError) Unwrap() error { return ErrOverloaded }

// A ThrottledError is a cell's refusal of one key over its share of the
// cell (429 with Cell-Refused: throttled; see GuardConfig.Fairness). The
// cell is not at fault: nothing counts against it, its limit is kept, and
// the call does not fail over (the key's share is its share at every cell).
// Do returns it wrapped in a *CallError. It matches ErrThrottled, and is
// retryable after RetryAfter.
type ThrottledError struct {
	Key        string
	Cell       string
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("cell: cell %q throttled key %q (retry after %v)", e.Cell, e.Key, e.RetryAfter)
}

// Unwrap returns ErrThrottled.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }
