package cell_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
)

// Unit tests of the HTTP layer: the KeyFuncs, the Transport on a fake base
// RoundTripper (how it rewrites requests, replays bodies, closes every body,
// reads replies) and the Guard's answers.

func TestKeyFromHeader(t *testing.T) {
	kf := cell.KeyFromHeader("Tenant")
	for _, tt := range []struct {
		h    http.Header
		want string
		ok   bool
	}{
		{http.Header{"Tenant": {"t1"}}, "t1", true},
		{http.Header{"Tenant": {" \tt1 \t"}}, "t1", true}, // as Go's server reads it: trimmed
		{http.Header{"Tenant": {"a b"}}, "a b", true},
		{http.Header{"Tenant": {"  "}}, "", false},
		{http.Header{"Tenant": {"t1", "t2"}}, "", false}, // two values: no key the cell would agree on
		{http.Header{"tenant": {"t1"}}, "", false},       // not canonical: not the header Go's server sees
		{http.Header{"Tenant": {""}}, "", false},
		{http.Header{}, "", false},
		{http.Header{"Other": {"t1"}}, "", false},
	} {
		r := &http.Request{Header: tt.h}
		if k, ok := kf(r); k != tt.want || ok != tt.ok {
			t.Errorf("KeyFromHeader(Tenant) of %v = %q, %v; want %q, %v", tt.h, k, ok, tt.want, tt.ok)
		}
	}
}

func TestKeyFromQuery(t *testing.T) {
	kf := cell.KeyFromQuery("t")
	for _, tt := range []struct {
		url  string
		want string
		ok   bool
	}{
		{"http://x/?t=t1", "t1", true},
		{"http://x/?t=a%20b&t=second", "a b", true}, // decoded; the first value
		{"http://x/?t=", "", false},
		{"http://x/?u=t1", "", false},
		{"http://x/", "", false},
	} {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if k, ok := kf(&http.Request{URL: u}); k != tt.want || ok != tt.ok {
			t.Errorf("KeyFromQuery(t) of %s = %q, %v; want %q, %v", tt.url, k, ok, tt.want, tt.ok)
		}
	}
	if k, ok := kf(&http.Request{}); ok || k != "" {
		t.Errorf("KeyFromQuery of a request without a URL = %q, %v", k, ok)
	}
}

func TestKeyFromPath(t *testing.T) {
	for _, tt := range []struct {
		seg  int
		path string
		want string
		ok   bool
	}{
		{1, "/tenants/t42/orders", "t42", true},
		{0, "/tenants/t42/orders", "tenants", true},
		{2, "/tenants/t42/orders", "orders", true},
		{3, "/tenants/t42/orders", "", false},
		{1, "/tenants/t42", "t42", true},
		{1, "/tenants/t42/", "t42", true},
		{1, "/tenants//orders", "", false},      // an empty segment is no key
		{1, "/tenants/a%2Fb/orders", "a", true}, // the decoded path: %2F is a slash
		{1, "/tenants/a%20b/orders", "a b", true},
		{0, "/", "", false},
		{0, "", "", false},
		{-1, "/tenants/t42", "", false},
	} {
		u := &url.URL{Path: tt.path}
		if p, err := url.PathUnescape(tt.path); err == nil {
			u.Path = p
		}
		if k, ok := cell.KeyFromPath(tt.seg)(&http.Request{URL: u}); k != tt.want || ok != tt.ok {
			t.Errorf("KeyFromPath(%d) of %q = %q, %v; want %q, %v", tt.seg, tt.path, k, ok, tt.want, tt.ok)
		}
	}
	if k, ok := cell.KeyFromPath(0)(&http.Request{}); ok || k != "" {
		t.Errorf("KeyFromPath of a request without a URL = %q, %v", k, ok)
	}
}

// fakeBase is a base RoundTripper: each host answers with its handler, run
// in process like a server would (the request body read and closed), and
// every response body it hands out is tracked.
type fakeBase struct {
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc // by host
	seen     []seenRequest
	bodies   []*trackedBody
}

