package cell

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// A KeyFunc finds a request's partition key. It reports false when the
// request has none.
type KeyFunc func(*http.Request) (string, bool)

// KeyFromHeader finds the key in the named header, as Go's server will read
// it: without the blanks (spaces and tabs) around it, which net/http trims
// on both sides of the wire. A request with more than one value for the
// header has no key: client and cell could each take a different one, so the
// Transport refuses it before sending (ErrNoKey) and Guard answers 400.
func KeyFromHeader(name string) KeyFunc {
	name = http.CanonicalHeaderKey(name)
	return func(r *http.Request) (string, bool) { return KeyFromValues(r.Header[name]) }
}

// KeyFromValues is the rule KeyFromHeader applies to a header's values, for
// transports that carry the key in headers of their own (gRPC metadata): the
// key is the one value without the blanks (spaces and tabs) around it; no
// value, an empty one or several values are no key.
func KeyFromValues(vs []string) (string, bool) {
	if len(vs) != 1 {
		return "", false
	}
	k := strings.Trim(vs[0], " \t")
	return k, k != ""
}

// KeyFromQuery finds the key in the named query parameter.
func KeyFromQuery(name string) KeyFunc {
	return func(r *http.Request) (string, bool) {
		if r.URL == nil {
			return "", false
		}
		k := r.URL.Query().Get(name)
		return k, k != ""
	}
}

// KeyFromPath finds the key in a segment of the URL's path, counted from 0
// after the leading slash: KeyFromPath(1) finds "t42" in /tenants/t42/orders.
// The segment is taken from the decoded path.
func KeyFromPath(segment int) KeyFunc {
	return func(r *http.Request) (string, bool) {
		if r.URL == nil || segment < 0 {
			return "", false
		}
		p := strings.TrimPrefix(r.URL.Path, "/")
		for i := 0; i < segment; i++ {
			j := strings.IndexByte(p, '/')
			if j < 0 {
				return "", false
			}
			p = p[j+1:]
		}
		if j := strings.IndexByte(p, '/'); j >= 0 {
			p = p[:j]
		}
		return p, p != ""
	}
}

type classKey struct{}

// WithClass returns a context that makes the Transport use class for the
// requests made with it, whatever their method.
func WithClass(ctx context.Context, class Class) context.Context {
	return context.WithValue(ctx, classKey{}, class)
}

func classOf(r *http.Request) Class {
	if c, ok := r.Context().Value(classKey{}).(Class); ok {
		return c
	}
	switch r.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions:
		return Read
	}
	return Write
}

// A StatusError is a cell's failed reply, as the Transport reports it to Do
// and to Config.Classify: a 5xx, or a gRPC reply whose grpc-status is
// UNAVAILABLE. A Transport whose calls all fail returns the last such reply
// as its response, not as an error.
type StatusError struct {
	Cell       string
	StatusCode int
	// GRPCStatus is the grpc-status of a gRPC reply judged a failure: 14
	// (UNAVAILABLE). It is 0 for any other reply.
	GRPCStatus int
}

func (e *StatusError) Error() string {
	if e.GRPCStatus != 0 {
		return fmt.Sprintf("cell: cell %q replied grpc-status %d", e.Cell, e.GRPCStatus)
	}
	return fmt.Sprintf("cell: cell %q replied %d %s", e.Cell, e.StatusCode, http.StatusText(e.StatusCode))
}

// Transport returns an http.RoundTripper that sends each request to the cell
// of its key, through Do. key finds the key (a request without one fails
// with ErrNoKey and nothing is sent); base makes the requests (nil means
// http.DefaultTransport).
//
// The request's class is the one WithClass put in its context, else Read
// for GET, HEAD and OPTIONS and Write for every other method. Its URL's
// scheme and host become those of the route's endpoint, and its path is
// joined to the endpoint's path prefix (/api + /v1/x is /api/v1/x); the
// headers Cell-Id and Cell-Map-Version are added. A request with a body is
// retried (failover, hedge, redirect) only when it has GetBody.
//
// Before routing, the request's headers are checked as net/http will: a
// key or header that no request can carry is the caller's *RequestError
// (ErrBadKey, ErrBadHeader), and nothing is sent. Replies: a transport
// error, a 5xx and a gRPC reply with grpc-status UNAVAILABLE are failures
// of the cell (a *StatusError for a reply); a 421 moved reply becomes a
// *MovedError and a 503 refusal a *RefusedError (see DecodeReply), a 429
// or 503 with Retry-After and no Cell-Refused, and gRPC RESOURCE_EXHAUSTED,
// the cell's pushback, an *OverloadedError (see Config.Limit), and a 429
// throttled a *ThrottledError, none counted against the cell; a body that fails to read is the caller's
// *RequestError (ErrBody). The response returned is the winning attempt's;
// refusals and moves not followed are returned as errors, the same shape
// as the client's own; when every attempt failed, the response is the last
// failed reply (its body read into memory, at most 64 KiB), or the error
// when the last attempt got no reply. The package documentation's table
// lists every case. Bodies of the replies that lost (failed attempts
// followed by a failover, hedges) are closed.
func (c *Client) Transport(base http.RoundTripper, key KeyFunc) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{c: c, base: base, key: key}
}

