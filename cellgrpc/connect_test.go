package cellgrpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cellgrpc"
	"github.com/cellkit/cellkit/cellgrpc/cellgrpctest"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// stepSource delivers its first map, then the next one only when the
// client asks (Refresh): a client that learns of a new map from a moved
// reply.
type stepSource struct {
	first   *placement.Map
	pending chan *placement.Map
	out     chan *placement.Map
}

func (s *stepSource) Next(ctx context.Context) (*placement.Map, error) {
	if m := s.first; m != nil {
		s.first = nil
		return m, nil
	}
	select {
	case m := <-s.out:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *stepSource) Refresh() {
	select {
	case m := <-s.pending:
		s.out <- m
	default:
	}
}

// connect-go clients through cell.Transport, with the Connect protocol and
// with the gRPC protocol (HTTP/2 without TLS), reach the cell of their key,
// behind cell.Guard, and follow its moved reply once.
func TestConnectThroughTransport(t *testing.T) {
	const procedure = "/t.Items/PutItem"
	var guardMap [3]*placement.Map
	ids := []string{"a", "b", "c"}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	type cellDoc struct {
		ID        string              `json:"id"`
		Endpoints []map[string]string `json:"endpoints"`
	}
	doc := struct {
		Version uint64    `json:"version"`
		Seed    string    `json:"seed"`
		Cells   []cellDoc `json:"cells"`
	}{Version: 1, Seed: "3"}
	for i, id := range ids {
		mux := http.NewServeMux()
		mux.Handle(procedure, connect.NewUnaryHandler(procedure,
			func(ctx context.Context, r *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
				if r.Msg.GetValue() == "fail" {
					return nil, connect.NewError(connect.CodeUnavailable, errors.New("failing"))
				}
				return connect.NewResponse(wrapperspb.String(id)), nil
			}))
		g, err := cell.NewGuard(cell.GuardConfig{Cell: id, Map: source.HolderFunc(func() *placement.Map { return guardMap[i] }),
			Key: cell.KeyFromHeader("Cell-Key"), Next: mux})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(g)
		srv.Config.Protocols = protocols
		srv.Start()
		t.Cleanup(srv.Close)
		doc.Cells = append(doc.Cells, cellDoc{ID: id, Endpoints: []map[string]string{{"url": srv.URL}}})
	}
	data, _ := json.Marshal(doc)
	v1, err := placement.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	const key = "tenant-1"
	a1, _ := v1.Locate(key)
	other := "a"
	if a1.Cell == "a" {
		other = "b"
	}
	b := placement.NewBuilder(v1)
	if err := b.Pin(key, other); err != nil {
		t.Fatal(err)
	}
	v2, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	for i := range guardMap {
		guardMap[i] = v1
	}

	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	defer h2c.CloseIdleConnections()
	for _, proto := range []string{"connect", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			for i := range guardMap {
				guardMap[i] = v1
			}
			src := &stepSource{first: v1, pending: make(chan *placement.Map, 1), out: make(chan *placement.Map, 1)}
			var redirects []cell.RedirectInfo
			c, err := cell.NewClient(cell.Config{Source: src, Logger: slog.New(slog.DiscardHandler),
				Observer: cell.Observer{Redirect: func(i cell.RedirectInfo) { redirects = append(redirects, i) }}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { c.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			<-c.Ready()
			hc := &http.Client{Transport: c.Transport(h2c, cell.KeyFromHeader("Cell-Key"))}
			var opts []connect.ClientOption
			if proto == "grpc" {
				opts = append(opts, connect.WithGRPC())
			}
			client := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](hc, "http://cells"+procedure, opts...)
			call := func(v string) (string, error) {
				req := connect.NewRequest(wrapperspb.String(v))
				req.Header().Set("Cell-Key", key)
				resp, err := client.CallUnary(context.Background(), req)
				if err != nil {
					return "", err
				}
				return resp.Msg.GetValue(), nil
			}
			if got, err := call("x"); err != nil || got != a1.Cell {
				t.Fatalf("on v1: %q, %v; want %s", got, err, a1.Cell)
			}
			// The control plane pins the key elsewhere; the cells know,
			// the client learns it from the moved reply.
			for i := range guardMap {
				guardMap[i] = v2
			}
			src.pending <- v2
			if got, err := call("x"); err != nil || got != other {
				t.Fatalf("after the pin: %q, %v; want %s", got, err, other)
			}
			if len(redirects) != 1 || redirects[0].From != a1.Cell || redirects[0].To != other {
				t.Fatalf("redirects %+v; want one from %s to %s", redirects, a1.Cell, other)
			}
			// UNAVAILABLE is the cell's failure: with the Connect protocol
			// an HTTP 503, with the gRPC protocol a grpc-status the
			// Transport reads.
			_, err = call("fail")
			if connect.CodeOf(err) != connect.CodeUnavailable {
				t.Fatalf("fail: %v; want unavailable", err)
			}
			var failed uint64
			for _, cs := range c.Stats().Cells {
				if cs.Cell == other {
					failed = cs.Failures
				}
			}
			if failed != 1 {
				t.Fatalf("%s counts %d failures; want 1", other, failed)
			}
		})
	}
}

// The wire format read by another implementation: connect-go, speaking the
// gRPC protocol to a grpc-go cell behind the Guard, finds the moved reply's
// code, trailers and ErrorInfo detail where the package documentation says.
func TestWireFormatFromConnect(t *testing.T) {
	m := testMap(t, guardDoc)
	g, err := cellgrpc.NewGuard(cellgrpc.GuardConfig{Cell: "a", Map: fixed{m}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(g.Unary()))
	cellgrpctest.Register(srv, "a")
	go srv.Serve(lis)
	defer srv.Stop()
	key := ""
	for i := 0; key == ""; i++ {
		if a, _ := m.Locate(fmt.Sprint("k", i)); a.Cell == "b" {
			key = fmt.Sprint("k", i)
		}
	}
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	defer h2c.CloseIdleConnections()
	client := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](&http.Client{Transport: h2c},
		"http://"+lis.Addr().String()+cellgrpctest.MethodPutItem, connect.WithGRPC())
	req := connect.NewRequest(wrapperspb.String("x"))
	req.Header().Set("cell-key", key)
	req.Header().Set("cell-map-version", "5")
	_, err = client.CallUnary(context.Background(), req)
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeFailedPrecondition {
		t.Fatalf("moved: %v; want failed_precondition", err)
	}
	if ce.Meta().Get("cell-owner") != "b" || ce.Meta().Get("cell-map-version") != "5" || ce.Meta().Get("cell-id") != "a" {
		t.Fatalf("moved trailers %v; want cell-owner b, cell-map-version 5, cell-id a", ce.Meta())
	}
	var info *errdetails.ErrorInfo
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if i, ok := v.(*errdetails.ErrorInfo); ok {
				info = i
			}
		}
	}
	if info == nil || info.GetDomain() != cellgrpc.ErrorDomain || info.GetReason() != cellgrpc.ReasonMoved ||
		info.GetMetadata()["cell-owner"] != "b" || info.GetMetadata()["cell-map-version"] != "5" {
		t.Fatalf("moved detail %v; want ErrorInfo{cellkit, CELL_MOVED, owner b, version 5}", info)
	}
}
