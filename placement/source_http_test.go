package placement

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
)

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

// srcRunHTTP serves steps in order from a loopback server and checks that
// each Next returns at the next step that has something to say.
func srcRunHTTP(t *testing.T, cfg HTTPConfig, steps []srcHTTPStep) {
	t.Helper()
	var mu sync.Mutex
	served := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := served
		served++
		mu.Unlock()
		if i >= len(steps) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		st := steps[i]
		if got := r.Header.Get("If-None-Match"); got != st.wantINM {
			t.Errorf("%s: If-None-Match %q; want %q", st.name, got, st.wantINM)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer test" {
			t.Errorf("%s: Authorization %q; want the configured header", st.name, got)
		}
		if st.slow {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		if st.etag != "" {
			w.Header().Set("ETag", st.etag)
		}
		if st.sig != "" {
			w.Header().Set(SignatureHeader, st.sig)
		}
		w.WriteHeader(cmp.Or(st.status, http.StatusOK))
		if st.chunked {
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, st.body)
	}))
	defer srv.Close()

	cfg.Client = srv.Client()
	cfg.Interval = 5 * time.Millisecond
	cfg.Jitter = -1
	cfg.Timeout = 500 * time.Millisecond
	cfg.Header = http.Header{"Authorization": {"Bearer test"}}
	s, err := NewHTTPSource(srv.URL+"/map.json", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range steps {
		if st.want == 0 && st.wantErr == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		m, err := s.Next(ctx)
		cancel()
		srcCheck(t, st.name, m, err, st.want, st.wantErr)
		mu.Lock()
		n := served
		mu.Unlock()
		if n != i+1 {
			t.Fatalf("%s: Next() returned after %d requests; want %d", st.name, n, i+1)
		}
	}
}

func TestHTTPSource(t *testing.T) {
	garbage := `{"version": 2, "cells": [`
	big := strings.Repeat(" ", 300) + string(srcDoc(5))
	srcRunHTTP(t, HTTPConfig{Options: Options{Limits: Limits{MaxBytes: 200}}}, []srcHTTPStep{
		{name: "first", body: string(srcDoc(1)), etag: `"a"`, want: 1},
		{name: "not modified", status: http.StatusNotModified, wantINM: `"a"`},
		{name: "server error", status: http.StatusInternalServerError, wantINM: `"a"`, wantErr: ErrFetch},
		{name: "garbage", body: garbage, etag: `"b"`, wantINM: `"a"`, wantErr: ErrSyntax},
		{name: "garbage not modified", status: http.StatusNotModified, wantINM: `"b"`},
		{name: "garbage again, If-None-Match ignored", body: garbage, etag: `"b"`, wantINM: `"b"`},
		{name: "newer, no ETag", body: string(srcDoc(2)), wantINM: `"b"`, want: 2},
		{name: "same body", body: string(srcDoc(2))},
		{name: "older", body: string(srcDoc(1)), wantErr: ErrStaleVersion},
		{name: "same version, other cells", body: string(srcDoc(2, "c1", "c3")), wantErr: ErrStaleVersion},
		{name: "slow", slow: true, wantErr: ErrFetch},
		{name: "too large", body: big, wantErr: ErrLimit},
		{name: "too large, chunked", body: big, chunked: true, wantErr: ErrLimit},
		{name: "too large, chunked again", body: big, chunked: true, wantErr: ErrLimit},
		{name: "not found", status: http.StatusNotFound, wantErr: ErrFetch},
		{name: "not modified, unasked", status: http.StatusNotModified, wantErr: ErrFetch},
		{name: "newer", body: string(srcDoc(3)), etag: `W/"c"`, want: 3},
		{name: "weak ETag sent back", status: http.StatusNotModified, wantINM: `W/"c"`},
		{name: "newer again", body: string(srcDoc(4)), wantINM: `W/"c"`, want: 4},
	})
}

