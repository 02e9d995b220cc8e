package source

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/placement"
)

// srcTransport is a fake network: an http.RoundTripper in memory, for
// tests inside synctest bubbles.
type srcTransport func(*http.Request) (*http.Response, error)

func (f srcTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// srcAnswer is a response with the given status, body and header pairs,
// without a Content-Length.
func srcAnswer(r *http.Request, status int, body io.Reader, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Header: h,
		Body: io.NopCloser(body), ContentLength: -1, Request: r,
	}
}

// A srcHTTPStep is one answer of a scripted server and what Next should make
// of it.
type srcHTTPStep struct {
	name    string
	status  int // default 200
	body    string
	etag    string
	sig     string // the SignatureHeader
	slow    bool   // answer only after the client gave up
	chunked bool   // send no Content-Length
	wantINM string // If-None-Match the request must carry
	want    uint64
	wantErr error // with want 0 and wantErr nil: nothing to deliver or report
}

// srcRunHTTP serves steps in order from a fake transport and checks that
// each Next returns at the next step that has something to say.
func srcRunHTTP(t *testing.T, cfg HTTPConfig, opt placement.Options, steps []srcHTTPStep) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		served := 0
		answer := func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			i := served
			served++
			mu.Unlock()
			if i >= len(steps) {
				return srcAnswer(r, http.StatusServiceUnavailable, strings.NewReader("")), nil
			}
			st := steps[i]
			if got := r.Header.Get("If-None-Match"); got != st.wantINM {
				t.Errorf("%s: If-None-Match %q; want %q", st.name, got, st.wantINM)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer test" {
				t.Errorf("%s: Authorization %q; want the configured header", st.name, got)
			}
			if st.slow {
				<-r.Context().Done()
				return nil, r.Context().Err()
			}
			resp := srcAnswer(r, cmp.Or(st.status, http.StatusOK), strings.NewReader(st.body), "ETag", st.etag, SignatureHeader, st.sig)
			if !st.chunked {
				resp.ContentLength = int64(len(st.body))
			}
			return resp, nil
		}
		cfg.Client = &http.Client{Transport: srcTransport(answer)}
		cfg.Interval = 5 * time.Second
		cfg.Jitter = -1
		cfg.Timeout = 2 * time.Second
		cfg.Header = http.Header{"Authorization": {"Bearer test"}}
		s, err := NewHTTP("http://cp.internal/map.json", cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.SetParse(opt, nil)
		for i, st := range steps {
			if st.want == 0 && st.wantErr == nil {
				continue
			}
			m, err := nextWithin(s, t.Context(), time.Hour)
			srcCheck(t, st.name, m, err, st.want, st.wantErr)
			mu.Lock()
			n := served
			mu.Unlock()
			if n != i+1 {
				t.Fatalf("%s: Next() returned after %d requests; want %d", st.name, n, i+1)
			}
		}
	})
}

