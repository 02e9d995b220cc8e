package cell_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/cellkit/cellkit/cell"
)

// TestTransportLeavesCallerRequest: each attempt's request is the caller's
// with a URL and a header of its own (the protocol's headers added), so that
// neither the caller's request nor a later attempt sees what an attempt's
// RoundTripper did to its own: an append to a shared header value, a
// rewritten path. The first attempt shares the caller's context.
func TestTransportLeavesCallerRequest(t *testing.T) {
	fx := newHTTPFixture(t, cell.Config{})
	key := fx.keyAt(t, "c0", "c1")
	var firstCtx context.Context
	fx.base.handlers["c0.test"] = func(w http.ResponseWriter, r *http.Request) {
		firstCtx = r.Context()
		r.Header["X-Multi"] = append(r.Header["X-Multi"], "evil")
		r.Header.Set("Tenant", "evil")
		r.URL.Path = "/changed"
		w.WriteHeader(http.StatusInternalServerError)
	}
	ctx := cell.WithClass(context.Background(), cell.Stateless)
	req := fx.request(t, ctx, http.MethodGet, "http://svc/x?q=1", key, nil)
	req.Header["X-Multi"] = append(make([]string, 0, 4), "a", "b") // room to append in place
	resp, err := fx.rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "from c1" {
		t.Fatalf("reply %q; want the failover's, from c1", got)
	}
	if firstCtx != req.Context() {
		t.Fatalf("the first attempt's context is not the caller's")
	}
	multi := req.Header["X-Multi"]
	if !slices.Equal(multi, []string{"a", "b"}) || multi[:3][2] != "" || req.Header.Get("Tenant") != key ||
		req.Header.Get(cell.HeaderCell) != "" || req.URL.String() != "http://svc/x?q=1" {
		t.Fatalf("the caller's request changed: header %v (spare %q), URL %v", req.Header, multi[:3][2], req.URL)
	}
	seen := fx.base.requests()
	if len(seen) != 2 {
		t.Fatalf("sent %+v; want c0 then c1", seen)
	}
	for i, s := range seen {
		want := []string{"c0", "c1"}[i]
		if s.header.Get(cell.HeaderCell) != want || s.header.Get(cell.HeaderMapVersion) != strconv.FormatUint(fx.m.Version(), 10) {
			t.Fatalf("attempt %d at %s: header %v; want %s: %s and the map's version", i, s.host, s.header, cell.HeaderCell, want)
		}
	}
	if s := seen[1]; s.path != "/api/x" || !slices.Equal(s.header["X-Multi"], []string{"a", "b"}) || s.header.Get("Tenant") != key {
		t.Fatalf("the failover saw path %q, header %v; want /api/x and the caller's header", s.path, s.header)
	}
}
