package cell_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	"github.com/sony/gobreaker/v2"
)

// benchMap returns a map of n cells over three zones, each with two
// endpoints per zone... one endpoint in its zone.
func benchMap(tb testing.TB, n, shard int, url string) *placement.Map {
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
		doc.Cells = append(doc.Cells, c{ID: fmt.Sprintf("cell-%03d", i), Zone: z,
			Endpoints: []ep{{URL: url, Zone: z}, {URL: url + "/b", Zone: z}}})
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
	for b.Loop() {
		if _, err := c.Resolve(ctx, keys[i&1023]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

//go:noinline
func locateLoop(b *testing.B, m *placement.Map, keys []string) {
	i := 0
	for b.Loop() {
		if _, err := m.Locate(keys[i&1023]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkResolve compares Client.Resolve with placement's Locate of the
// same keys, at shard size 1 over 100 cells, serially and in parallel.
func BenchmarkResolve(b *testing.B) {
	m := benchMap(b, 100, 1, "http://127.0.0.1:1")
	c := runClient(b, m, cell.Config{Zone: "z1"})
	keys := benchKeys(1024)
	b.Run("Locate", func(b *testing.B) {
		b.ReportAllocs()
		locateLoop(b, m, keys)
	})
	b.Run("Resolve", func(b *testing.B) {
		b.ReportAllocs()
		resolveLoop(b, c, keys)
	})
	b.Run("ResolveParallel", func(b *testing.B) {
		b.ReportAllocs()
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
	for b.Loop() {
		if err := c.Do(ctx, keys[i&1023], cell.Write, nop); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

//go:noinline
func twoStepLoop(b *testing.B, cb *gobreaker.TwoStepCircuitBreaker[any]) {
	for b.Loop() {
		done, err := cb.Allow()
		if err != nil {
			b.Fatal(err)
		}
		done(nil)
	}
}

// BenchmarkDo compares Client.Do with an empty fn (resolving the key,
// breaker, budget, counters, latency) with gobreaker v2's own two-step
// Allow and done of one breaker.
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
}

// BenchmarkTransport compares requests through the client's Transport with
// requests through a plain http.Transport, to the same loopback server.
func BenchmarkTransport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	b.Cleanup(srv.Close)
	m := benchMap(b, 100, 1, srv.URL)
	c := runClient(b, m, cell.Config{Zone: "z1"})
	keys := benchKeys(1024)
	run := func(b *testing.B, rt http.RoundTripper) {
		b.ReportAllocs()
		hc := &http.Client{Transport: rt}
		var seq atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 7919
			for pb.Next() {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
				req.Header.Set("Tenant", keys[i&1023])
				resp, err := hc.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				i++
			}
		})
	}
	b.Run("http.Transport", func(b *testing.B) {
		t := &http.Transport{MaxIdleConnsPerHost: 64}
		b.Cleanup(t.CloseIdleConnections)
		run(b, t)
	})
	b.Run("cell.Transport", func(b *testing.B) {
		t := &http.Transport{MaxIdleConnsPerHost: 64}
		b.Cleanup(t.CloseIdleConnections)
		run(b, c.Transport(t, cell.KeyFromHeader("Tenant")))
	})
}
