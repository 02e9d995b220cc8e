package source

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cellkit/cellkit/placement"
)

// SignatureHeader is the response header that carries the document's
// detached signature to an HTTP source: the ed25519 signature of the body's
// exact bytes, in standard base64 with padding. It is read only when keys are
// trusted. A server's ETag must change when the signature does.
const SignatureHeader = "Cellkit-Signature"

// HTTPConfig configures an HTTP source. The zero value is valid.
type HTTPConfig struct {
	// Client makes the requests; default http.DefaultClient. The source
	// uses a copy whose CheckRedirect applies MaxRedirects and
	// CrossOriginRedirects before the client's own CheckRedirect, if any.
	// Timeout bounds each request whatever the client's own settings.
	Client *http.Client
	// Interval is the time from the end of a poll to the start of the
	// next; default 10s. It must not be negative.
	Interval time.Duration
	// Jitter spreads the polls of many clients: each interval is drawn
	// uniformly from Interval × (1 ± Jitter). Default 0.1; a negative value
	// means none; it must be below 1.
	Jitter float64
	// MinInterval is the shortest time from the end of a poll to a poll
	// that Refresh asks for, so that a burst of refreshes cannot flood the
	// server; default 1s, and at most Interval. A negative value means
	// none: Refresh polls at once.
	MinInterval time.Duration
	// Timeout bounds each request, body included; default 5s. A negative
	// value means none beyond the ctx of Next.
	Timeout time.Duration
	// Header is added to each request, for instance for authorization. It
	// is never sent to another origin than the URL's: a redirect that the
	// source follows to another origin goes without it, and without a
	// Referer.
	Header http.Header
	// MaxRedirects is the number of redirects a request may follow;
	// default 10. A negative value means none: a redirect is reported
	// (ErrRedirect).
	MaxRedirects int
	// CrossOriginRedirects lets requests follow redirects to another
	// origin (scheme, host and port) than the URL's, without Header. By
	// default they are not followed but reported (ErrRedirect).
	CrossOriginRedirects bool
}

// An HTTP is a source that polls a URL for the document. It sends the last
// ETag it saw in If-None-Match, so a 304 Not Modified costs a round trip
// and nothing else; without an ETag, an unchanged body is recognized by its
// hash and costs no parse.
//
// Each state is reported once: a failed request (a network error, a
// timeout, a status other than 200 and 304, a redirect not followed, all
// matching ErrFetch) until its cause changes or a request
// succeeds; a bad document, until its content changes. A body larger than
// the parse options' MaxBytes is refused, after reading at most that many bytes
// of it.
//
// Next is not for concurrent use; Refresh is safe from any goroutine.
type HTTP struct {
	url     string
	origin  string
	client  *http.Client
	header  http.Header
	timeout time.Duration // 0 for none
	parse   parsing
	pace    pacer
	rep     reporter
	etag    string  // of the last body read
	etagIs  outcome // what the body of etag was
	redir   int     // most redirects followed, 0 for none
	cross   bool
	check   func(*http.Request, []*http.Request) error // the client's own
}