// TestHTTP walks the HTTP source through the answers a server can give.
// Each state is reported once: repeated failures with the same cause are
// reported at the first, and again only after the state changed.
func TestHTTP(t *testing.T) {
	garbage := `{"version": 2, "cells": [`
	big := strings.Repeat(" ", 300) + string(srcDoc(5))
	srcRunHTTP(t, HTTPConfig{}, placement.Options{Limits: placement.Limits{MaxBytes: 200}}, []srcHTTPStep{
		{name: "first", body: string(srcDoc(1)), etag: `"a"`, want: 1},
		{name: "not modified", status: http.StatusNotModified, wantINM: `"a"`},
		{name: "server error", status: http.StatusInternalServerError, wantINM: `"a"`, wantErr: ErrFetch},
		{name: "server error, again", status: http.StatusInternalServerError, wantINM: `"a"`},
		{name: "server error, and again", status: http.StatusInternalServerError, wantINM: `"a"`},
		{name: "slow", slow: true, wantINM: `"a"`, wantErr: ErrFetch},
		{name: "slow, again", slow: true, wantINM: `"a"`},
		{name: "server error after the timeouts", status: http.StatusInternalServerError, wantINM: `"a"`, wantErr: ErrFetch},
		{name: "not modified after the errors", status: http.StatusNotModified, wantINM: `"a"`},
		{name: "server error after a success", status: http.StatusInternalServerError, wantINM: `"a"`, wantErr: ErrFetch},
		{name: "garbage", body: garbage, etag: `"b"`, wantINM: `"a"`, wantErr: placement.ErrSyntax},
		{name: "garbage not modified", status: http.StatusNotModified, wantINM: `"b"`},
		{name: "garbage again, If-None-Match ignored", body: garbage, etag: `"b"`, wantINM: `"b"`},
		{name: "newer, no ETag", body: string(srcDoc(2)), wantINM: `"b"`, want: 2},
		{name: "same body", body: string(srcDoc(2))},
		// Versions are the Follower's to judge: a source delivers whatever
		// new content it read, once.
		{name: "older", body: string(srcDoc(1)), want: 1},
		{name: "older again", body: string(srcDoc(1))},
		{name: "same version, other cells", body: string(srcDoc(2, "c1", "c3")), want: 2},
		{name: "too large", body: big, wantErr: placement.ErrLimit},
		{name: "too large, chunked", body: big, chunked: true},
		{name: "too large, chunked again", body: big, chunked: true},
		{name: "not found", status: http.StatusNotFound, wantErr: ErrFetch},
		{name: "not modified, unasked", status: http.StatusNotModified, wantErr: ErrFetch},
		{name: "too large, chunked, after a failure", body: big, chunked: true, etag: `"big"`, wantErr: placement.ErrLimit},
		{name: "too large, not modified", status: http.StatusNotModified, wantINM: `"big"`},
		{name: "newer", body: string(srcDoc(3)), etag: `W/"c"`, wantINM: `"big"`, want: 3},
		{name: "weak ETag sent back", status: http.StatusNotModified, wantINM: `W/"c"`},
		{name: "newer again", body: string(srcDoc(4)), wantINM: `W/"c"`, want: 4},
	})
}

func TestHTTPSigned(t *testing.T) {
	pub, priv := srcKey()
	_, other := srcKey2()
	b64 := base64.StdEncoding.EncodeToString
	srcRunHTTP(t, HTTPConfig{}, placement.Options{PublicKeys: []ed25519.PublicKey{pub}}, []srcHTTPStep{
		{name: "unsigned", body: string(srcDoc(1)), wantErr: placement.ErrSignature},
		{name: "signed", body: string(srcDoc(1)), sig: b64(placement.Sign(priv, srcDoc(1))), want: 1},
		{name: "not base64", body: string(srcDoc(2)), sig: "not base64!", wantErr: placement.ErrSignature},
		{name: "untrusted key", body: string(srcDoc(2)), sig: b64(placement.Sign(other, srcDoc(2))), wantErr: placement.ErrSignature},
		{name: "signature of another document", body: string(srcDoc(2)), sig: b64(placement.Sign(priv, srcDoc(1))), wantErr: placement.ErrSignature},
		{name: "signed again", body: string(srcDoc(2)), sig: b64(placement.Sign(priv, srcDoc(2))), want: 2},
	})
}

func TestHTTPConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
		cfg  HTTPConfig
	}{
		{"relative URL", "/map.json", HTTPConfig{}},
		{"no host", "http:///map.json", HTTPConfig{}},
		{"other scheme", "ftp://cp/map.json", HTTPConfig{}},
		{"bad URL", "http://cp/%zz", HTTPConfig{}},
		{"user information", "https://user:secret@cp/map.json", HTTPConfig{}},
		{"negative interval", "http://cp/map.json", HTTPConfig{Interval: -1}},
		{"jitter 1", "http://cp/map.json", HTTPConfig{Jitter: 1}},
		{"jitter NaN", "http://cp/map.json", HTTPConfig{Jitter: math.NaN()}},
	} {
		_, err := NewHTTP(tc.url, tc.cfg)
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: NewHTTP(%q, %+v) = %v; want an error matching ErrConfig", tc.name, tc.url, tc.cfg, err)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: NewHTTP() = %v; the error must not show the password", tc.name, err)
		}
	}
	// Zero takes the default; a negative value means none.
	for _, tc := range []struct {
		name         string
		cfg          HTTPConfig
		jitter       float64
		minGap, tout time.Duration
		redirects    int
	}{
		{"zero", HTTPConfig{}, 0.1, time.Second, 5 * time.Second, 10},
		{"negative", HTTPConfig{Jitter: -1, MinInterval: -1, Timeout: -1, MaxRedirects: -1}, 0, 0, 0, 0},
		{"set", HTTPConfig{Jitter: 0.5, MinInterval: time.Minute, Timeout: time.Second, MaxRedirects: 3}, 0.5, 10 * time.Second, time.Second, 3},
	} {
		s, err := NewHTTP("https://cp.internal:8443/v1/map.json?cell=all", tc.cfg)
		if err != nil {
			t.Fatalf("%s: NewHTTP() = %v", tc.name, err)
		}
		if s.pace.jitter != tc.jitter || s.pace.minGap != tc.minGap || s.timeout != tc.tout || s.redir != tc.redirects {
			t.Errorf("%s: jitter %v, minimum gap %v, timeout %v, redirects %d; want %v, %v, %v, %d",
				tc.name, s.pace.jitter, s.pace.minGap, s.timeout, s.redir, tc.jitter, tc.minGap, tc.tout, tc.redirects)
		}
	}
}

// srcStall is a body that delivers nothing until its request is over.
type srcStall struct{ ctx context.Context }

func (b srcStall) Read([]byte) (int, error) {
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}

func TestHTTPTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(r *http.Request) (*http.Response, error)
	}{
		{"no answer", func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done()
			return nil, r.Context().Err()
		}},
		{"stalled body", func(r *http.Request) (*http.Response, error) {
			return srcAnswer(r, http.StatusOK, srcStall{r.Context()}), nil
		}},
	} {
		synctest.Test(t, func(t *testing.T) {
			s, err := NewHTTP("http://cp/map.json", HTTPConfig{
				Client:   &http.Client{Transport: srcTransport(tc.answer)},
				Interval: 10 * time.Second, Jitter: -1, Timeout: 2 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			// The first poll at once, reported after the timeout; the
			// second an interval later, the same state, not reported.
			start := time.Now()
			m, err := s.Next(t.Context())
			srcCheck(t, tc.name, m, err, 0, ErrFetch)
			if got := time.Since(start); got != 2*time.Second {
				t.Errorf("%s: report came after %v; want 2s", tc.name, got)
			}
			m, err = nextWithin(s, t.Context(), time.Minute)
			srcCheck(t, tc.name+", again", m, err, 0, nil)

			// Without a timeout, only ctx ends the request.
			s, err = NewHTTP("http://cp/map.json", HTTPConfig{
				Client: &http.Client{Transport: srcTransport(tc.answer)}, Timeout: -1,
			})
			if err != nil {
				t.Fatal(err)
			}
			start = time.Now()
			m, err = nextWithin(s, t.Context(), time.Hour)
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Hour {
				t.Errorf("%s, no timeout: Next() = %s after %v; want ctx's deadline after 1h", tc.name, srcOutcome(m, err), time.Since(start))
			}
		})
	}
}

func TestHTTPRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu       sync.Mutex
			requests []time.Duration // since start
			body     = string(srcDoc(1))
			etag     = `"1"`
			stall    bool
		)
		start := time.Now()
		answer := func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			requests = append(requests, time.Since(start))
			b, e, st := body, etag, stall
			mu.Unlock()
			if st {
				<-r.Context().Done()
				return nil, r.Context().Err()
			}
			if r.Header.Get("If-None-Match") == e {
				return srcAnswer(r, http.StatusNotModified, strings.NewReader("")), nil
			}
			return srcAnswer(r, http.StatusOK, strings.NewReader(b), "ETag", e), nil
		}
		s, err := NewHTTP("http://cp/map.json", HTTPConfig{
			Client:   &http.Client{Transport: srcTransport(answer)},
			Interval: time.Hour, MinInterval: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		var _ Refresher = s
		if m, err := s.Next(t.Context()); err != nil || m.Version() != 1 {
			t.Fatalf("Next() = %s; want version 1", srcOutcome(m, err))
		}

		// Refreshes before Next coalesce into one poll, a MinInterval after
		// the last; that poll finds nothing new, and the next is an hour away.
		for range 5 {
			s.Refresh()
		}
		m, err := nextWithin(s, t.Context(), 30*time.Second)
		srcCheck(t, "refreshed, not modified", m, err, 0, nil)
		mu.Lock()
		if want := []time.Duration{0, time.Second}; !slices.Equal(requests, want) {
			t.Errorf("requests at %v; want %v", requests, want)
		}
		body, etag = string(srcDoc(2)), `"2"`
		mu.Unlock()

		// A Refresh wakes a waiting Next.
		go func() {
			time.Sleep(10 * time.Second)
			s.Refresh()
		}()
		if m, err := s.Next(t.Context()); err != nil || m.Version() != 2 {
			t.Fatalf("Next() = %s; want version 2", srcOutcome(m, err))
		}
		if got, want := time.Since(start), 40*time.Second; got != want {
			t.Errorf("Next() returned at %v; want %v, when Refresh was called", got, want)
		}

		// ctx ends Next in a request or in a wait, with ctx.Err().
		for _, st := range []bool{true, false} {
			mu.Lock()
			stall = st
			mu.Unlock()
			s.Refresh()
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				time.Sleep(5 * time.Second)
				cancel()
			}()
			t0 := time.Now()
			m, err := s.Next(ctx)
			if !errors.Is(err, context.Canceled) || time.Since(t0) != 5*time.Second {
				t.Errorf("Next(stall=%v) = %s after %v; want context.Canceled after 5s", st, srcOutcome(m, err), time.Since(t0))
			}
		}
	})
}