type seenRequest struct {
	host, path, rawPath string
	header              http.Header
	body                string
}

func (b *fakeBase) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	h := b.handlers[r.URL.Host]
	b.seen = append(b.seen, seenRequest{host: r.URL.Host, path: r.URL.Path, rawPath: r.URL.RawPath, header: r.Header.Clone(), body: string(body)})
	b.mu.Unlock()
	if h == nil {
		return nil, errors.New("fake: connection refused by " + r.URL.Host)
	}
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	w := httptest.NewRecorder()
	h(w, r)
	resp := w.Result()
	tb := &trackedBody{r: resp.Body}
	resp.Body = tb
	b.mu.Lock()
	b.bodies = append(b.bodies, tb)
	b.mu.Unlock()
	return resp, nil
}

// open returns the response bodies not closed.
func (b *fakeBase) open() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, tb := range b.bodies {
		if !tb.isClosed() {
			n++
		}
	}
	return n
}

func (b *fakeBase) requests() []seenRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seenRequest(nil), b.seen...)
}

type trackedBody struct {
	mu     sync.Mutex
	r      io.ReadCloser
	closed bool
}

func (b *trackedBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *trackedBody) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return b.r.Close()
}

func (b *trackedBody) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// reqBody is a request body that records its Close, with no GetBody of its
// own (http.NewRequest sets one only for the bytes and strings readers).
type reqBody struct {
	r      io.Reader
	closed chan struct{}
	once   sync.Once
}

func newReqBody(s string) *reqBody {
	return &reqBody{r: strings.NewReader(s), closed: make(chan struct{})}
}

func (b *reqBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *reqBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

func (b *reqBody) isClosed() bool {
	select {
	case <-b.closed:
		return true
	default:
		return false
	}
}

func ok(id string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "from "+id) }
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Error(w, "status "+strconv.Itoa(code), code) }
}

// httpFixture is a client on four cells, shards of two, whose endpoints
// have a path prefix, over a fakeBase.
type httpFixture struct {
	m    *placement.Map
	c    *cell.Client
	base *fakeBase
	rt   http.RoundTripper
}

func newHTTPFixture(t *testing.T, cfg cell.Config) *httpFixture {
	t.Helper()
	m := mapOf(t, 3, `, "shardSize": 2`,
		"c0/z0/active/http://c0.test/api", "c1/z0/active/http://c1.test/api",
		"c2/z0/active/https://c2.test", "c3/z0/active/")
	cfg.Breakers.ConsecutiveFailures, cfg.Breakers.MinRequests = 1000, 1000
	base := &fakeBase{handlers: map[string]http.HandlerFunc{
		"c0.test": ok("c0"), "c1.test": ok("c1"), "c2.test": ok("c2"),
	}}
	c := startClient(t, m, cfg)
	return &httpFixture{m: m, c: c, base: base, rt: c.Transport(base, cell.KeyFromHeader("Tenant"))}
}

// keyAt returns a key whose home is cell id (and, when next is not "",
// whose shard's second cell is next).
func (fx *httpFixture) keyAt(t *testing.T, id, next string) string {
	t.Helper()
	for i := range 100000 {
		k := "k" + strconv.Itoa(i)
		a, err := fx.m.Locate(k)
		if err == nil && a.Cell == id && (next == "" || a.Shard[1] == next) {
			return k
		}
	}
	t.Fatalf("no key at %s then %s", id, next)
	return ""
}

func (fx *httpFixture) request(t *testing.T, ctx context.Context, method, target, key string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Tenant", key)
	}
	return req
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the reply: %v", err)
	}
	resp.Body.Close()
	return string(b)
}