// NewHTTP returns a source that polls rawURL, an absolute http or https
// URL without user information (credentials go in Header). It makes no
// request: the first Next does. Errors match ErrConfig.
func NewHTTP(rawURL string, cfg HTTPConfig) (*HTTP, error) {
	u, err := url.Parse(rawURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("%w: HTTP source: %q is not an absolute http or https URL", ErrConfig, shorten(rawURL))
	case u.User != nil:
		return nil, fmt.Errorf("%w: HTTP source: the URL holds user information; put credentials in Header", ErrConfig)
	case cfg.Interval < 0:
		return nil, fmt.Errorf("%w: HTTP source: negative Interval %v", ErrConfig, cfg.Interval)
	case !(cfg.Jitter < 1): // NaN too
		return nil, fmt.Errorf("%w: HTTP source: Jitter %v is not below 1", ErrConfig, cfg.Jitter)
	}
	def := func(d *time.Duration, v time.Duration) {
		switch {
		case *d == 0:
			*d = v
		case *d < 0:
			*d = 0
		}
	}
	def(&cfg.Interval, 10*time.Second)
	def(&cfg.MinInterval, time.Second)
	def(&cfg.Timeout, 5*time.Second)
	switch {
	case cfg.Jitter == 0:
		cfg.Jitter = 0.1
	case cfg.Jitter < 0:
		cfg.Jitter = 0
	}
	switch {
	case cfg.MaxRedirects == 0:
		cfg.MaxRedirects = 10
	case cfg.MaxRedirects < 0:
		cfg.MaxRedirects = 0
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	s := &HTTP{
		url:     u.String(),
		origin:  originOf(u),
		header:  cfg.Header.Clone(),
		timeout: cfg.Timeout,
		parse:   newParsing(),
		pace:    newPacer(cfg.Interval, cfg.MinInterval, cfg.Jitter),
		redir:   cfg.MaxRedirects,
		cross:   cfg.CrossOriginRedirects,
		check:   cfg.Client.CheckRedirect,
	}
	c := *cfg.Client
	c.CheckRedirect = s.checkRedirect
	s.client = &c
	return s, nil
}

// originOf returns the origin of an http or https URL: scheme, host and
// port, with the scheme's default port written out.
func originOf(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// checkRedirect applies MaxRedirects and CrossOriginRedirects, and keeps
// Header from other origins. net/http calls it with the next request's
// headers already copied from the first request.
func (s *HTTP) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > s.redir {
		if s.redir == 0 {
			return fmt.Errorf("%w: to %s (MaxRedirects is negative)", ErrRedirect, shorten(req.URL.Redacted()))
		}
		return fmt.Errorf("%w: stopped after %d redirects", ErrRedirect, s.redir)
	}
	if originOf(req.URL) != s.origin {
		if !s.cross {
			return fmt.Errorf("%w: to another origin, %s", ErrRedirect, shorten(req.URL.Redacted()))
		}
		for k := range s.header {
			req.Header.Del(k)
		}
		req.Header.Del("Referer") // the URL, whose query may hold a token
	}
	if s.check != nil {
		return s.check(req, via)
	}
	return nil
}

// Next returns the next map newer than the last it returned; see
// Source. The first call polls at once; each later poll comes a
// jittered interval after the end of the previous one, or sooner on Refresh.
func (s *HTTP) Next(ctx context.Context) (*placement.Map, error) {
	for {
		if err := s.pace.wait(ctx); err != nil {
			return nil, err
		}
		m, err := s.poll(ctx)
		s.pace.done()
		if m != nil {
			return m, nil // even if ctx is done: it counts as delivered
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if err != nil {
			return nil, err
		}
	}
}

// SetParse sets the parse options (limits, trusted keys) and the map in
// force that a new document replaces; see Parser. Options.Limits.MaxBytes
// also bounds the body read. It must not run concurrently with Next.
func (s *HTTP) SetParse(opt placement.Options, current func() *placement.Map) {
	s.parse.set(opt, current)
}

// Refresh asks for a poll as soon as MinInterval allows: a Next waiting for
// the interval to pass polls then, and without one the next call of Next
// does not wait longer. It does not block, is safe from any goroutine, and
// calls coalesce.
func (s *HTTP) Refresh() { s.pace.wake() }

// poll makes one request and judges a new body. It returns nil, nil when
// there is nothing new to deliver or report.
func (s *HTTP) poll(ctx context.Context) (*placement.Map, error) {
	rctx, cancel := ctx, context.CancelFunc(func() {})
	if s.timeout > 0 {
		rctx, cancel = context.WithTimeout(ctx, s.timeout)
	}
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, s.failed(err)
	}
	if s.header != nil {
		req.Header = s.header.Clone()
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if s.etag != "" {
		req.Header.Set("If-None-Match", s.etag)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.requestFailed(rctx, err)
	}
	defer func() {
		// Drain a little so that the connection can be reused.
		io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
	}()
	switch {
	case resp.StatusCode == http.StatusNotModified && s.etag != "":
		return nil, s.rep.report(s.etagIs, nil) // the state of the last body
	case resp.StatusCode != http.StatusOK:
		return nil, s.failed(fmt.Errorf("status %s", shorten(resp.Status)))
	case resp.ContentLength > int64(s.parse.max):
		return nil, s.tooLarge(resp, fieldErr(placement.ErrLimit, "document", "%d bytes, more than %d", resp.ContentLength, s.parse.max))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.parse.max)+1))
	if err != nil {
		return nil, s.requestFailed(rctx, err)
	}
	if len(body) > s.parse.max {
		return nil, s.tooLarge(resp, fieldErr(placement.ErrLimit, "document", "more than %d bytes", s.parse.max))
	}
	var sig []byte
	if s.parse.signed() {
		sig = []byte(resp.Header.Get(SignatureHeader))
	}
	k := keyOf(body, sig)
	s.etag, s.etagIs = resp.Header.Get("ETag"), outcome{content: k}
	if s.rep.judged(k) {
		return nil, nil
	}
	var sigs [][]byte
	if len(sig) > 0 {
		b, err := base64.StdEncoding.DecodeString(string(sig))
		if err != nil {
			return nil, &SourceError{Source: s.url, Err: fieldErr(placement.ErrSignature, "signature", "the %s header is not base64", SignatureHeader)}
		}
		sigs = [][]byte{b}
	}
	m, err := s.parse.parse(body, sigs)
	if err != nil {
		return nil, &SourceError{Source: s.url, Err: err}
	}
	if !s.rep.deliver(k) {
		return nil, nil
	}
	return m, nil
}

// tooLarge reports a body over the limit: a state of the source, and of the
// response's ETag.
func (s *HTTP) tooLarge(resp *http.Response, err error) error {
	err = &SourceError{Source: s.url, Err: err}
	s.etag, s.etagIs = resp.Header.Get("ETag"), outcome{failure: "too large"}
	return s.rep.fail("too large", err)
}

// requestFailed reports a failed request or body read. A timeout is
// reported without wrapping context.DeadlineExceeded, which would read as
// the end of the caller's ctx.
func (s *HTTP) requestFailed(rctx context.Context, err error) error {
	if s.timeout > 0 && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return s.failed(fmt.Errorf("no complete answer within %v", s.timeout))
	}
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err // the SourceError names the URL
	}
	return s.failed(err)
}

// failed reports a fetch failure, unless it is the state last reported.
func (s *HTTP) failed(err error) error {
	err = fetchErr(s.url, err)
	return s.rep.fail(err.Error(), err)
}
