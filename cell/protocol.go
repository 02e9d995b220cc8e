package cell

import (
	"net/http"
	"strconv"
	"time"

	"github.com/cellkit/cellkit/placement"
)

// The headers of the cell protocol. A client sends HeaderCell and
// HeaderMapVersion with every request; a cell that does not own the key
// answers 421 Misdirected Request with HeaderOwner and HeaderMapVersion
// (WriteMoved), and a cell that refuses for now answers 503 with Retry-After,
// HeaderRefused and HeaderMapVersion (WriteRefused). DecodeReply reads both.
// These functions are the one encoder and decoder of the protocol: Guard,
// Transport, celltest and cellgrpc all go through them.
const (
	HeaderCell       = "Cell-Id"          // the cell the client chose
	HeaderMapVersion = "Cell-Map-Version" // the version of the sender's map, decimal
	HeaderOwner      = "Cell-Owner"       // the cell that owns the key, in the replying cell's map
	HeaderRefused    = "Cell-Refused"     // "frozen", "behind" or "throttled"; see Guard
	HeaderRetryAfter = "Retry-After"      // whole seconds (or an HTTP date, when decoding)
)

// Values of HeaderRefused.
const (
	refusedFrozen    = "frozen"
	refusedBehind    = "behind"
	refusedThrottled = "throttled"
)

// HeaderGRPCPushback is gRPC's server pushback (the retry design's
// grpc-retry-pushback-ms): the milliseconds a client should wait, read with
// a RESOURCE_EXHAUSTED status.
const HeaderGRPCPushback = "Grpc-Retry-Pushback-Ms"

// grpcResourceExhausted is gRPC's RESOURCE_EXHAUSTED: the server's pushback.
const grpcResourceExhausted = 8

// maxRetryAfter bounds the Retry-After a reply may ask for: a cell's map
// catches up within a poll interval, and a migration's freeze lasts moments.
const maxRetryAfter = time.Hour

// SetMoved sets the headers of a moved reply in h: HeaderOwner and
// HeaderMapVersion. It is for transports other than HTTP (gRPC metadata);
// WriteMoved writes a whole HTTP reply.
func SetMoved(h http.Header, owner string, version uint64) {
	h.Set(HeaderOwner, owner)
	h.Set(HeaderMapVersion, strconv.FormatUint(version, 10))
}

// WriteMoved answers a request for a key the cell does not own: 421
// Misdirected Request naming the owner in the cell's map of the given
// version.
func WriteMoved(w http.ResponseWriter, owner string, version uint64) {
	SetMoved(w.Header(), owner, version)
	http.Error(w, "cell: key is owned by cell "+strconv.Quote(owner), http.StatusMisdirectedRequest)
}

// SetRefused sets the headers of a refusal in h: HeaderRefused ("frozen" for
// ErrFrozen, "behind" for ErrCellBehind; any other reason is taken as
// ErrCellBehind), HeaderRetryAfter in whole seconds rounded up (at least 1)
// and HeaderMapVersion.
func SetRefused(h http.Header, reason error, retryAfter time.Duration, version uint64) {
	why := refusedBehind
	if reason == ErrFrozen {
		why = refusedFrozen
	}
	setRetryAfter(h, retryAfter)
	h.Set(HeaderRefused, why)
	h.Set(HeaderMapVersion, strconv.FormatUint(version, 10))
}

// WriteRefused answers a request the cell refuses for now: 503 Service
// Unavailable with the headers of SetRefused.
func WriteRefused(w http.ResponseWriter, reason error, retryAfter time.Duration, version uint64) {
	SetRefused(w.Header(), reason, retryAfter, version)
	msg := "cell: this cell's map is older than the request's"
	if reason == ErrFrozen {
		msg = "cell: writes of this key are frozen by a migration"
	}
	http.Error(w, msg, http.StatusServiceUnavailable)
}

// setRetryAfter sets HeaderRetryAfter to d in whole seconds, rounded up, at
// least 1.
func setRetryAfter(h http.Header, d time.Duration) {
	secs := max((min(d, maxRetryAfter)+time.Second-1)/time.Second, 1)
	h.Set(HeaderRetryAfter, strconv.FormatInt(int64(secs), 10))
}

// SetThrottled sets the headers of a key's throttling in h: HeaderRefused
// "throttled" and HeaderRetryAfter (whole seconds, rounded up, at least 1).
func SetThrottled(h http.Header, retryAfter time.Duration) {
	setRetryAfter(h, retryAfter)
	h.Set(HeaderRefused, refusedThrottled)
}