// TestTransportRewrite: the request goes to the route's endpoint, its path
// joined to the endpoint's prefix, with the protocol's headers.
func TestTransportRewrite(t *testing.T) {
	fx := newHTTPFixture(t, cell.Config{})
	key := fx.keyAt(t, "c0", "")
	req := fx.request(t, context.Background(), http.MethodGet, "http://service.internal/v1/a%2Fb?x=1", key, nil)
	resp, err := fx.rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "from c0" {
		t.Fatalf("reply %q; want from c0", got)
	}
	seen := fx.base.requests()
	if len(seen) != 1 {
		t.Fatalf("%d requests sent; want 1", len(seen))
	}
	s := seen[0]
	if s.host != "c0.test" || s.path != "/api/v1/a/b" || s.rawPath != "/api/v1/a%2Fb" {
		t.Errorf("sent to %s path %q raw %q; want c0.test /api/v1/a/b raw /api/v1/a%%2Fb", s.host, s.path, s.rawPath)
	}
	if s.header.Get(cell.HeaderCell) != "c0" || s.header.Get(cell.HeaderMapVersion) != "3" || s.header.Get("Tenant") != key {
		t.Errorf("headers sent %v; want Cell-Id c0, Cell-Map-Version 3 and the key", s.header)
	}
	if req.URL.Host != "service.internal" || req.Header.Get(cell.HeaderCell) != "" {
		t.Error("the Transport changed the caller's request")
	}

	// An endpoint without a path prefix keeps the path as it is.
	key2 := fx.keyAt(t, "c2", "")
	resp, err = fx.rt.RoundTrip(fx.request(t, context.Background(), http.MethodGet, "http://service.internal/v1/x", key2, nil))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if s := fx.base.requests()[1]; s.host != "c2.test" || s.path != "/v1/x" {
		t.Errorf("sent to %s %q; want c2.test /v1/x", s.host, s.path)
	}
}

// TestTransportClasses: the request's class is WithClass's, else Read for
// GET, HEAD and OPTIONS, Write otherwise.
func TestTransportClasses(t *testing.T) {
	var mu sync.Mutex
	var classes []cell.Class
	fx := newHTTPFixture(t, cell.Config{Observer: cell.Observer{Attempt: func(a cell.AttemptInfo) {
		mu.Lock()
		classes = append(classes, a.Class)
		mu.Unlock()
	}}})
	key := fx.keyAt(t, "c0", "")
	for _, tt := range []struct {
		method string
		ctx    context.Context
		want   cell.Class
	}{
		{http.MethodGet, context.Background(), cell.Read},
		{http.MethodHead, context.Background(), cell.Read},
		{http.MethodOptions, context.Background(), cell.Read},
		{http.MethodPost, context.Background(), cell.Write},
		{http.MethodPut, context.Background(), cell.Write},
		{http.MethodDelete, context.Background(), cell.Write},
		{http.MethodPatch, context.Background(), cell.Write},
		{http.MethodPost, cell.WithClass(context.Background(), cell.Stateless), cell.Stateless},
		{http.MethodGet, cell.WithClass(context.Background(), cell.Write), cell.Write},
	} {
		mu.Lock()
		classes = nil
		mu.Unlock()
		resp, err := fx.rt.RoundTrip(fx.request(t, tt.ctx, tt.method, "http://svc/", key, nil))
		if err != nil {
			t.Fatalf("%s: %v", tt.method, err)
		}
		readAll(t, resp)
		mu.Lock()
		if len(classes) != 1 || classes[0] != tt.want {
			t.Errorf("%s (context class %v): attempts of class %v; want %v", tt.method, tt.ctx.Value(nil), classes, tt.want)
		}
		mu.Unlock()
	}
}