func TestHTTPSourceSigned(t *testing.T) {
	pub, priv := srcKey()
	_, other := srcKey2()
	b64 := base64.StdEncoding.EncodeToString
	srcRunHTTP(t, HTTPConfig{Options: Options{PublicKeys: []ed25519.PublicKey{pub}}}, []srcHTTPStep{
		{name: "unsigned", body: string(srcDoc(1)), wantErr: ErrSignature},
		{name: "signed", body: string(srcDoc(1)), sig: b64(Sign(priv, srcDoc(1))), want: 1},
		{name: "not base64", body: string(srcDoc(2)), sig: "not base64!", wantErr: ErrSignature},
		{name: "untrusted key", body: string(srcDoc(2)), sig: b64(Sign(other, srcDoc(2))), wantErr: ErrSignature},
		{name: "signature of another document", body: string(srcDoc(2)), sig: b64(Sign(priv, srcDoc(1))), wantErr: ErrSignature},
		{name: "signed again", body: string(srcDoc(2)), sig: b64(Sign(priv, srcDoc(2))), want: 2},
	})
}

func TestHTTPSourceConfig(t *testing.T) {
	pub, _ := srcKey()
	for _, tc := range []struct {
		name string
		url  string
		cfg  HTTPConfig
	}{
		{"relative URL", "/map.json", HTTPConfig{}},
		{"no host", "http:///map.json", HTTPConfig{}},
		{"other scheme", "ftp://cp/map.json", HTTPConfig{}},
		{"bad URL", "http://cp/%zz", HTTPConfig{}},
		{"negative interval", "http://cp/map.json", HTTPConfig{Interval: -1}},
		{"negative timeout", "http://cp/map.json", HTTPConfig{Timeout: -1}},
		{"negative minimum interval", "http://cp/map.json", HTTPConfig{MinInterval: -1}},
		{"jitter 1", "http://cp/map.json", HTTPConfig{Jitter: 1}},
		{"jitter NaN", "http://cp/map.json", HTTPConfig{Jitter: math.NaN()}},
		{"static signature", "http://cp/map.json", HTTPConfig{Options: Options{PublicKeys: []ed25519.PublicKey{pub}, Signature: make([]byte, 64)}}},
	} {
		if _, err := NewHTTPSource(tc.url, tc.cfg); err == nil {
			t.Errorf("%s: NewHTTPSource(%q, %+v) succeeded; want an error", tc.name, tc.url, tc.cfg)
		}
	}
	if _, err := NewHTTPSource("https://cp.internal:8443/v1/map.json?cell=all", HTTPConfig{}); err != nil {
		t.Errorf("NewHTTPSource(https URL) = %v; want no error", err)
	}
}

// srcTransport is a fake network for tests inside synctest bubbles.
type srcTransport func(*http.Request) (*http.Response, error)

func (f srcTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

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

// srcStall is a body that delivers nothing until its request is over.
type srcStall struct{ ctx context.Context }

func (b srcStall) Read([]byte) (int, error) {
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}

func TestHTTPSourceTimeout(t *testing.T) {
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
			s, err := NewHTTPSource("http://cp/map.json", HTTPConfig{
				Client:   &http.Client{Transport: srcTransport(tc.answer)},
				Interval: 10 * time.Second, Jitter: -1, Timeout: 2 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			// The first poll at once, the second an interval after the end
			// of the first.
			start := time.Now()
			for i, want := range []time.Duration{2 * time.Second, 14 * time.Second} {
				m, err := s.Next(t.Context())
				srcCheck(t, tc.name, m, err, 0, ErrFetch)
				if got := time.Since(start); got != want {
					t.Errorf("%s: report %d came after %v; want %v", tc.name, i+1, got, want)
				}
			}
		})
	}
}

func TestHTTPSourceRefresh(t *testing.T) {
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
		s, err := NewHTTPSource("http://cp/map.json", HTTPConfig{
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
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		m, err := s.Next(ctx)
		cancel()
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
