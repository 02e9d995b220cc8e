package cell_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
)

// Fuzz targets of the two places where the outside reaches the package: the
// Transport decoding a cell's reply, and the Guard parsing a request. Both go
// through the public API only.

// maxErrorLen bounds the message of any error the Transport returns for one
// reply: whatever a reply holds, the error quotes only bounded, checked
// parts of it.
const maxErrorLen = 512

// fuzzReply is a base RoundTripper that answers every request with one reply.
type fuzzReply struct {
	status  int
	header  http.Header
	trailer http.Header
	body    []byte
	sent    int
	bodies  []*trackedBody
}

func (f *fuzzReply) RoundTrip(r *http.Request) (*http.Response, error) {
	f.sent++
	if r.Body != nil {
		r.Body.Close()
	}
	tb := &trackedBody{r: io.NopCloser(bytes.NewReader(f.body))}
	f.bodies = append(f.bodies, tb)
	return &http.Response{
		StatusCode: f.status, Status: strconv.Itoa(f.status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: f.header.Clone(), Trailer: f.trailer.Clone(), Body: tb, ContentLength: int64(len(f.body)), Request: r,
	}, nil
}

func FuzzTransportReply(f *testing.F) {
	// Seeds: status, Cell-Owner, Cell-Map-Version, Cell-Refused,
	// Retry-After, Content-Type, grpc-status (header), grpc-status
	// (trailer), body, write.
	f.Add(200, "", "", "", "", "text/plain", "", "", []byte("ok"), false)
	f.Add(421, "c1", "5", "", "", "", "", "", []byte{}, true)
	f.Add(421, "c0", "99", "", "", "", "", "", []byte{}, false)
	f.Add(421, "bad owner\x7f", "5", "", "", "", "", "", []byte{}, true)
	f.Add(503, "", "5", "frozen", "2", "", "", "", []byte{}, true)
	f.Add(503, "", "", "behind", "Wed, 21 Oct 2015 07:28:00 GMT", "", "", "", []byte{}, false)
	f.Add(503, "", "", "other", "999999999999", "", "", "", []byte("x"), false)
	f.Add(500, "", "", "", "", "", "", "", []byte("boom"), true)
	f.Add(200, "", "", "", "", "application/grpc", "14", "", []byte{}, false)
	f.Add(200, "", "", "", "", "application/grpc+proto", "", "0", []byte{}, true)
	f.Add(0, "", "", "", "", "", "", "", []byte{}, false)

	m := mapOf(f, 1<<40, "", "c0/z0/active/http://c0.test", "c1/z0/active/http://c1.test")
	// The outcomes the client judged, exec by exec (a fuzz worker runs one
	// exec at a time).
	var outcomes []breaker.Outcome
	cfg := cell.Config{
		RefreshTimeout: time.Millisecond,
		Observer:       cell.Observer{Attempt: func(a cell.AttemptInfo) { outcomes = append(outcomes, a.Outcome) }},
		// Breakers that never open: every exec reaches its cell.
		Breakers: breaker.Config{ConsecutiveFailures: 1 << 30, MinRequests: 1 << 30},
	}
	// A cell's pushback (a 429 or 503 with Retry-After) holds the cell for
	// up to its Retry-After; each exec judges one reply on its own, so an
	// exec after a pushback gets a fresh client (fresh), and the rest share
	// one.
	var c *cell.Client
	stop := func() {}
	fresh := func(tb testing.TB) {
		stop()
		cfg := cfg
		cfg.Source = &fixedSource{m: m}
		cfg.Logger = slog.New(slog.DiscardHandler)
		cl, err := cell.NewClient(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { cl.Run(ctx); close(done) }()
		<-cl.Ready()
		c, stop = cl, func() { cancel(); <-done }
	}
	fresh(f)
	f.Cleanup(func() { stop() })
	held := func() bool {
		for _, cs := range c.Stats().Cells {
			if cs.Held > 0 {
				return true
			}
		}
		return false
	}
	key := "k0"
	home := ""
	for i := 0; home != "c0"; i++ {
		key = "k" + strconv.Itoa(i)
		a, _ := m.Locate(key)
		home = a.Cell
	}

	f.Fuzz(func(t *testing.T, status int, owner, version, refused, retry, ctype, grpcHeader, grpcTrailer string, body []byte, write bool) {
		h := http.Header{}
		set := func(name, v string) {
			if v != "" {
				h[name] = []string{v}
			}
		}
		set(cell.HeaderOwner, owner)
		set(cell.HeaderMapVersion, version)
		set(cell.HeaderRefused, refused)
		set(cell.HeaderRetryAfter, retry)
		set("Content-Type", ctype)
		set("Grpc-Status", grpcHeader)
		var tr http.Header
		if grpcTrailer != "" {
			tr = http.Header{"Grpc-Status": {grpcTrailer}}
		}
		base := &fuzzReply{status: status, header: h, trailer: tr, body: body}
		method := http.MethodGet
		if write {
			method = http.MethodPost
		}
		req, err := http.NewRequest(method, "http://svc/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Tenant", key)
		if held() {
			fresh(t)
		}
		outcomes = outcomes[:0]
		resp, err := c.Transport(base, cell.KeyFromHeader("Tenant")).RoundTrip(req)
		if len(outcomes) != 1 {
			t.Fatalf("%d attempts judged (%v); want 1", len(outcomes), outcomes)
		}

		if err != nil && len(err.Error()) > maxErrorLen {
			t.Fatalf("an error of %d bytes: %.200q…", len(err.Error()), err.Error())
		}
		if (resp == nil) == (err == nil) {
			t.Fatalf("RoundTrip = %v, %v; want a response or an error", resp, err)
		}
		if base.sent == 0 {
			t.Fatal("nothing sent")
		}

		// The classification agrees with the protocol's one decoder. A
		// gRPC reply's status is its headers', else its trailers'.
		grpcStatus := grpcHeader
		if grpcStatus == "" {
			grpcStatus = grpcTrailer
		}
		grpcCode := -1
		if n, err := strconv.ParseUint(grpcStatus, 10, 8); err == nil && status == 200 && isGRPCType(ctype) {
			grpcCode = int(n)
		}
		var me *cell.MovedError
		var re *cell.RefusedError
		var oe *cell.OverloadedError
		var te *cell.ThrottledError
		switch want := cell.DecodeReply(status, h); {
		case errors.As(want, &me):
			if !errors.Is(err, cell.ErrMoved) {
				t.Fatalf("a moved reply (%v) gave %v, %v; want an error matching ErrMoved", want, resp, err)
			}
			if placement.CheckCellID(me.Cell) != nil {
				t.Fatalf("DecodeReply followed an invalid owner %q", me.Cell)
			}
		case errors.As(want, &re):
			var got *cell.RefusedError
			if !errors.As(err, &got) || !errors.Is(err, re.Err) {
				t.Fatalf("a refusal (%v) gave %v, %v; want a RefusedError matching %v", want, resp, err, re.Err)
			}
			if got.RetryAfter < 0 || got.RetryAfter > time.Hour || got.Cell != "c0" || got.Key != key {
				t.Fatalf("RefusedError %+v; want c0, key %q, Retry-After in [0, 1h]", got, key)
			}
		case errors.As(want, &oe) || (want == nil && grpcCode == 8):
			// The cell's pushback (429/503 with Retry-After, or gRPC
			// RESOURCE_EXHAUSTED): an OverloadedError, not the cell's
			// failure.
			var got *cell.OverloadedError
			if !errors.As(err, &got) || got.RetryAfter < 0 || got.RetryAfter > time.Hour {
				t.Fatalf("a pushback (%d, grpc-status %q) gave %v, %v; want an OverloadedError with its wait in [0, 1h]", status, grpcStatus, resp, err)
			}
		case errors.As(want, &te):
			if !errors.Is(err, cell.ErrThrottled) {
				t.Fatalf("a throttled reply (%v) gave %v, %v; want an error matching ErrThrottled", want, resp, err)
			}
		default:
			// Any other reply is the cell's answer or its failure, and
			// comes back as the response.
			if err != nil || resp.StatusCode != status {
				t.Fatalf("a plain %d reply gave %v, %v; want it as the response", status, resp, err)
			}
			got, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := body
			if status >= 500 {
				want = body[:min(len(body), 64<<10)] // a failed reply, buffered
			}
			if rerr != nil || !bytes.Equal(got, want) {
				t.Fatalf("response body %d bytes, %v; want the reply's %d", len(got), rerr, len(want))
			}
			// The cell's failure: a 5xx, or a gRPC reply (200 with a
			// gRPC Content-Type) whose grpc-status, from its headers
			// else its trailers, is UNAVAILABLE.
			wantFail := status >= 500 || grpcCode == 14
			judged := breaker.Success
			if wantFail {
				judged = breaker.Failure
			}
			if outcomes[0] != judged {
				t.Fatalf("status %d (%q, grpc-status %q) judged %v; want %v", status, ctype, grpcStatus, outcomes[0], judged)
			}
		}
		if err != nil && outcomes[0] != breaker.Ignored {
			t.Fatalf("a protocol reply (%v) judged %v; want Ignored: the cell answered", err, outcomes[0])
		}
		for i, b := range base.bodies {
			if !b.isClosed() {
				t.Fatalf("the body of reply %d of %d is open", i, len(base.bodies))
			}
		}
	})
}

// isGRPCType reports whether a Content-Type is gRPC's over HTTP:
// application/grpc, alone or followed by "+" or ";".
func isGRPCType(ct string) bool {
	rest, ok := strings.CutPrefix(ct, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// FuzzGuardRequest serves requests with fuzzed methods and headers (any
// bytes: a Guard may sit behind a proxy or a frontend that is not Go's
// server) to a Guard through httptest, and checks that every answer is one
// the Guard documents, consistent with its map and with its KeyFunc's view
// of the key: served only if owned, a 421 naming the map's owner at its
// version, a 503 only for a frozen write or a newer map, a 400 exactly for
// no key or a malformed Cell-Map-Version, Cell-Id on every reply, and
// bounded bodies. (FuzzKeyAgreement sends keys over a real round trip.)
func FuzzGuardRequest(f *testing.F) {
	gf := newGuardFixture(f, false)
	m := gf.m
	var frozen string
	for _, mg := range m.Migrations() {
		frozen = mg.Key
	}
	mine := gf.keyIn(f, m, "c0", "", 1)
	theirs := gf.keyIn(f, m, "c2", "", 0)
	v := strconv.FormatUint(m.Version(), 10)
	f.Add("GET", mine, "", v)
	f.Add("POST", frozen, "", v)
	f.Add("GET", theirs, "", "")
	f.Add("PUT", theirs, "", "999")
	f.Add("GET", "", "", "")
	f.Add("DELETE", mine, mine, "x")
	f.Add("GET", " "+mine+"\t", "", " "+v)
	f.Add("OPTIONS", theirs, "second", "-1")
	f.Add("", "\x00\x7f", "", "18446744073709551616")

	keyOf := cell.KeyFromHeader("Tenant")
	var served string
	g, err := cell.NewGuard(cell.GuardConfig{Cell: "c0", Map: mapFunc(func() *placement.Map { return m }), Key: keyOf,
		Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served, _ = keyOf(r)
			io.WriteString(w, "served")
		})})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, method, key, key2, version string) {
		r := httptest.NewRequest(http.MethodGet, "http://c0.test/x", nil)
		r.Method = method
		if key != "" {
			r.Header["Tenant"] = []string{key}
			if key2 != "" {
				r.Header["Tenant"] = append(r.Header["Tenant"], key2)
			}
		}
		if version != "" {
			r.Header[cell.HeaderMapVersion] = []string{version}
		}
		k, hasKey := keyOf(r)
		served = ""
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		h := w.Header()
		if h.Get(cell.HeaderCell) != "c0" {
			t.Fatalf("a %d reply without Cell-Id c0", w.Code)
		}
		if w.Body.Len() > 256 {
			t.Fatalf("a %d reply of %d bytes: %.100q", w.Code, w.Body.Len(), w.Body.Bytes())
		}
		_, verr := strconv.ParseUint(version, 10, 64)
		bad := !hasKey || (version != "" && verr != nil)
		if bad != (w.Code == http.StatusBadRequest) {
			t.Fatalf("%q key %q, second value %q, version %q: %d %s", method, key, key2, version, w.Code, w.Body.Bytes())
		}
		read := method == "" || method == "GET" || method == "HEAD" || method == "OPTIONS"
		switch w.Code {
		case http.StatusOK:
			owned := m.OwnsWrite("c0", k)
			if read {
				owned = m.Owns("c0", k)
			}
			if !owned || served != k {
				t.Fatalf("%q served key %q (the KeyFunc finds %q), which c0 does not own", method, served, k)
			}
		case http.StatusMisdirectedRequest:
			var me *cell.MovedError
			if err := cell.DecodeReply(w.Code, h); !errors.As(err, &me) || me.Version != m.Version() {
				t.Fatalf("a 421 that does not decode as moved at v%d: %v", m.Version(), err)
			}
			a, _ := m.Locate(k)
			if owner := a.Read[0]; read && me.Cell != owner || !read && me.Cell != a.Cell || me.Cell == "c0" {
				t.Fatalf("%q of %q: a 421 naming %s; the map's owner is %s (read cells %v)", method, k, me.Cell, a.Cell, a.Read)
			}
		case http.StatusServiceUnavailable:
			var re *cell.RefusedError
			if err := cell.DecodeReply(w.Code, h); !errors.As(err, &re) || re.RetryAfter <= 0 {
				t.Fatalf("a 503 that does not decode as a refusal with a Retry-After: %v", err)
			}
			switch a, _ := m.Locate(k); re.Err {
			case cell.ErrFrozen:
				if read || a.Writable {
					t.Fatalf("%q of %q refused as frozen; the key is writable %v", method, k, a.Writable)
				}
			case cell.ErrCellBehind:
				if n, _ := strconv.ParseUint(version, 10, 64); n <= m.Version() {
					t.Fatalf("%q of %q refused as behind for a request on v%d; the cell has v%d", method, k, n, m.Version())
				}
			}
		case http.StatusBadRequest: // checked above
		default:
			t.Fatalf("the Guard answered %d to %q key %q version %q", w.Code, method, key, version)
		}
	})
}
