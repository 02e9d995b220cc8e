package cellgrpc_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cellgrpc"
	"github.com/cellkit/cellkit/cellgrpc/cellgrpctest"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BenchmarkUnary is the cost of the interceptor and the balancer: the same
// unary call to the same loopback server, on a plain grpc.ClientConn and on
// a cell-aware one (a Write to the key's home). The server runs in a
// process of its own (TestBenchServer), so that allocs/op and cpu-ns/op
// (the process's CPU time per call) are the client's. Interleave passes of
// the two, one process each, and compare them with benchstat:
//
//	go test -c -o /tmp/cellgrpc.test
//	for i in 1 2 3 4 5 6 7 8; do /tmp/cellgrpc.test -test.run '^$' -test.bench BenchmarkUnary -test.benchmem; done | tee unary.txt
//	benchstat -col /conn unary.txt
func BenchmarkUnary(b *testing.B) {
	addr, stop := benchServer(b)
	defer stop()
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())

	b.Run("conn=plain", func(b *testing.B) {
		cc, err := grpc.NewClient(addr, creds)
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close()
		measure(b, context.Background(), cc)
	})
	b.Run("conn=cellgrpc", func(b *testing.B) {
		m, err := placement.Parse(fmt.Appendf(nil, `{"version": 1, "seed": "1",
			"cells": [{"id": "c1", "endpoints": [{"url": "http://%s"}]}]}`, addr))
		if err != nil {
			b.Fatal(err)
		}
		c, err := cell.NewClient(cell.Config{Source: source.NewStatic(m), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { c.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		<-c.Ready()
		rt, err := cellgrpc.NewRouter(cellgrpc.RouterConfig{Client: c})
		if err != nil {
			b.Fatal(err)
		}
		cc, err := rt.NewClient(creds)
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close()
		measure(b, cellgrpc.WithKey(context.Background(), "tenant-42"), cc)
	})
}

// measure runs the timed loop and reports cpu-ns/op beside ns/op.
func measure(b *testing.B, ctx context.Context, cc *grpc.ClientConn) {
	in, out := wrapperspb.String("x"), new(wrapperspb.StringValue)
	for range 100 { // connect, warm up
		if err := cc.Invoke(ctx, cellgrpctest.MethodPutItem, in, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	n := loop(b, ctx, cc, in, out)
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/op")
}

// loop is the measured loop, in a function of its own so that nothing it
// assigns is kept alive across iterations.
func loop(b *testing.B, ctx context.Context, cc *grpc.ClientConn, in, out *wrapperspb.StringValue) int {
	n := 0
	for b.Loop() {
		if err := cc.Invoke(ctx, cellgrpctest.MethodPutItem, in, out); err != nil {
			b.Fatal(err)
		}
		n++
	}
	return n
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchServerEnv makes the test binary TestBenchServer's server.
const benchServerEnv = "CELLGRPC_BENCH_SERVER"

// benchServer starts TestBenchServer in a process of its own and returns
// its address, and a func that stops it.
func benchServer(b *testing.B) (string, func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchServer$")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop := func() {
		in.Close()
		io.Copy(io.Discard, out)
		cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		b.Fatalf("benchmark server: %v", err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "addr ")), stop
}

// TestBenchServer is BenchmarkUnary's server, in a process of its own: it
// serves the fleet's service on loopback until its standard input closes.
// Run as a test, it does nothing.
func TestBenchServer(t *testing.T) {
	if os.Getenv(benchServerEnv) == "" {
		t.Skip("BenchmarkUnary's server")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	cellgrpctest.Register(srv, "c1")
	go srv.Serve(lis)
	fmt.Printf("addr %s\n", lis.Addr())
	io.Copy(io.Discard, os.Stdin)
	srv.Stop()
}
