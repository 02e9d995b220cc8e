package cell_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// TestKeyFromHeaderTrims is Why bullet 9, first half: the client reads a
// blank-padded key as Go's server does, and a request with two values of
// the key header has no key on either side.
func TestKeyFromHeaderTrims(t *testing.T) {
	kf := cell.KeyFromHeader("tenant") // any case: the canonical name is used
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	req.Header.Set("Tenant", " \tt-1 \t")
	if k, ok := kf(req); !ok || k != "t-1" {
		t.Fatalf("KeyFromHeader on %q = %q, %v; want t-1", req.Header.Get("Tenant"), k, ok)
	}
	req.Header.Add("Tenant", "t-2")
	if k, ok := kf(req); ok {
		t.Fatalf("KeyFromHeader on two values = %q; want no key", k)
	}
	req.Header.Set("Tenant", "  ")
	if k, ok := kf(req); ok {
		t.Fatalf("KeyFromHeader on blanks = %q; want no key", k)
	}
}

// TestGuardTwoKeys is Why bullet 9, second half: the Guard answers 400 to a
// request with two values of its key header, and never serves it.
func TestGuardTwoKeys(t *testing.T) {
	m := oneCellMap(t, "http://c1.test")
	served := false
	g, err := cell.NewGuard(cell.GuardConfig{Cell: "c1", Map: func() *placement.Map { return m },
		Key: cell.KeyFromHeader("Tenant"), Next: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true })})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Add("Tenant", "t-1")
	req.Header.Add("Tenant", "t-2")
	w := httptest.NewRecorder()
	g.ServeHTTP(w, req)
	if w.Code != http.StatusBadRequest || served {
		t.Fatalf("Guard on two Tenant values = %d (served %v); want 400", w.Code, served)
	}
}

func oneCellMap(tb testing.TB, endpoint string) *placement.Map {
	tb.Helper()
	b := placement.NewBuilder(nil)
	if err := b.AddCell(placement.Cell{ID: "c1", Zone: "z1", Weight: 1, Endpoints: []placement.Endpoint{{URL: endpoint}}}); err != nil {
		tb.Fatal(err)
	}
	m, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// FuzzKeyAgreement is item 7's fuzz: for every key, put in a header, a
// query parameter or a path segment and sent through the Transport to a
// Guard over a real httptest round trip, the client and the Guard find the
// same key, or the Transport refuses the request before it is sent.
func FuzzKeyAgreement(f *testing.F) {
	for _, k := range []string{"t-1", " t-1 ", "\tt-1", "t\x7f", "t\x00x", "a/b", "%2F", "é", "a b", "a;b", "..", "?x=1", "#f", "t\r\nX-Evil: 1", "\xff"} {
		for mode := range byte(3) {
			f.Add(k, mode)
		}
	}
	var sent, seen atomic.Value
	var reached atomic.Int64
	var keyf [3]cell.KeyFunc
	keyf[0] = cell.KeyFromHeader("Tenant")
	keyf[1] = cell.KeyFromQuery("tenant")
	keyf[2] = cell.KeyFromPath(1)
	var mode atomic.Int32
	guardKey := func(r *http.Request) (string, bool) { return keyf[mode.Load()](r) }
	var m *placement.Map
	g, err := cell.NewGuard(cell.GuardConfig{Cell: "c1", Map: func() *placement.Map { return m }, Key: guardKey,
		Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k, _ := guardKey(r)
			seen.Store(k)
		})})
	if err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		g.ServeHTTP(w, r)
	}))
	f.Cleanup(srv.Close)
	m = oneCellMap(f, srv.URL)
	c, err := cell.NewClient(cell.Config{Source: source.NewStatic(m), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	f.Cleanup(func() { cancel(); <-done })
	<-c.Ready()
	clientKey := func(r *http.Request) (string, bool) {
		k, ok := keyf[mode.Load()](r)
		sent.Store(k)
		return k, ok
	}
	rt := c.Transport(srv.Client().Transport, clientKey)

	f.Fuzz(func(t *testing.T, key string, md byte) {
		md %= 3
		mode.Store(int32(md))
		sent.Store("")
		seen.Store("")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://svc/", nil)
		if err != nil {
			t.Fatal(err)
		}
		switch md {
		case 0:
			req.Header.Set("Tenant", key)
		case 1:
			req.URL.RawQuery = url.Values{"tenant": {key}}.Encode()
		case 2:
			req.URL.Path = "/tenants/" + key + "/orders"
			req.URL.RawPath = ""
		}
		before := reached.Load()
		resp, err := rt.RoundTrip(req)
		if err != nil {
			if reached.Load() != before {
				t.Fatalf("mode %d, key %q: RoundTrip = %v after the request reached the cell; want refused before sending", md, key, err)
			}
			if !errors.Is(err, cell.ErrNoKey) && !errors.Is(err, cell.ErrCaller) {
				t.Fatalf("mode %d, key %q: RoundTrip = %v; want a refusal of the caller's request", md, key, err)
			}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || sent.Load() != seen.Load() {
			t.Fatalf("mode %d, key %q: client sent key %q, Guard saw %q (status %d); want the same key, served",
				md, key, sent.Load(), seen.Load(), resp.StatusCode)
		}
	})
}