// TestHTTPNoMinInterval: with a negative MinInterval, a Refresh polls at
// once after the last poll.
func TestHTTPNoMinInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var requests []time.Duration
		start := time.Now()
		answer := func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			requests = append(requests, time.Since(start))
			mu.Unlock()
			return srcAnswer(r, http.StatusOK, strings.NewReader(string(srcDoc(1)))), nil
		}
		s, err := NewHTTP("http://cp/map.json", HTTPConfig{
			Client: &http.Client{Transport: srcTransport(answer)}, Interval: time.Hour, MinInterval: -1,
		})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := s.Next(t.Context()); err != nil || m.Version() != 1 {
			t.Fatalf("Next() = %s; want version 1", srcOutcome(m, err))
		}
		s.Refresh()
		m, err := nextWithin(s, t.Context(), time.Minute)
		srcCheck(t, "refreshed", m, err, 0, nil)
		mu.Lock()
		defer mu.Unlock()
		if want := []time.Duration{0, 0}; !slices.Equal(requests, want) {
			t.Errorf("requests at %v; want %v", requests, want)
		}
	})
}

// A srcOrigin is a loopback server that records the requests it gets.
type srcOrigin struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header // by request, in order
	path []string
}

func newSrcOrigin(t *testing.T, h func(o *srcOrigin, w http.ResponseWriter, r *http.Request)) *srcOrigin {
	o := &srcOrigin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.seen = append(o.seen, r.Header.Clone())
		o.path = append(o.path, r.URL.Path)
		o.mu.Unlock()
		h(o, w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *srcOrigin) requests() ([]http.Header, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.seen), slices.Clone(o.path)
}

