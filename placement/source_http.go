package placement

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// SignatureHeader is the response header that carries the document's
// detached signature to an HTTPSource: the ed25519 signature of the body's
// exact bytes, in standard base64 with padding. It is read only when keys are
// trusted. A server's ETag must change when the signature does.
const SignatureHeader = "Cellkit-Signature"

// HTTPConfig configures an HTTPSource. The zero value is valid.
type HTTPConfig struct {
	// Client makes the requests; default http.DefaultClient. Timeout
	// bounds each request whatever the client's own settings.
	Client *http.Client
	// Interval is the time from the end of a poll to the start of the
	// next; default 10s.
	Interval time.Duration
	// Jitter spreads the polls of many clients: each interval is drawn
	// uniformly from Interval × (1 ± Jitter). Default 0.1; it must be below
	// 1, and a negative value means none.
	Jitter float64
	// MinInterval is the shortest time from the end of a poll to a poll
	// that Refresh asks for, so that a burst of refreshes cannot flood the
	// server; default 1s, and at most Interval.
	MinInterval time.Duration
	// Timeout bounds each request, body included; default 5s.
	Timeout time.Duration
	// Options are the parse options; Options.Limits.MaxBytes also bounds
	// the body read. Options.Signature must be empty: signatures come from
	// the SignatureHeader.
	Options Options
	// Header is added to each request, for instance for authorization.
	Header http.Header
}

// An HTTPSource is a Source that polls a URL for the document. It sends the
// last ETag it saw in If-None-Match, so a 304 Not Modified costs a round
// trip and nothing else; without an ETag, an unchanged body is recognized by
// its hash and costs no parse.
//
// A failed request (a network error, a timeout, a status other than 200 and
// 304) is reported at each poll; a bad document, once until its content
// changes. A body larger than Options.Limits.MaxBytes is refused, after
// reading at most that many bytes of it.
//
// Next is not for concurrent use; Refresh is safe from any goroutine.
type HTTPSource struct {
	url     string
	client  *http.Client
	header  http.Header
	timeout time.Duration
	opt     Options
	max     int
	pace    pacer
	gate    gate
	etag    string // of the last body read
}

// NewHTTPSource returns a source that polls rawURL, an absolute http or https
// URL. It makes no request: the first Next does.
func NewHTTPSource(rawURL string, cfg HTTPConfig) (*HTTPSource, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("placement: HTTP source %q: not an absolute http or https URL", rawURL)
	}
	switch {
	case cfg.Interval < 0, cfg.MinInterval < 0, cfg.Timeout < 0:
		return nil, errors.New("placement: HTTP source: negative duration")
	case !(cfg.Jitter < 1): // NaN too
		return nil, fmt.Errorf("placement: HTTP source: jitter %v is not below 1", cfg.Jitter)
	case len(cfg.Options.Signature) > 0:
		return nil, errors.New("placement: HTTP source: Options.Signature must be empty; signatures come from the " + SignatureHeader + " header")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
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
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	return &HTTPSource{
		url:     u.String(),
		client:  cfg.Client,
		header:  cfg.Header.Clone(),
		timeout: cfg.Timeout,
		opt:     cfg.Options,
		max:     cfg.Options.Limits.withDefaults().MaxBytes,
		pace:    newPacer(cfg.Interval, cfg.MinInterval, cfg.Jitter),
	}, nil
}

// Next returns the next map newer than the last it returned; see Source.
// The first call polls at once; each later poll comes a jittered interval
// after the end of the previous one, or sooner on Refresh.
func (s *HTTPSource) Next(ctx context.Context) (*Map, error) {
	for {
		if err := s.pace.wait(ctx); err != nil {
			return nil, err
		}
		m, err := s.poll(ctx)
		s.pace.done()
		if m != nil {
			return m, nil // even if ctx is done: the gate counts it delivered
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		if err != nil {
			return nil, err
		}
	}
}

// Refresh asks for a poll as soon as MinInterval allows: a Next waiting for
// the interval to pass polls then, and without one the next call of Next
// does not wait longer. It does not block, is safe from any goroutine, and
// calls coalesce.
func (s *HTTPSource) Refresh() { s.pace.wake() }

// poll makes one request and judges a new body. It returns nil, nil when
// there is nothing new to deliver or report.
func (s *HTTPSource) poll(ctx context.Context) (*Map, error) {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, s.fetchFailed(err)
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
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, s.fetchFailed(fmt.Errorf("status %s", resp.Status))
	case resp.ContentLength > int64(s.max):
		s.etag = resp.Header.Get("ETag")
		s.gate.forget()
		return nil, &SourceError{Source: s.url, Err: fieldErr(ErrLimit, "document", "", "%d bytes, more than %d", resp.ContentLength, s.max)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.max)+1))
	if err != nil {
		return nil, s.requestFailed(rctx, err)
	}
	s.etag = resp.Header.Get("ETag")
	if len(body) > s.max {
		s.gate.forget()
		return nil, &SourceError{Source: s.url, Err: fieldErr(ErrLimit, "document", "", "more than %d bytes", s.max)}
	}
	var sig []byte
	if len(s.opt.PublicKeys) > 0 {
		sig = []byte(resp.Header.Get(SignatureHeader))
	}
	k := keyOf(body, sig)
	if s.gate.seen(k) {
		return nil, nil
	}
	var sigs [][]byte
	if len(sig) > 0 {
		b, err := base64.StdEncoding.DecodeString(string(sig))
		if err != nil {
			return nil, &SourceError{Source: s.url, Err: fieldErr(ErrSignature, "signature", "", "the %s header is not base64", SignatureHeader)}
		}
		sigs = [][]byte{b}
	}
	m, err := s.gate.admit(body, k, sigs, s.opt)
	if err != nil {
		return nil, &SourceError{Source: s.url, Err: err}
	}
	return m, nil
}

// requestFailed reports a failed request or body read. A timeout is
// reported without wrapping context.DeadlineExceeded, which would read as
// the end of the caller's ctx.
func (s *HTTPSource) requestFailed(rctx context.Context, err error) error {
	if errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return s.fetchFailed(fmt.Errorf("no complete answer within %v", s.timeout))
	}
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err // SourceError names the URL
	}
	return s.fetchFailed(err)
}

func (s *HTTPSource) fetchFailed(err error) error {
	return &SourceError{Source: s.url, Err: fmt.Errorf("%w: %w", ErrFetch, err)}
}