// TestTransportNoKey: no key, no request: ErrNoKey, nothing sent, the body
// closed.
func TestTransportNoKey(t *testing.T) {
	fx := newHTTPFixture(t, cell.Config{})
	body := newReqBody("payload")
	req := fx.request(t, context.Background(), http.MethodPost, "http://svc/x", "", body)
	resp, err := fx.rt.RoundTrip(req)
	if !errors.Is(err, cell.ErrNoKey) || resp != nil {
		t.Fatalf("RoundTrip without a key = %v, %v; want ErrNoKey", resp, err)
	}
	if len(fx.base.requests()) != 0 || !body.isClosed() {
		t.Fatalf("%d requests sent, body closed %v; want none sent and the body closed", len(fx.base.requests()), body.isClosed())
	}
	// A nil KeyFunc finds no key either.
	rt := fx.c.Transport(fx.base, nil)
	if _, err := rt.RoundTrip(fx.request(t, context.Background(), http.MethodGet, "http://svc/x", "k", nil)); !errors.Is(err, cell.ErrNoKey) {
		t.Fatalf("RoundTrip with a nil KeyFunc = %v; want ErrNoKey", err)
	}
}

// TestTransportGetBody: a failover resends the body through GetBody; a body
// without GetBody is sent once, with no failover.
func TestTransportGetBody(t *testing.T) {
	fx := newHTTPFixture(t, cell.Config{})
	fx.base.handlers["c0.test"] = status(http.StatusInternalServerError)
	key := fx.keyAt(t, "c0", "c1")
	ctx := cell.WithClass(context.Background(), cell.Stateless)

	req := fx.request(t, ctx, http.MethodPost, "http://svc/x", key, strings.NewReader("payload"))
	if req.GetBody == nil {
		t.Fatal("http.NewRequest set no GetBody for a strings.Reader")
	}
	resp, err := fx.rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "from c1" {
		t.Fatalf("reply %q; want the failover's, from c1", got)
	}
	seen := fx.base.requests()
	if len(seen) != 2 || seen[0].host != "c0.test" || seen[1].host != "c1.test" || seen[0].body != "payload" || seen[1].body != "payload" {
		t.Fatalf("sent %+v; want the whole body to c0 then to c1", seen)
	}

	// No GetBody: one attempt, its failure is the answer.
	body := newReqBody("once")
	req = fx.request(t, ctx, http.MethodPost, "http://svc/x", key, body)
	resp, err = fx.rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d; want c0's 500, with no failover", resp.StatusCode)
	}
	readAll(t, resp)
	if seen := fx.base.requests()[2:]; len(seen) != 1 || seen[0].body != "once" || !body.isClosed() {
		t.Fatalf("sent %+v (body closed %v); want one request with the body, closed", seen, body.isClosed())
	}

	// A GetBody that fails ends the call with ErrNotReplayable after the
	// first attempt, and the cell it would have gone to is not blamed.
	req = fx.request(t, ctx, http.MethodPost, "http://svc/x", key, strings.NewReader("payload"))
	req.GetBody = func() (io.ReadCloser, error) { return nil, errors.New("gone") }
	n := len(fx.base.requests())
	resp, err = fx.rt.RoundTrip(req)
	// The caller's fault ends the call: its *RequestError is the answer,
	// not c0's failed reply (issue 17 item 1).
	var re *cell.RequestError
	if resp != nil {
		resp.Body.Close()
		t.Fatalf("RoundTrip with a failing GetBody = status %d; want no reply and ErrNotReplayable", resp.StatusCode)
	}
	if !errors.Is(err, cell.ErrNotReplayable) || !errors.As(err, &re) || re.Method != http.MethodPost {
		t.Fatalf("RoundTrip with a failing GetBody = %v; want a *RequestError matching ErrNotReplayable", err)
	}
	if seen := fx.base.requests()[n:]; len(seen) != 1 || seen[0].host != "c0.test" {
		t.Fatalf("sent %+v; want c0 only: no request without its body", seen)
	}
	for _, s := range fx.c.Breakers().Snapshot() {
		if s.Cell == "c1" && s.Totals.Failures != 0 {
			t.Fatalf("c1 blamed for a body the caller could not replay: %+v", s.Totals)
		}
	}
	if fx.base.open() != 0 {
		t.Fatalf("%d response bodies left open", fx.base.open())
	}
}