// TestHTTPRedirect serves redirects from one loopback server to itself and
// to another (another origin: another port). Redirects to the same origin
// are followed with the configured headers; to another origin, they are
// refused by default, and when allowed go without the configured headers.
func TestHTTPRedirect(t *testing.T) {
	doc := string(srcDoc(1))
	other := newSrcOrigin(t, func(o *srcOrigin, w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, doc)
	})
	home := newSrcOrigin(t, func(o *srcOrigin, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/map.json", http.StatusFound)
		case "/twice":
			http.Redirect(w, r, "/same", http.StatusFound)
		case "/cross":
			http.Redirect(w, r, other.URL+"/map.json", http.StatusTemporaryRedirect)
		case "/map.json":
			io.WriteString(w, doc)
		default:
			http.NotFound(w, r)
		}
	})
	header := http.Header{"Authorization": {"Bearer secret"}, "X-Api-Key": {"key"}}
	userChecked := 0
	for _, tc := range []struct {
		name      string
		path      string
		cfg       HTTPConfig
		wantErr   error    // nil: version 1
		homePaths []string // requests to home, each with the headers
		toOther   bool     // a request reaches other, without the headers
	}{
		{"same origin", "/same", HTTPConfig{}, nil, []string{"/same", "/map.json"}, false},
		{"same origin, twice", "/twice", HTTPConfig{}, nil, []string{"/twice", "/same", "/map.json"}, false},
		{"other origin", "/cross", HTTPConfig{}, ErrRedirect, []string{"/cross"}, false},
		{"other origin allowed", "/cross", HTTPConfig{CrossOriginRedirects: true}, nil, []string{"/cross"}, true},
		{"no redirects", "/same", HTTPConfig{MaxRedirects: -1}, ErrRedirect, []string{"/same"}, false},
		{"too many redirects", "/twice", HTTPConfig{MaxRedirects: 1}, ErrRedirect, []string{"/twice", "/same"}, false},
		{"the client's own policy", "/same", HTTPConfig{Client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			userChecked++
			return errors.New("refused by the user")
		}}}, ErrFetch, []string{"/same"}, false},
	} {
		homeBefore, _ := home.requests()
		otherBefore, _ := other.requests()
		tc.cfg.Header = header
		s, err := NewHTTP(home.URL+tc.path, tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		m, err := nextWithin(s, t.Context(), 10*time.Second)
		if tc.wantErr == nil {
			srcCheck(t, tc.name, m, err, 1, nil)
		} else {
			srcCheck(t, tc.name, m, err, 0, tc.wantErr)
			if !errors.Is(err, ErrFetch) {
				t.Errorf("%s: Next() = %v; want it to match ErrFetch", tc.name, err)
			}
		}
		seen, paths := home.requests()
		seen, paths = seen[len(homeBefore):], paths[len(homeBefore):]
		if !slices.Equal(paths, tc.homePaths) {
			t.Errorf("%s: requests to the URL's origin %q; want %q", tc.name, paths, tc.homePaths)
		}
		for i, h := range seen {
			if h.Get("Authorization") != "Bearer secret" || h.Get("X-Api-Key") != "key" {
				t.Errorf("%s: request %d to the URL's origin had headers %v; want the configured ones", tc.name, i, h)
			}
		}
		oseen, _ := other.requests()
		oseen = oseen[len(otherBefore):]
		if got := len(oseen) > 0; got != tc.toOther {
			t.Errorf("%s: %d requests reached the other origin; want %v", tc.name, len(oseen), tc.toOther)
		}
		for _, h := range oseen {
			if h.Get("Authorization") != "" || h.Get("X-Api-Key") != "" || h.Get("Referer") != "" {
				t.Errorf("%s: the other origin got headers %v; want none of the configured ones, no Referer", tc.name, h)
			}
		}
	}
	if userChecked != 1 {
		t.Errorf("the client's CheckRedirect ran %d times; want 1", userChecked)
	}
}

func TestOriginOf(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"http://cp/map.json", "http://cp:80/other", true},
		{"https://cp/map.json", "https://CP:443/", true},
		{"http://cp/", "https://cp/", false},
		{"http://cp:8080/", "http://cp:8081/", false},
		{"http://cp/", "http://cp.evil/", false},
		{"http://[::1]:80/", "http://[::1]/", true},
	} {
		a, b := mustURL(t, tc.a), mustURL(t, tc.b)
		if got := originOf(a) == originOf(b); got != tc.same {
			t.Errorf("same origin(%s, %s) = %v; want %v", tc.a, tc.b, got, tc.same)
		}
	}
}