type transport struct {
	c    *Client
	base http.RoundTripper
	key  KeyFunc
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var k string
	ok := false
	if t.key != nil {
		k, ok = t.key(req)
	}
	if !ok || k == "" {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("%w in %s %s", ErrNoKey, req.Method, req.URL.Redacted())
	}
	if err := checkHeaders(req.Header, k); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &RequestError{Method: req.Method, URL: req.URL.Redacted(), Err: err}
	}
	x := &exchange{base: t.base, req: req, winner: -1}
	hasBody := req.Body != nil && req.Body != http.NoBody
	opt := doOptions{noRetry: hasBody && req.GetBody == nil}
	err := t.c.do(req.Context(), k, classOf(req), x, &opt)
	return x.result(err)
}

// An exchange is one RoundTrip: its attempts and their replies.
type exchange struct {
	base http.RoundTripper
	req  *http.Request

	mu       sync.Mutex
	bodyUsed bool               // req.Body went to an attempt
	bodyErr  error              // the first error reading the caller's body
	ok       []okReply          // successful replies; in ok1 while one
	ok1      [1]okReply         // (hedges may bring more)
	winner   int                // the attempt Do chose, or -1
	cancel   context.CancelFunc // the winner's context's
	last     *http.Response     // the last attempt's failed reply, if it got one
	lost     []*http.Response

	// The first attempt's request, URL and protocol header values live
	// in the exchange: most exchanges make one attempt, which then
	// allocates only its header map.
	out0  http.Request
	url0  url.URL
	vals0 [2]string
}

// An okReply is a successful attempt's reply.
type okReply struct {
	attempt int
	resp    *http.Response
}

func (x *exchange) keep(attempt int, cancel context.CancelFunc) {
	x.mu.Lock()
	x.winner, x.cancel = attempt, cancel
	x.mu.Unlock()
}

// maxFailedBody is how much of a failed reply's body is kept.
const maxFailedBody = 64 << 10