// TestTransportBodies: every request body is closed and every response body
// the caller does not get is closed, on every path.
func TestTransportBodies(t *testing.T) {
	ctx := context.Background()
	stateless := cell.WithClass(ctx, cell.Stateless)
	for _, tt := range []struct {
		name     string
		setup    func(fx *httpFixture)
		ctx      context.Context
		home     string
		wantErr  error
		wantCode int
	}{
		{"success", nil, ctx, "c0", nil, 200},
		{"a 5xx, the last reply", func(fx *httpFixture) { fx.base.handlers["c0.test"] = status(503) }, ctx, "c0", nil, 503},
		{"a 4xx is an answer", func(fx *httpFixture) { fx.base.handlers["c0.test"] = status(404) }, ctx, "c0", nil, 404},
		{"failover after a 5xx", func(fx *httpFixture) { fx.base.handlers["c0.test"] = status(500) }, stateless, "c0", nil, 200},
		{"every cell fails", func(fx *httpFixture) {
			fx.base.handlers["c0.test"], fx.base.handlers["c1.test"] = status(500), status(502)
		}, stateless, "c0", nil, 502},
		{"transport error", func(fx *httpFixture) { delete(fx.base.handlers, "c0.test") }, ctx, "c0", errors.New("refused"), 0},
		{"moved, not followed", func(fx *httpFixture) { // c1 is not the owner in the map of version 3
			fx.base.handlers["c0.test"] = func(w http.ResponseWriter, r *http.Request) { cell.WriteMoved(w, "c1", 3) }
		}, ctx, "c0", cell.ErrMoved, 0},
		{"refused", func(fx *httpFixture) {
			fx.base.handlers["c0.test"] = func(w http.ResponseWriter, r *http.Request) { cell.WriteRefused(w, cell.ErrFrozen, time.Second, 3) }
		}, ctx, "c0", cell.ErrFrozen, 0},
		{"breaker open", func(fx *httpFixture) { fx.c.Breakers().Force("c0", breaker.ForcedOpen) }, ctx, "c0", cell.ErrCellUnavailable, 0},
		{"no endpoint", nil, ctx, "c3", cell.ErrNoEndpoint, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := newHTTPFixture(t, cell.Config{})
			if tt.setup != nil {
				tt.setup(fx)
			}
			key := fx.keyAt(t, tt.home, "")
			if tt.home == "c0" {
				key = fx.keyAt(t, "c0", "c1")
			}
			body := newReqBody("payload")
			req := fx.request(t, tt.ctx, http.MethodPost, "http://svc/x", key, body)
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("payload")), nil }
			resp, err := fx.rt.RoundTrip(req)
			switch {
			case tt.wantCode == 0 && err == nil:
				resp.Body.Close()
				t.Fatalf("status %d; want an error", resp.StatusCode)
			case tt.wantCode == 0 && tt.wantErr != nil && tt.wantErr.Error() != "refused" && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v; want %v", err, tt.wantErr)
			case tt.wantCode != 0 && err != nil:
				t.Fatalf("error %v; want status %d", err, tt.wantCode)
			case tt.wantCode != 0 && resp.StatusCode != tt.wantCode:
				resp.Body.Close()
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.wantCode)
			}
			if err == nil {
				// The body handed back is readable, and the only one open.
				if n := fx.base.open(); n > 1 {
					t.Fatalf("%d response bodies open before the caller closed its own", n)
				}
				readAll(t, resp)
			}
			if n := fx.base.open(); n != 0 {
				t.Fatalf("%d response bodies left open", n)
			}
			if !body.isClosed() {
				t.Fatal("the request body was not closed")
			}
		})
	}
}

