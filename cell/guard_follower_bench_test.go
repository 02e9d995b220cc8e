//go:build unix

package cell_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement/source"
)

func guardCPUTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGuardHolder measures a Guard's request on a fixed map and on a
// Follower, which also counts the request for its confirmations: the
// difference is the cost of confirmations on the request path.
func BenchmarkGuardHolder(b *testing.B) {
	m := docMap(b, 1, "c1", "c2")
	f, err := source.NewFollower(source.FollowerConfig{Source: source.NewStatic(m), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	if _, err := f.Await(ctx, 1); err != nil {
		b.Fatal(err)
	}
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, bc := range []struct {
		name string
		maps source.Holder
	}{{"fixed", source.Fixed(m)}, {"follower", f}} {
		g, err := cell.NewGuard(cell.GuardConfig{Cell: "c1", Map: bc.maps, Key: cell.KeyFromHeader("Tenant"), Stateless: true, Next: ok})
		if err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Tenant", "t1")
		w := &nopWriter{h: http.Header{}}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := guardCPUTime()
			for b.Loop() {
				serveOnce(g, w, req)
			}
			b.ReportMetric(float64(guardCPUTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

//go:noinline
func serveOnce(g *cell.Guard, w *nopWriter, r *http.Request) { g.ServeHTTP(w, r) }

// nopWriter is a ResponseWriter that keeps nothing.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}