func (x *exchange) attempt(ctx context.Context, r Route) error {
	ep := r.ep
	if ep == nil {
		return fmt.Errorf("%w: %q", ErrNoEndpoint, r.Cell)
	}
	out := x.outgoing(ctx, r)
	u := out.URL
	u.Scheme, u.Host = ep.scheme, ep.host
	if ep.path != "" {
		raw := ep.rawPath + x.req.URL.EscapedPath()
		u.Path = ep.path + x.req.URL.Path
		if raw != u.EscapedPath() {
			u.RawPath = raw
		}
	}
	out.Host = ""
	if x.req.Body != nil && x.req.Body != http.NoBody {
		x.mu.Lock()
		first := !x.bodyUsed
		x.bodyUsed = true
		x.mu.Unlock()
		if !first {
			if x.req.GetBody == nil {
				return x.callerFault(ErrNotReplayable)
			}
			b, err := x.req.GetBody()
			if err != nil {
				return x.callerFault(fmt.Errorf("%w: GetBody: %w", ErrNotReplayable, err))
			}
			out.Body = b
		}
		out.Body = &callerBody{ReadCloser: out.Body, x: x}
	}
	resp, err := x.base.RoundTrip(out)
	if err != nil {
		x.failed(nil)
		x.mu.Lock()
		berr := x.bodyErr
		x.mu.Unlock()
		if berr != nil {
			return x.callerFault(fmt.Errorf("%w: %w", ErrBody, berr))
		}
		return err
	}
	switch e := DecodeReply(resp.StatusCode, resp.Header).(type) {
	case *MovedError:
		drain(resp)
		x.failed(nil)
		return e
	case *RefusedError:
		e.Key, e.Cell = r.Key, r.Cell
		drain(resp)
		x.failed(nil)
		return e
	case *OverloadedError:
		e.Key, e.Cell = r.Key, r.Cell
		drain(resp)
		x.failed(nil)
		return e
	case *ThrottledError:
		e.Key, e.Cell = r.Key, r.Cell
		drain(resp)
		x.failed(nil)
		return e
	}
	if code := resp.StatusCode; code >= 500 {
		x.failed(buffer(resp))
		return &StatusError{Cell: r.Cell, StatusCode: code}
	}
	if isGRPC(resp) {
		code := grpcStatus(resp)
		if code == grpcUnavailable {
			x.failed(resp)
			return &StatusError{Cell: r.Cell, StatusCode: resp.StatusCode, GRPCStatus: code}
		}
		// RESOURCE_EXHAUSTED is the cell's pushback, with its wait in the
		// headers of a trailers-only reply, else in the trailers.
		md := resp.Trailer
		if resp.Header.Get("Grpc-Status") != "" {
			md = resp.Header
		}
		if e, ok := DecodeGRPC(code, md).(*OverloadedError); ok {
			// As an HTTP pushback: the typed error, not the reply.
			e.Key, e.Cell = r.Key, r.Cell
			drain(resp)
			x.failed(nil)
			return e
		}
	}
	x.mu.Lock()
	if x.ok == nil {
		x.ok = x.ok1[:0]
	}
	x.ok = append(x.ok, okReply{r.Attempt, resp})
	x.mu.Unlock()
	return nil
}

// outgoing returns the request of attempt r: the caller's, under ctx, with
// its own URL and a header of its own that carries the protocol's headers.
// The caller's request is never modified, and nothing it holds is written:
// the header's value slices are shared but capped, so that appending to one
// copies it (as Request.Clone's are). Fields a RoundTripper must not modify
// (Trailer, Form, TransferEncoding) are shared, not copied.
func (x *exchange) outgoing(ctx context.Context, r Route) *http.Request {
	var out *http.Request
	var u *url.URL
	var vals *[2]string
	if r.Attempt == 0 {
		u, vals = &x.url0, &x.vals0
		if ctx == x.req.Context() {
			// A plain copy keeps the context: no Request to allocate.
			x.out0 = *x.req
			out = &x.out0
		}
	} else {
		u, vals = new(url.URL), new([2]string)
	}
	if out == nil {
		out = x.req.WithContext(ctx)
	}
	if x.req.URL != nil {
		*u = *x.req.URL
	}
	out.URL = u
	h := make(http.Header, len(x.req.Header)+2)
	for k, v := range x.req.Header {
		h[k] = v[:len(v):len(v)]
	}
	vals[0], vals[1] = r.Cell, strconv.FormatUint(r.Version, 10)
	h[HeaderCell], h[HeaderMapVersion] = vals[0:1:1], vals[1:2:2]
	out.Header = h
	return out
}

// failed records the reply of a failed attempt (nil when it got none), which
// becomes the last.
func (x *exchange) failed(resp *http.Response) {
	x.mu.Lock()
	if x.last != nil {
		x.lost = append(x.lost, x.last)
	}
	x.last = resp
	x.mu.Unlock()
}

func (x *exchange) result(err error) (*http.Response, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.bodyUsed && x.req.Body != nil {
		x.req.Body.Close()
	}
	for _, r := range x.lost {
		r.Body.Close()
	}
	var win *http.Response
	for _, o := range x.ok {
		if o.attempt == x.winner && err == nil {
			win = o.resp
		} else {
			o.resp.Body.Close()
		}
	}
	if win != nil {
		if x.last != nil {
			x.last.Body.Close()
		}
		if x.cancel != nil {
			win.Body = &cancelBody{ReadCloser: win.Body, cancel: x.cancel}
		}
		return win, nil
	}
	if x.cancel != nil {
		x.cancel()
	}
	if re, ok := err.(*RequestError); ok {
		// The caller's fault ends the call (a body that cannot be sent
		// again for a failover, one that failed to read): it is the
		// answer, not an earlier attempt's failed reply.
		if x.last != nil {
			x.last.Body.Close()
		}
		return nil, re
	}
	if x.last != nil {
		return x.last, nil
	}
	if err == nil { // cannot happen: Do succeeded only through a reply
		err = fmt.Errorf("cell: no reply for %s %s", x.req.Method, x.req.URL.Redacted())
	}
	return nil, err
}

