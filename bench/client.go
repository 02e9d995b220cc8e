package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// The client rows: cell.Client's Resolve (an owner lookup, beside
// placement's AppendLocate, which it wraps), its Do with an empty fn (a
// breaker call, beside gobreaker's two-step and failsafe-go's Run), and its
// Transport (beside a plain http.Transport, same loopback server and path).
// This file is the one place that knows the client's API.

// runClient starts a client on m; stop ends it and waits.
func runClient(m *placement.Map) (c *cell.Client, stop func(), err error) {
	c, err = cell.NewClient(cell.Config{Source: source.NewStatic(m), Zone: "az1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	<-c.Ready()
	return c, func() { cancel(); <-done }, nil
}

// buildResolve is Client.Resolve over the balanced table of placement-locate.
func buildResolve(ids []string) (*Owners, error) {
	m, _, err := balancedMap(ids, 1, nil)
	if err != nil {
		return nil, err
	}
	c, stop, err := runClient(m)
	if err != nil {
		return nil, err
	}
	return &Owners{
		Owner: func(key string) string {
			rt, err := c.Resolve(context.Background(), key)
			if err != nil {
				return ""
			}
			return rt.Cell
		},
		Loop:  func(b *testing.B, keys []string) int { return resolveLoop(b, c, keys) },
		Close: stop,
	}, nil
}

//go:noinline
func resolveLoop(b *testing.B, c *cell.Client, keys []string) int {
	ctx := context.Background()
	s, i, mask := 0, 0, len(keys)-1
	for b.Loop() {
		rt, err := c.Resolve(ctx, keys[i&mask])
		if err != nil {
			b.Fatal(err)
		}
		s += len(rt.Cell)
		i++
	}
	return s
}

// clientCells is the fleet of the Do and Transport rows.
const clientCells = 100

// buildDo is Client.Do with an empty fn (class Write: the key's home cell
// through its breaker), keys cycling over the timed set, so that the calls
// spread over every cell's breaker as a service's would.
func buildDo() (func(*testing.B, bool) int, error) {
	m, _, err := balancedMap(MemberIDs(clientCells), 1, nil)
	if err != nil {
		return nil, err
	}
	c, stop, err := runClient(m)
	if err != nil {
		return nil, err
	}
	keys := Keys(KeyCount)
	nop := func(context.Context, cell.Route) error { return nil }
	return func(b *testing.B, parallel bool) int {
		defer stop()
		ctx := context.Background()
		if !parallel {
			return doLoop(b, c, keys, nop)
		}
		var seq atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 7919
			for pb.Next() {
				if err := c.Do(ctx, keys[i&(len(keys)-1)], cell.Write, nop); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		return 0
	}, nil
}

//go:noinline
func doLoop(b *testing.B, c *cell.Client, keys []string, fn func(context.Context, cell.Route) error) int {
	ctx := context.Background()
	i, mask := 0, len(keys)-1
	for b.Loop() {
		if err := c.Do(ctx, keys[i&mask], cell.Write, fn); err != nil {
			b.Fatal(err)
		}
		i++
	}
	return i
}

// A ClientImpl is one HTTP client path under test, parallel requests to a
// loopback server.
type ClientImpl struct {
	Name string
	Ours bool
	// Build returns the loop and what to release after it.
	Build func() (loop func(b *testing.B) int, err error)
}

// ClientImpls are the Transport rows: both warmed before timing (their
// connections open, the client's route table and pools filled), both to
// the one endpoint of every cell, the same path.
var ClientImpls = []ClientImpl{
	{Name: "cell-transport", Ours: true, Build: func() (func(*testing.B) int, error) { return buildTransport(true) }},
	{Name: "http-transport", Build: func() (func(*testing.B) int, error) { return buildTransport(false) }},
}

func buildTransport(viaCell bool) (func(*testing.B) int, error) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	ids := MemberIDs(clientCells)
	doc := `{"version":1,"seed":"42","cells":[`
	for i, id := range ids {
		if i > 0 {
			doc += ","
		}
		doc += `{"id":"` + id + `","zone":"` + Zone(i) + `","endpoints":[{"url":"` + srv.URL + `","zone":"` + Zone(i) + `"}]}`
	}
	doc += `]}`
	m, err := placement.Parse([]byte(doc))
	if err != nil {
		srv.Close()
		return nil, err
	}
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	var rt http.RoundTripper = base
	stop := func() {}
	if viaCell {
		c, s, err := runClient(m)
		if err != nil {
			srv.Close()
			return nil, err
		}
		rt, stop = c.Transport(base, cell.KeyFromHeader("Tenant")), s
	}
	hc := &http.Client{Transport: rt}
	keys := Keys(KeyCount)
	get := func(key string) error {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Tenant", key)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		return errors.Join(err, resp.Body.Close())
	}
	for i := range 1024 {
		if err := get(keys[i]); err != nil {
			stop()
			srv.Close()
			return nil, err
		}
	}
	return func(b *testing.B) int {
		defer func() { stop(); base.CloseIdleConnections(); srv.Close() }()
		var seq atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 7919
			for pb.Next() {
				if err := get(keys[i&(len(keys)-1)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		return 0
	}, nil
}