// TestTransportFailedReplyBuffered: the last failed reply comes back with its
// body in memory, at most 64 KiB of it, readable after the attempt ended.
func TestTransportFailedReplyBuffered(t *testing.T) {
	fx := newHTTPFixture(t, cell.Config{})
	big := bytes.Repeat([]byte("x"), 100<<10)
	fx.base.handlers["c0.test"] = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		w.WriteHeader(http.StatusBadGateway)
		w.Write(big)
	}
	resp, err := fx.rt.RoundTrip(fx.request(t, context.Background(), http.MethodGet, "http://svc/", fx.keyAt(t, "c0", ""), nil))
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, resp)
	if resp.StatusCode != http.StatusBadGateway || len(got) != 64<<10 || resp.ContentLength != 64<<10 || resp.Header.Get("Content-Length") != "" {
		t.Fatalf("reply %d with %d bytes (ContentLength %d, header %q); want 502 with the first 64 KiB",
			resp.StatusCode, len(got), resp.ContentLength, resp.Header.Get("Content-Length"))
	}
}

// TestTransportSuccessBodyCancel: the winning reply's body outlives
// RoundTrip, and closing it releases the attempt's context.
func TestTransportSuccessBodyCancel(t *testing.T) {
	fx := newHTTPFixture(t, cell.Config{AttemptTimeout: time.Hour})
	var actx context.Context
	fx.base.handlers["c0.test"] = func(w http.ResponseWriter, r *http.Request) {
		actx = r.Context()
		io.WriteString(w, "streamed")
	}
	resp, err := fx.rt.RoundTrip(fx.request(t, context.Background(), http.MethodGet, "http://svc/", fx.keyAt(t, "c0", ""), nil))
	if err != nil {
		t.Fatal(err)
	}
	if actx.Err() != nil {
		t.Fatal("the attempt's context ended before the caller read the body")
	}
	if got := readAll(t, resp); got != "streamed" {
		t.Fatalf("body %q", got)
	}
	if actx.Err() == nil {
		t.Fatal("closing the body did not release the attempt's context")
	}
}

// TestTransportStatusError: a cell's 5xx counts against it as a
// *StatusError naming the cell and the status, through Classify.
func TestTransportStatusError(t *testing.T) {
	var got []error
	var mu sync.Mutex
	fx := newHTTPFixture(t, cell.Config{Observer: cell.Observer{Attempt: func(a cell.AttemptInfo) {
		mu.Lock()
		got = append(got, a.Err)
		mu.Unlock()
	}}})
	fx.base.handlers["c0.test"] = status(http.StatusServiceUnavailable) // no Cell-Refused: a plain 503
	resp, err := fx.rt.RoundTrip(fx.request(t, context.Background(), http.MethodGet, "http://svc/", fx.keyAt(t, "c0", ""), nil))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	var se *cell.StatusError
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !errors.As(got[0], &se) || se.Cell != "c0" || se.StatusCode != 503 {
		t.Fatalf("attempt errors %v; want one StatusError of c0, 503", got)
	}
	if msg := se.Error(); !strings.Contains(msg, `"c0"`) || !strings.Contains(msg, "503 Service Unavailable") {
		t.Fatalf("StatusError message %q", msg)
	}
	for _, s := range fx.c.Breakers().Snapshot() {
		if s.Cell == "c0" && s.Totals.Failures != 1 {
			t.Fatalf("c0's breaker counts %d failures; want 1", s.Totals.Failures)
		}
	}
}

// mapFunc gives a Guard its map. It is a func with a Map method so that it
// fits GuardConfig.Map both as a func and as the interface the map life
// cycle work makes of it.
type mapFunc func() *placement.Map

// Map returns the map.
func (f mapFunc) Map() *placement.Map { return f() }

// guardFixture is a Guard for cell c0 of a map with a frozen migration.
type guardFixture struct {
	m      *placement.Map
	g      http.Handler
	served int
}

