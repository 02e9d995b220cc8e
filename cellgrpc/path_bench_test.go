package cellgrpc

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	"google.golang.org/grpc"
	"google.golang.org/grpc/balancer"
)

type fakeSubConn struct{ balancer.SubConn }

// BenchmarkClientPath is what the Router adds to a unary call, without the
// network: the interceptor (key, class, Do, the attempt's context and
// metadata) and the balancer's pick, around an invoker that does nothing
// else. Set beside BenchmarkUnary's loopback call, it bounds the Router's
// share of a call's time however loaded the machine is.
func BenchmarkClientPath(b *testing.B) {
	in, kctx, invoker := clientPath(b)
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	n := pathLoop(b, in, kctx, invoker)
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(n), "cpu-ns/op")
}

// The Router's cost in allocations: six per successful unary call (the
// call's state and Do's closure, and metadata.AppendToOutgoingContext's
// four), nothing else on the path, the pick included.
func TestClientPathAllocs(t *testing.T) {
	in, kctx, invoker := clientPath(t)
	n := testing.AllocsPerRun(200, func() {
		if err := in(kctx, "/s.S/PutX", nil, nil, nil, invoker); err != nil {
			t.Fatal(err)
		}
	})
	if n > 6 {
		t.Fatalf("%v allocations per call; want at most 6", n)
	}
}

// clientPath returns the Router's unary interceptor on a client of one
// cell, a context with a key, and an invoker that only picks.
func clientPath(tb testing.TB) (grpc.UnaryClientInterceptor, context.Context, grpc.UnaryInvoker) {
	m, err := placement.Parse([]byte(`{"version": 1, "seed": "1",
		"cells": [{"id": "c1", "endpoints": [{"url": "http://127.0.0.1:1"}]}]}`))
	if err != nil {
		tb.Fatal(err)
	}
	c, err := cell.NewClient(cell.Config{Source: source.NewStatic(m), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	<-c.Ready()
	rt, err := NewRouter(RouterConfig{Client: c})
	if err != nil {
		tb.Fatal(err)
	}
	sc := fakeSubConn{}
	p := &picker{version: 1, cells: map[string]*cellConns{"c1": {ready: []readyConn{{url: "http://127.0.0.1:1", sc: sc}}}}}
	invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		res, err := p.Pick(balancer.PickInfo{FullMethodName: method, Ctx: ctx})
		if err != nil || res.SubConn != sc {
			return fmt.Errorf("pick: %v", err)
		}
		return nil
	}
	return rt.Unary(), WithKey(context.Background(), "tenant-42"), invoker
}

// processCPU is the process's CPU time (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pathLoop is the measured loop, in a function of its own.
func pathLoop(b *testing.B, in grpc.UnaryClientInterceptor, ctx context.Context, invoker grpc.UnaryInvoker) int {
	n := 0
	for b.Loop() {
		if err := in(ctx, "/s.S/PutX", nil, nil, nil, invoker); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return n
}
