package cell_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	"github.com/sony/gobreaker/v2"
)

// benchMap returns a map of n cells over three zones, each with two
// endpoints in its zone, url and url+"/b".
func benchMap(tb testing.TB, n, shard int, url string) *placement.Map {
	return benchMapWith(tb, n, shard, url, url+"/b")
}

// benchMapWith is benchMap with the given endpoint URLs for every cell, all
// in the cell's zone.
func benchMapWith(tb testing.TB, n, shard int, urls ...string) *placement.Map {
	tb.Helper()
	type ep struct {
		URL  string `json:"url"`
		Zone string `json:"zone"`
	}
	type c struct {
		ID        string `json:"id"`
		Zone      string `json:"zone"`
		Endpoints []ep   `json:"endpoints"`
	}
	doc := struct {
		Version   int    `json:"version"`
		Seed      string `json:"seed"`
		ShardSize int    `json:"shardSize"`
		Cells     []c    `json:"cells"`
	}{Version: 1, Seed: "42", ShardSize: shard}
	for i := range n {
		z := fmt.Sprintf("z%d", i%3)
		var eps []ep
		for _, u := range urls {
			eps = append(eps, ep{URL: u, Zone: z})
		}
		doc.Cells = append(doc.Cells, c{ID: fmt.Sprintf("cell-%03d", i), Zone: z, Endpoints: eps})
	}
	data, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := placement.Parse(data)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// runClient returns a ready client on m, stopped at cleanup.
func runClient(tb testing.TB, m *placement.Map, cfg cell.Config) *cell.Client {
	tb.Helper()
	cfg.Source = source.NewStatic(m)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := cell.NewClient(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	<-c.Ready()
	return c
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "tenant-" + strconv.Itoa(i)
	}
	return keys
}

//go:noinline
func resolveLoop(b *testing.B, c *cell.Client, keys []string) {
	ctx := context.Background()
	i := 0
	defer reportCPU(b, cpuClock())
	for b.Loop() {
		if _, err := c.Resolve(ctx, keys[i&1023]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// locateLoop times AppendLocate into a buffer, the step Resolve wraps (not
// the allocating Locate, which would make Resolve look faster than its own
// locate step).
//
//go:noinline
func locateLoop(b *testing.B, m *placement.Map, keys []string) {
	var buf [8]string
	i := 0
	defer reportCPU(b, cpuClock())
	for b.Loop() {
		if _, err := m.AppendLocate(buf[:0], keys[i&1023]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkResolve compares Client.Resolve with placement's AppendLocate of
// the same keys into a buffer, at shard size 1 over 100 cells, serially and
// in parallel.
func BenchmarkResolve(b *testing.B) {
	m := benchMap(b, 100, 1, "http://127.0.0.1:1")
	c := runClient(b, m, cell.Config{Zone: "z1"})
	keys := benchKeys(1024)
	b.Run("AppendLocate", func(b *testing.B) {
		b.ReportAllocs()
		locateLoop(b, m, keys)
	})
	b.Run("Resolve", func(b *testing.B) {
		b.ReportAllocs()
		resolveLoop(b, c, keys)
	})
	b.Run("ResolveParallel", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b, cpuClock())
		var seq atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			i := int(seq.Add(1)) * 7919
			for pb.Next() {
				if _, err := c.Resolve(ctx, keys[i&1023]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
}

func nop(context.Context, cell.Route) error { return nil }

//go:noinline
func doLoop(b *testing.B, c *cell.Client, keys []string) {
	ctx := context.Background()
	i := 0
	defer reportCPU(b, cpuClock())
	for b.Loop() {
		if err := c.Do(ctx, keys[i&1023], cell.Write, nop); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

//go:noinline
func twoStepLoop(b *testing.B, cb *gobreaker.TwoStepCircuitBreaker[any]) {
	defer reportCPU(b, cpuClock())
	for b.Loop() {
		done, err := cb.Allow()
		if err != nil {
			b.Fatal(err)
		}
		done(nil)
	}
}

// floorLoop is Do's floor: what any client must do per call, with the
// client's own parts. Resolve the key, Allow at the cell's breaker, read
// the clock before and after the (empty) call, and report the outcome at
// the second reading.
//
//go:noinline
func floorLoop(b *testing.B, c *cell.Client, keys []string) {
	ctx := context.Background()
	set := c.Breakers()
	i := 0
	defer reportCPU(b, cpuClock())
	for b.Loop() {
		t0 := time.Now()
		r, err := c.Resolve(ctx, keys[i&1023])
		if err != nil {
			b.Fatal(err)
		}
		tk, err := set.Allow(r.Cell)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		tk.DoneAt(breaker.Success, t1.Sub(t0), t1)
		i++
	}
}

// BenchmarkDo compares Client.Do with an empty fn (resolving the key,
// breaker, budget, counters, latency) with gobreaker v2's own two-step
// Allow and done of one breaker, and with its floor (see floorLoop).
func BenchmarkDo(b *testing.B) {
	m := benchMap(b, 100, 1, "http://127.0.0.1:1")
	c := runClient(b, m, cell.Config{Zone: "z1"})
	keys := benchKeys(1024)
	b.Run("gobreaker-TwoStep", func(b *testing.B) {
		b.ReportAllocs()
		twoStepLoop(b, gobreaker.NewTwoStepCircuitBreaker[any](gobreaker.Settings{Name: "cell"}))
	})
	b.Run("Do", func(b *testing.B) {
		b.ReportAllocs()
		doLoop(b, c, keys)
	})
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		floorLoop(b, c, keys)
	})
}

// BenchmarkTransport compares requests through the client's Transport with
// requests through a plain http.Transport, to the same loopback server and
// the same path (every cell has the one endpoint srv.URL). Both transports
// are warmed (connections open, caches filled) before timing. The
// sub-benchmarks "plain" and "cell" time one transport each, for their
// allocations; "pair" sends one request through each per op, in an order
// that alternates, timing each with the clock, and reports both ns/req and
// their ratio, so that warm-up, order and noise fall on both alike.
func BenchmarkTransport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	b.Cleanup(srv.Close)
	m := benchMapWith(b, 100, 1, srv.URL)
	c := runClient(b, m, cell.Config{Zone: "z1"})
	keys := benchKeys(1024)
	plainT := &http.Transport{MaxIdleConnsPerHost: 64}
	cellT := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(plainT.CloseIdleConnections)
	b.Cleanup(cellT.CloseIdleConnections)
	plain := &http.Client{Transport: plainT}
	viaCell := &http.Client{Transport: c.Transport(cellT, cell.KeyFromHeader("Tenant"))}
	get := func(hc *http.Client, key string) error {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Tenant", key)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	for i := range 2048 { // warm both: connections, the route table, pools
		if err := errors.Join(get(plain, keys[i&1023]), get(viaCell, keys[i&1023])); err != nil {
			b.Fatal(err)
		}
	}
	one := func(b *testing.B, hc *http.Client) {
		b.ReportAllocs()
		defer reportCPU(b, cpuClock())
		var seq atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 7919
			for pb.Next() {
				if err := get(hc, keys[i&1023]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	}
	b.Run("plain", func(b *testing.B) { one(b, plain) })
	b.Run("cell", func(b *testing.B) { one(b, viaCell) })
	b.Run("pair", func(b *testing.B) {
		var plainNs, cellNs atomic.Int64
		var seq atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 7919
			for pb.Next() {
				first, second, a, z := plain, viaCell, &plainNs, &cellNs
				if i&1 == 1 {
					first, second, a, z = viaCell, plain, &cellNs, &plainNs
				}
				t0 := time.Now()
				err := get(first, keys[i&1023])
				t1 := time.Now()
				err = errors.Join(err, get(second, keys[i&1023]))
				a.Add(int64(t1.Sub(t0)))
				z.Add(int64(time.Since(t1)))
				if err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		b.ReportMetric(float64(plainNs.Load())/float64(b.N), "plain-ns/req")
		b.ReportMetric(float64(cellNs.Load())/float64(b.N), "cell-ns/req")
		b.ReportMetric(float64(plainNs.Load())/float64(cellNs.Load()), "cell-req/s÷plain")
	})
}
