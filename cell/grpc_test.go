package cell_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
)

// grpcReply writes a hand-made gRPC-over-HTTP reply: trailers-only (the
// status in the headers, no message), or one message then the status in
// the trailers.
func grpcReply(w http.ResponseWriter, status string, trailersOnly bool) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc+proto")
	if trailersOnly {
		h.Set("Grpc-Status", status)
		h.Set("Grpc-Message", "cell says "+status)
		w.WriteHeader(http.StatusOK)
		return
	}
	h.Set("Trailer", "Grpc-Status, Grpc-Message")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte{0, 0, 0, 0, 2, 0x08, 0x01}) // uncompressed, 2 bytes: field 1 = 1
	h.Set("Grpc-Status", status)
	h.Set("Grpc-Message", "cell says "+status)
}

// grpcCall posts a gRPC request for key with class and returns the reply's
// grpc-status, read as a gRPC client does.
func grpcCall(t *testing.T, hc *http.Client, key string, class cell.Class) (string, *http.Response, error) {
	t.Helper()
	ctx := cell.WithClass(context.Background(), class)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://fleet/pkg.Svc/Get", strings.NewReader("\x00\x00\x00\x00\x00"))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set(celltest.KeyHeader, key)
	resp, err := hc.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if s := resp.Header.Get("Grpc-Status"); s != "" {
		return s, resp, nil
	}
	return resp.Trailer.Get("Grpc-Status"), resp, nil
}

// TestGRPCUnavailable is Why bullet 7: a cell answering gRPC UNAVAILABLE
// (HTTP 200) is a failed cell: a Stateless call fails over, Writes open its
// breaker; other codes are the application's answer. Both shapes of reply,
// trailers-only and trailers after a message.
func TestGRPCUnavailable(t *testing.T) {
	for _, trailersOnly := range []bool{true, false} {
		var bad atomic.Value
		bad.Store("")
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 2, Stateless: true, Handler: func(id string) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case id == bad.Load().(string):
					grpcReply(w, "14", trailersOnly)
				case r.Header.Get(celltest.KeyHeader) == "not-found":
					grpcReply(w, "5", trailersOnly) // NOT_FOUND: the application's answer
				default:
					grpcReply(w, "0", trailersOnly)
				}
			})
		}})
		hc := f.HTTPClient()
		c := f.Client()
		const key = "tenant-7"
		r, _ := c.Resolve(context.Background(), key)
		bad.Store(r.Cell)
		st, _, err := grpcCall(t, hc, key, cell.Stateless)
		if err != nil || st != "0" {
			t.Fatalf("trailers-only %v: Stateless call with its home UNAVAILABLE = %q, %v; want 0 from the next cell", trailersOnly, st, err)
		}
		for range 4 { // with the Stateless call's, 5 failures in a row
			st, resp, err := grpcCall(t, hc, key, cell.Write)
			if err != nil || st != "14" || resp.StatusCode != http.StatusOK {
				t.Fatalf("trailers-only %v: Write to the UNAVAILABLE home = %q, %v; want its reply, grpc-status 14", trailersOnly, st, err)
			}
		}
		if s := c.Breakers().State(r.Cell); s != breaker.Open {
			t.Fatalf("trailers-only %v: home %s is %v after 5 UNAVAILABLE; want open", trailersOnly, r.Cell, s)
		}
		if _, _, err := grpcCall(t, hc, key, cell.Write); !errors.Is(err, cell.ErrCellUnavailable) {
			t.Fatalf("trailers-only %v: Write with the home open = %v; want ErrCellUnavailable", trailersOnly, err)
		}
		// NOT_FOUND is an answer: no failure counted, no failover.
		bad.Store("")
		nr, _ := c.Resolve(context.Background(), "not-found")
		if c.Breakers().State(nr.Cell) == breaker.Open {
			continue
		}
		before := failuresOf(c, nr.Cell)
		if st, _, err := grpcCall(t, hc, "not-found", cell.Stateless); err != nil || st != "5" || failuresOf(c, nr.Cell) != before {
			t.Fatalf("trailers-only %v: NOT_FOUND = %q, %v; want the answer, no failure counted", trailersOnly, st, err)
		}
	}
}

func failuresOf(c *cell.Client, id string) uint64 {
	for _, cs := range c.Stats().Cells {
		if cs.Cell == id {
			return cs.Failures
		}
	}
	return 0
}