func newGuardFixture(t testing.TB, stateless bool) *guardFixture {
	t.Helper()
	b := placement.NewBuilder(nil)
	for _, id := range []string{"c0", "c1", "c2"} {
		if err := b.AddCell(placement.Cell{ID: id, Zone: "z1", Weight: 1, State: placement.Active, Endpoints: []placement.Endpoint{{URL: "http://" + id + ".test"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetShardSize(2); err != nil {
		t.Fatal(err)
	}
	m, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	gf := &guardFixture{}
	frozen := gf.keyIn(t, m, "c0", "", 0)
	b = placement.NewBuilder(m)
	if err := b.FreezeTable(); err != nil {
		t.Fatal(err)
	}
	if err := b.MigrateKey(frozen, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Advance(placement.Migration{Key: frozen}); err != nil {
		t.Fatal(err)
	}
	if gf.m, err = b.Build(); err != nil {
		t.Fatal(err)
	}
	g, err := cell.NewGuard(cell.GuardConfig{Cell: "c0", Map: mapFunc(func() *placement.Map { return gf.m }), Key: cell.KeyFromHeader("Tenant"),
		Stateless: stateless, RetryAfter: 1500 * time.Millisecond,
		Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gf.served++; io.WriteString(w, "served") })})
	if err != nil {
		t.Fatal(err)
	}
	gf.g = g
	return gf
}

// keyIn returns the skip-th key whose home in m is id and, when next is not
// "", whose shard's second cell is next.
func (*guardFixture) keyIn(t testing.TB, m *placement.Map, id, next string, skip int) string {
	t.Helper()
	for i := range 100000 {
		k := "g" + strconv.Itoa(i)
		if a, err := m.Locate(k); err == nil && a.Cell == id && (next == "" || (len(a.Shard) > 1 && a.Shard[1] == next)) {
			if skip == 0 {
				return k
			}
			skip--
		}
	}
	t.Fatalf("no key at %s", id)
	return ""
}

func (gf *guardFixture) serve(method, key, version string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://c0.test/x", nil)
	if key != "" {
		r.Header.Set("Tenant", key)
	}
	if version != "" {
		r.Header.Set(cell.HeaderMapVersion, version)
	}
	w := httptest.NewRecorder()
	gf.g.ServeHTTP(w, r)
	return w
}

func TestGuardAnswers(t *testing.T) {
	gf := newGuardFixture(t, false)
	m := gf.m
	v := strconv.FormatUint(m.Version(), 10)
	newer := strconv.FormatUint(m.Version()+1, 10)
	var frozen string
	for _, mg := range m.Migrations() {
		frozen = mg.Key
	}
	mine := gf.keyIn(t, m, "c0", "", 0)
	if mine == frozen {
		mine = gf.keyIn(t, m, "c0", "", 1)
	}
	theirs := gf.keyIn(t, m, "c2", "", 0)
	for _, tt := range []struct {
		name           string
		method, key, v string
		code           int
		owner, refused string
	}{
		{"owned read", http.MethodGet, mine, v, 200, "", ""},
		{"owned write", http.MethodPost, mine, v, 200, "", ""},
		{"owned, no version", http.MethodPut, mine, "", 200, "", ""},
		{"no key", http.MethodGet, "", v, 400, "", ""},
		{"malformed version", http.MethodGet, mine, "v3", 400, "", ""},
		{"negative version", http.MethodGet, mine, "-1", 400, "", ""},
		{"not owned", http.MethodGet, theirs, v, 421, "c2", ""},
		{"not owned, write", http.MethodDelete, theirs, v, 421, "c2", ""},
		{"not owned, no version", http.MethodGet, theirs, "", 421, "c2", ""},
		{"not owned, newer map", http.MethodGet, theirs, newer, 503, "", "behind"},
		{"frozen write", http.MethodPost, frozen, v, 503, "", "frozen"},
		{"frozen read is served", http.MethodGet, frozen, v, 200, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := gf.served
			w := gf.serve(tt.method, tt.key, tt.v)
			h := w.Header()
			if w.Code != tt.code || h.Get(cell.HeaderCell) != "c0" {
				t.Fatalf("%s %q (version %q) = %d, Cell-Id %q; want %d from c0", tt.method, tt.key, tt.v, w.Code, h.Get(cell.HeaderCell), tt.code)
			}
			if served := gf.served - before; (tt.code == 200) != (served == 1) {
				t.Fatalf("Next served %d requests", served)
			}
			if h.Get(cell.HeaderOwner) != tt.owner || h.Get(cell.HeaderRefused) != tt.refused {
				t.Fatalf("owner %q, refused %q; want %q, %q", h.Get(cell.HeaderOwner), h.Get(cell.HeaderRefused), tt.owner, tt.refused)
			}
			switch tt.code {
			case 421:
				var me *cell.MovedError
				if err := cell.DecodeReply(w.Code, h); !errors.As(err, &me) || me.Cell != tt.owner || me.Version != m.Version() {
					t.Fatalf("DecodeReply = %v; want moved to %s at v%d", err, tt.owner, m.Version())
				}
			case 503:
				var re *cell.RefusedError
				if err := cell.DecodeReply(w.Code, h); !errors.As(err, &re) || re.RetryAfter != 2*time.Second {
					t.Fatalf("DecodeReply = %v; want a refusal with Retry-After 2s (1.5s rounded up)", err)
				}
			}
		})
	}

	// No map yet: every request is refused for now.
	gf.m = nil
	if w := gf.serve(http.MethodGet, mine, v); w.Code != 503 || w.Header().Get(cell.HeaderRefused) != "behind" {
		t.Fatalf("a Guard with no map answers %d %q; want 503 behind", w.Code, w.Header().Get(cell.HeaderRefused))
	}
}

func TestGuardStateless(t *testing.T) {
	gf := newGuardFixture(t, true)
	m := gf.m
	member := gf.keyIn(t, m, "c1", "c0", 0) // c0 is the second cell of its shard
	if w := gf.serve(http.MethodPost, member, ""); w.Code != 200 {
		t.Fatalf("a stateless Guard answers %d to a key of its shard; want 200", w.Code)
	}
	for i := range 1000 {
		k := "s" + strconv.Itoa(i)
		a, _ := m.Locate(k)
		if a.Shard[0] == "c0" || a.Shard[1] == "c0" {
			continue
		}
		w := gf.serve(http.MethodPost, k, "")
		if w.Code != 421 || w.Header().Get(cell.HeaderOwner) != a.Cell {
			t.Fatalf("a stateless Guard answers %d (owner %q) to a key outside its shard; want 421 naming %s", w.Code, w.Header().Get(cell.HeaderOwner), a.Cell)
		}
		return
	}
	t.Fatal("no key outside c0's shards")
}

func TestNewGuardConfig(t *testing.T) {
	good := cell.GuardConfig{Cell: "c0", Map: mapFunc(func() *placement.Map { return nil }), Key: cell.KeyFromHeader("T"), Next: http.NotFoundHandler()}
	for _, tt := range []struct {
		field string
		edit  func(*cell.GuardConfig)
	}{
		{"GuardConfig.Cell", func(c *cell.GuardConfig) { c.Cell = "" }},
		{"GuardConfig.Map", func(c *cell.GuardConfig) { c.Map = nil }},
		{"GuardConfig.Key", func(c *cell.GuardConfig) { c.Key = nil }},
		{"GuardConfig.Next", func(c *cell.GuardConfig) { c.Next = nil }},
		{"GuardConfig.RetryAfter", func(c *cell.GuardConfig) { c.RetryAfter = -time.Second }},
	} {
		cfg := good
		tt.edit(&cfg)
		g, err := cell.NewGuard(cfg)
		var ce *cell.ConfigError
		if g != nil || !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, cell.ErrConfig) {
			t.Errorf("NewGuard without a good %s = %v, %v; want a ConfigError naming it", tt.field, g, err)
		}
	}
	if _, err := cell.NewGuard(good); err != nil {
		t.Fatalf("NewGuard(%+v) = %v", good, err)
	}
}