// WriteThrottled answers a request whose key is over its share of the
// cell: 429 Too Many Requests with the headers of SetThrottled. The client
// makes a *ThrottledError of it: no failover, nothing against the cell.
func WriteThrottled(w http.ResponseWriter, retryAfter time.Duration) {
	SetThrottled(w.Header(), retryAfter)
	http.Error(w, "cell: the key is over its share of this cell", http.StatusTooManyRequests)
}

// WriteOverloaded answers a request the cell sheds because it is
// overloaded: 503 Service Unavailable with Retry-After and no HeaderRefused.
// The client makes an *OverloadedError of it: the cell's pushback.
func WriteOverloaded(w http.ResponseWriter, retryAfter time.Duration) {
	setRetryAfter(w.Header(), retryAfter)
	http.Error(w, "cell: the cell is overloaded", http.StatusServiceUnavailable)
}

// DecodeGRPC reads a gRPC status code and its metadata (headers or
// trailers): an *OverloadedError for RESOURCE_EXHAUSTED (8), whose
// RetryAfter is HeaderGRPCPushback's when it is a valid number of
// milliseconds, else 0; nil for every other code. Key and Cell are left for
// the caller to fill.
func DecodeGRPC(code int, md http.Header) error {
	if code != grpcResourceExhausted {
		return nil
	}
	e := &OverloadedError{}
	if ms, err := strconv.ParseUint(md.Get(HeaderGRPCPushback), 10, 32); err == nil {
		e.RetryAfter = min(time.Duration(ms)*time.Millisecond, maxRetryAfter)
	}
	return e
}

// DecodeReply reads a cell's reply of HTTP status code status with headers
// h: a *MovedError for a moved reply (421 with a valid HeaderOwner and
// HeaderMapVersion), a *RefusedError for a refusal (503 with HeaderRefused
// "frozen" or "behind"), a *ThrottledError for a key's throttling (429 with
// HeaderRefused "throttled"), an *OverloadedError for a cell's pushback (429
// or 503 with a valid Retry-After and no HeaderRefused), and nil for every
// other reply; Key and Cell are left for the caller to fill. A reply whose protocol headers are
// malformed (an owner that is not a valid cell ID by placement's rule, a
// version that is not a decimal uint64, an unknown refusal) is not a
// protocol reply, and is judged like any other reply of its status: nothing
// it names is followed or quoted.
func DecodeReply(status int, h http.Header) error {
	switch status {
	case http.StatusMisdirectedRequest:
		if me, ok := decodeMoved(h); ok {
			return me
		}
	case http.StatusServiceUnavailable:
		if re, ok := decodeRefused(h, time.Now()); ok {
			return re
		}
		if oe, ok := decodeOverloaded(h, time.Now()); ok {
			return oe
		}
	case http.StatusTooManyRequests:
		if h.Get(HeaderRefused) == refusedThrottled {
			return &ThrottledError{RetryAfter: retryAfter(h.Get(HeaderRetryAfter), time.Now())}
		}
		if oe, ok := decodeOverloaded(h, time.Now()); ok {
			return oe
		}
	}
	return nil
}

// decodeOverloaded reads a pushback: a valid Retry-After and no
// HeaderRefused (a refusal of the protocol is not a pushback).
func decodeOverloaded(h http.Header, now time.Time) (*OverloadedError, bool) {
	if len(h.Values(HeaderRefused)) > 0 {
		return nil, false
	}
	v := h.Get(HeaderRetryAfter)
	if v == "" {
		return nil, false
	}
	d := retryAfter(v, now)
	if d == 0 && v != "0" {
		if _, err := http.ParseTime(v); err != nil {
			return nil, false // malformed: not a pushback
		}
	}
	return &OverloadedError{RetryAfter: d}, true
}

func decodeMoved(h http.Header) (*MovedError, bool) {
	owner := h.Get(HeaderOwner)
	if placement.CheckCellID(owner) != nil {
		return nil, false
	}
	v, err := strconv.ParseUint(h.Get(HeaderMapVersion), 10, 64)
	if err != nil {
		return nil, false
	}
	return &MovedError{Cell: owner, Version: v}, true
}

func decodeRefused(h http.Header, now time.Time) (*RefusedError, bool) {
	e := &RefusedError{}
	switch h.Get(HeaderRefused) {
	case refusedFrozen:
		e.Err = ErrFrozen
	case refusedBehind:
		e.Err = ErrCellBehind
	default:
		return nil, false
	}
	e.RetryAfter = retryAfter(h.Get(HeaderRetryAfter), now)
	if v, err := strconv.ParseUint(h.Get(HeaderMapVersion), 10, 64); err == nil {
		e.Version = v
	}
	return e, true
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date; at most
// maxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		return min(time.Duration(s)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}