// cancelBody releases the winning attempt's context when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// drain reads a little of a reply that is not passed on, so that its
// connection can be reused, and closes it.
func drain(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}

// buffer replaces a failed reply's body with up to maxFailedBody bytes of it
// in memory: the attempt's context ends when fn returns.
func buffer(resp *http.Response) *http.Response {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxFailedBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Del("Content-Length")
	return resp
}

func (x *exchange) callerFault(err error) error {
	return &RequestError{Method: x.req.Method, URL: x.req.URL.Redacted(), Err: err}
}

// callerBody is the caller's request body as an attempt sends it: it
// records a failure to read it, which is the caller's, not the cell's.
type callerBody struct {
	io.ReadCloser
	x *exchange
}

func (b *callerBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.x.mu.Lock()
		if b.x.bodyErr == nil {
			b.x.bodyErr = err
		}
		b.x.mu.Unlock()
	}
	return n, err
}

// checkHeaders applies net/http's rules for the headers a request can
// carry (RFC 9110: a name is a token, a value holds no control byte but
// tab), so that a request net/http would refuse to send is refused before it
// is routed, as the caller's fault: ErrBadKey when the header holds the key,
// ErrBadHeader otherwise. Names and values are quoted at most 64 bytes long.
func checkHeaders(h http.Header, key string) error {
	for name, vs := range h {
		if !validHeaderName(name) {
			return fmt.Errorf("%w: name %.64q", ErrBadHeader, name)
		}
		for _, v := range vs {
			if validHeaderValue(v) {
				continue
			}
			if strings.Trim(v, " \t") == key {
				return fmt.Errorf("%w: header %.64s holds a byte a header cannot carry", ErrBadKey, name)
			}
			return fmt.Errorf("%w: value of %.64s holds a byte a header cannot carry", ErrBadHeader, name)
		}
	}
	return nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

// isTokenByte reports whether c may appear in an RFC 9110 token.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// grpcUnavailable is gRPC's UNAVAILABLE: the server cannot serve now, the
// one code that says the cell failed (the others are the application's
// answer).
const grpcUnavailable = 14

// maxGRPCBody is how much of a gRPC reply the Transport reads to find its
// trailers: gRPC's default largest received message, with its frame header.
const maxGRPCBody = 4<<20 + 5

// isGRPC reports whether a reply speaks the gRPC protocol over HTTP
// (Content-Type application/grpc, application/grpc+proto, …).
func isGRPC(resp *http.Response) bool {
	ct := resp.Header.Get("Content-Type")
	return resp.StatusCode == http.StatusOK && strings.HasPrefix(ct, "application/grpc") &&
		(len(ct) == len("application/grpc") || ct[len("application/grpc")] == '+' || ct[len("application/grpc")] == ';')
}

// grpcStatus returns a gRPC reply's grpc-status: from its headers for a
// trailers-only reply, else from its trailers, for which it reads the body
// into memory (up to maxGRPCBody; the body is then replaced by the copy, and
// the trailers stay in resp.Trailer). It returns -1 when the reply carries
// no status, or its body is longer than maxGRPCBody: such a reply is not
// judged.
func grpcStatus(resp *http.Response) int {
	if v := resp.Header.Get("Grpc-Status"); v != "" {
		return parseGRPCStatus(v)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxGRPCBody+1))
	if err != nil || len(b) > maxGRPCBody {
		resp.Body = &prefixBody{Reader: io.MultiReader(bytes.NewReader(b), resp.Body), c: resp.Body}
		return -1
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return parseGRPCStatus(resp.Trailer.Get("Grpc-Status"))
}

func parseGRPCStatus(v string) int {
	n, err := strconv.ParseUint(v, 10, 8)
	if err != nil {
		return -1
	}
	return int(n)
}

// prefixBody is a body partly read into memory: what was read, then the
// rest.
type prefixBody struct {
	io.Reader
	c io.Closer
}

func (b *prefixBody) Close() error { return b.c.Close() }
