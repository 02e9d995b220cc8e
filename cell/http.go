package cell

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// A KeyFunc finds a request's partition key. It reports false when the
// request has none.
type KeyFunc func(*http.Request) (string, bool)

// KeyFromHeader finds the key in the named header.
func KeyFromHeader(name string) KeyFunc {
	return func(r *http.Request) (string, bool) {
		k := r.Header.Get(name)
		return k, k != ""
	}
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

// A StatusError is a cell's 5xx reply, as the Transport reports it to Do
// and to Config.Classify. A Transport whose calls all fail returns the last
// such reply as its response, not as an error.
type StatusError struct {
	Cell       string
	StatusCode int
}

func (e *StatusError) Error() string {
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
// Replies: a transport error or a 5xx is a failure of the cell (a
// *StatusError), other statuses are successes; a 421 with Cell-Owner and
// Cell-Map-Version becomes a *MovedError, and a 503 with Cell-Refused a
// *RefusedError (neither counted against the cell). The response returned is
// the winning attempt's; when every attempt failed, it is the last reply
// (its body read into memory, at most 64 KiB), or the error when the last
// attempt got no reply. Bodies of the replies that lost (failed attempts
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
	x := &exchange{base: t.base, req: req, winner: -1}
	hasBody := req.Body != nil && req.Body != http.NoBody
	opt := doOptions{noRetry: hasBody && req.GetBody == nil, keep: x.keep}
	err := t.c.do(req.Context(), k, classOf(req), x.attempt, &opt)
	return x.result(err)
}

// An exchange is one RoundTrip: its attempts and their replies.
type exchange struct {
	base http.RoundTripper
	req  *http.Request

	mu       sync.Mutex
	bodyUsed bool                   // req.Body went to an attempt
	ok       map[int]*http.Response // successful replies, by attempt
	winner   int                    // the attempt Do chose, or -1
	cancel   context.CancelFunc     // the winner's context's
	last     *http.Response         // the last attempt's failed reply, if it got one
	lost     []*http.Response
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
	out := x.req.Clone(ctx)
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
	out.Header.Set(HeaderCell, r.Cell)
	out.Header.Set(HeaderMapVersion, strconv.FormatUint(r.Version, 10))
	if x.req.Body != nil && x.req.Body != http.NoBody {
		x.mu.Lock()
		first := !x.bodyUsed
		x.bodyUsed = true
		x.mu.Unlock()
		if !first {
			if x.req.GetBody == nil {
				return fmt.Errorf("%w: %s %s", ErrNotReplayable, x.req.Method, x.req.URL.Redacted())
			}
			b, err := x.req.GetBody()
			if err != nil {
				return fmt.Errorf("%w: GetBody: %w", ErrNotReplayable, err)
			}
			out.Body = b
		}
	}
	resp, err := x.base.RoundTrip(out)
	if err != nil {
		x.failed(nil)
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
	}
	if code := resp.StatusCode; code >= 500 {
		x.failed(buffer(resp))
		return &StatusError{Cell: r.Cell, StatusCode: code}
	}
	x.mu.Lock()
	if x.ok == nil {
		x.ok = make(map[int]*http.Response, 1)
	}
	x.ok[r.Attempt] = resp
	x.mu.Unlock()
	return nil
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
	for a, r := range x.ok {
		if a == x.winner && err == nil {
			win = r
		} else {
			r.Body.Close()
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
