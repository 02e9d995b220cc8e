package cell_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
	"github.com/cellkit/cellkit/placement"
)

// migrationCells returns the key's home in the fleet's map and another
// cell to migrate it to.
func migrationCells(f *celltest.Fleet, key string) (from, to *celltest.Cell) {
	a, _ := f.Map().Locate(key)
	from = f.Cell(a.Cell)
	for _, c := range f.Cells() {
		if c != from {
			return from, c
		}
	}
	return from, nil
}

func post(ctx context.Context, hc *http.Client, key string, body io.Reader) (*http.Response, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://fleet/orders", body)
	req.Header.Set(celltest.KeyHeader, key)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// TestRefusalRefreshesMap is Why bullet 5, first half: a frozen refusal,
// the cell's or the client's own, asks the source for a newer map at once,
// so that writes resume as soon as the flip is published, not at the next
// poll (here: never, the client's source polling only when asked).
func TestRefusalRefreshesMap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, Explicit: true, InMemory: true})
		src := f.Source()
		src.Hold(true)
		c, err := f.NewClient(cell.Config{Source: src})
		if err != nil {
			t.Fatal(err)
		}
		<-c.Ready()
		hc := &http.Client{Transport: c.Transport(f.Base(), cell.KeyFromHeader(celltest.KeyHeader))}
		const key = "tenant-9"
		ctx := context.Background()
		_, to := migrationCells(f, key)
		g := placement.Migration{Key: key}
		for _, edit := range []func(*placement.Builder) error{
			func(b *placement.Builder) error { return b.MigrateKey(key, to.ID()) },
			func(b *placement.Builder) error { return b.Advance(g) }, // frozen
		} {
			if _, err := f.Publish(edit); err != nil {
				t.Fatal(err)
			}
		}
		frozen := f.Map().Version()
		// The client is on v1; the cell's Guard is frozen.
		_, _, err = post(ctx, hc, key, strings.NewReader("x"))
		var re *cell.RefusedError
		if !errors.As(err, &re) || !errors.Is(err, cell.ErrFrozen) || re.RetryAfter != time.Second || re.Version != frozen {
			t.Fatalf("POST refused by the frozen Guard = %v; want a *RefusedError, ErrFrozen, RetryAfter 1s, version %d", err, frozen)
		}
		synctest.Wait()
		if v := c.Map().Version(); v != frozen {
			t.Fatalf("after the Guard's refusal the client is on v%d; want v%d, refreshed", v, frozen)
		}
		if _, err := f.Publish(func(b *placement.Builder) error { return b.Advance(g) }); err != nil {
			t.Fatal(err)
		}
		refusals := 0
		for {
			_, body, err := post(ctx, hc, key, strings.NewReader("x"))
			if err == nil && body == to.ID() {
				break
			}
			if !errors.Is(err, cell.ErrFrozen) {
				t.Fatalf("POST after the flip = %q, %v; want ErrFrozen, then served by %s", body, err, to.ID())
			}
			if refusals++; refusals > 1 {
				t.Fatalf("%d writes refused after the flip was published; want at most 1", refusals)
			}
			synctest.Wait()
		}
	})
}

// TestBehindReadFallsBack is Why bullet 5, second half: a Read refused by
// a new owner whose map is behind tries the old owner, the next cell of its
// read set; a Write refused so says why, with the cell's Retry-After.
func TestBehindReadFallsBack(t *testing.T) {
	f := celltest.NewFleet(t, celltest.Config{Cells: 3, Explicit: true})
	c := f.Client()
	hc := f.HTTPClient()
	const key = "tenant-3"
	from, to := migrationCells(f, key)
	g := placement.Migration{Key: key}
	var copying *placement.Map
	for i, edit := range []func(*placement.Builder) error{
		func(b *placement.Builder) error { return b.MigrateKey(key, to.ID()) },
		func(b *placement.Builder) error { return b.Advance(g) },
		func(b *placement.Builder) error { return b.Advance(g) }, // flipped: reads to, then from
	} {
		m, err := f.Publish(edit)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			copying = m
		}
		awaitMap(t, c, m.Version())
	}
	to.PinMap(copying) // the new owner is behind
	_, body, err := send(context.Background(), hc, http.MethodGet, key)
	if err != nil || body != from.ID() {
		t.Fatalf("GET with the new owner behind = %q, %v; want served by the old owner %s", body, err, from.ID())
	}
	if err := c.Do(context.Background(), key, cell.Read, f.Call); err != nil {
		t.Fatalf("Do(Read) with the new owner behind = %v; want served by the old owner", err)
	}
	_, _, err = post(context.Background(), hc, key, strings.NewReader("x"))
	var re *cell.RefusedError
	if !errors.As(err, &re) || !errors.Is(err, cell.ErrCellBehind) || re.RetryAfter != time.Second || re.Cell != to.ID() {
		t.Fatalf("POST with the new owner behind = %v; want its *RefusedError, ErrCellBehind, RetryAfter 1s", err)
	}
	if failuresOf(c, to.ID()) != 0 {
		t.Fatalf("the behind cell %s was counted %d failures; want none", to.ID(), failuresOf(c, to.ID()))
	}
}

// failingRT is a base RoundTripper whose every request fails.
type failingRT struct{}

func (failingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return nil, errors.New("connection refused")
}

// TestTransportErrorModel tests each row of the package doc's table of the
// Transport's replies and errors (Why bullet 6: one shape per condition).
func TestTransportErrorModel(t *testing.T) {
	handler := func(id string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/missing") {
				http.NotFound(w, r)
				return
			}
			io.WriteString(w, id)
		})
	}
	f := celltest.NewFleet(t, celltest.Config{Cells: 3, Explicit: true, Handler: handler})
	c := f.Client()
	hc := f.HTTPClient()
	ctx := context.Background()
	sent := func() uint64 {
		var n uint64
		for _, cl := range f.Cells() {
			n += cl.Requests()
		}
		return n
	}
	get := func(path string, h http.Header) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://fleet"+path, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}

	t.Run("no key", func(t *testing.T) {
		n := sent()
		if _, err := get("/x", nil); !errors.Is(err, cell.ErrNoKey) {
			t.Fatalf("GET without a key = %v; want ErrNoKey", err)
		}
		if _, err := get("/x", http.Header{celltest.KeyHeader: {"a", "b"}}); !errors.Is(err, cell.ErrNoKey) {
			t.Fatalf("GET with two keys = %v; want ErrNoKey", err)
		}
		if sent() != n {
			t.Fatal("a request without a key was sent")
		}
	})
	t.Run("unsendable key or header", func(t *testing.T) {
		n := sent()
		var re *cell.RequestError
		if _, err := get("/x", http.Header{celltest.KeyHeader: {"t\x01"}}); !errors.As(err, &re) || !errors.Is(err, cell.ErrBadKey) {
			t.Fatalf("GET with key t\\x01 = %v; want a *RequestError, ErrBadKey", err)
		}
		if _, err := get("/x", http.Header{celltest.KeyHeader: {"t"}, "Bad Name": {"v"}}); !errors.As(err, &re) || !errors.Is(err, cell.ErrBadHeader) {
			t.Fatalf("GET with a header name holding a blank = %v; want a *RequestError, ErrBadHeader", err)
		}
		if sent() != n {
			t.Fatal("an unsendable request was sent")
		}
	})
	t.Run("body fails", func(t *testing.T) {
		if _, _, err := post(ctx, hc, "t", io.NopCloser(&failingBody{})); !errors.Is(err, cell.ErrBody) {
			t.Fatalf("POST whose body fails = %v; want ErrBody", err)
		}
	})
	t.Run("redirect needs the body again", func(t *testing.T) {
		const key = "pinned"
		src := f.Source()
		src.Hold(true)
		held, err := f.NewClient(cell.Config{Source: src})
		if err != nil {
			t.Fatal(err)
		}
		<-held.Ready()
		from, to := migrationCells(f, key)
		if _, err := f.Publish(func(b *placement.Builder) error { return b.Pin(key, to.ID()) }); err != nil {
			t.Fatal(err)
		}
		hh := &http.Client{Transport: held.Transport(f.Base(), cell.KeyFromHeader(celltest.KeyHeader))}
		body := io.NopCloser(strings.NewReader("x")) // no GetBody
		_, _, err = post(ctx, hh, key, body)
		var re *cell.RequestError
		if !errors.As(err, &re) || !errors.Is(err, cell.ErrNotReplayable) {
			t.Fatalf("POST moved from %s to %s with a body sent = %v; want a *RequestError, ErrNotReplayable", from.ID(), to.ID(), err)
		}
		if failuresOf(held, from.ID())+failuresOf(held, to.ID()) != 0 {
			t.Fatal("a failure was counted")
		}
	})
	t.Run("frozen, by the client or the cell", func(t *testing.T) {
		const key = "freezing"
		src := f.Source()
		src.Hold(true)
		held, err := f.NewClient(cell.Config{Source: src})
		if err != nil {
			t.Fatal(err)
		}
		<-held.Ready()
		_, to := migrationCells(f, key)
		g := placement.Migration{Key: key}
		f.Publish(func(b *placement.Builder) error { return b.MigrateKey(key, to.ID()) })
		m, _ := f.Publish(func(b *placement.Builder) error { return b.Advance(g) })
		awaitMap(t, c, m.Version())
		hh := &http.Client{Transport: held.Transport(f.Base(), cell.KeyFromHeader(celltest.KeyHeader))}
		var byCell, byClient *cell.RefusedError
		if _, _, err := post(ctx, hh, key, strings.NewReader("x")); !errors.As(err, &byCell) || !errors.Is(err, cell.ErrFrozen) {
			t.Fatalf("POST refused by the Guard = %v; want a *RefusedError, ErrFrozen", err)
		}
		if _, _, err := post(ctx, hc, key, strings.NewReader("x")); !errors.As(err, &byClient) || !errors.Is(err, cell.ErrFrozen) {
			t.Fatalf("POST refused by the client = %v; want a *RefusedError, ErrFrozen", err)
		}
		if byCell.Key != key || byClient.Key != key || byCell.RetryAfter != time.Second {
			t.Fatalf("refusals %+v and %+v; want both of key %q, the cell's with Retry-After 1s", byCell, byClient, key)
		}
		f.Publish(func(b *placement.Builder) error { return b.Advance(g) })
	})
	t.Run("moved, not followed", func(t *testing.T) {
		const key = "wanderer"
		r, _ := c.Resolve(ctx, key)
		other := f.Cells()[0].ID()
		if other == r.Cell {
			other = f.Cells()[1].ID()
		}
		f.Cell(r.Cell).MoveTo(other) // the map still says r.Cell: nothing to follow
		defer f.Cell(r.Cell).Recover()
		if _, _, err := post(ctx, hc, key, strings.NewReader("x")); !errors.Is(err, cell.ErrMoved) {
			t.Fatalf("POST moved to a cell the map does not name = %v; want ErrMoved", err)
		}
	})
	t.Run("no cell", func(t *testing.T) {
		const key = "lonely"
		r, _ := c.Resolve(ctx, key)
		c.Breakers().Force(r.Cell, breaker.ForcedOpen)
		defer c.Breakers().Force(r.Cell, breaker.Auto)
		var ue *cell.UnavailableError
		if _, _, err := post(ctx, hc, key, strings.NewReader("x")); !errors.As(err, &ue) {
			t.Fatalf("POST with the home forced open = %v; want an *UnavailableError", err)
		}
	})
	t.Run("5xx: the last reply", func(t *testing.T) {
		const key = "failing"
		r, _ := c.Resolve(ctx, key)
		f.Cell(r.Cell).Fail()
		defer f.Cell(r.Cell).Recover()
		before := failuresOf(c, r.Cell)
		resp, _, err := post(ctx, hc, key, strings.NewReader("x"))
		if err != nil || resp.StatusCode != http.StatusInternalServerError || failuresOf(c, r.Cell) != before+1 {
			t.Fatalf("POST to a failing home = %v, %v; want its 500 reply, counted", resp, err)
		}
	})
	t.Run("no reply", func(t *testing.T) {
		hf := &http.Client{Transport: c.Transport(failingRT{}, cell.KeyFromHeader(celltest.KeyHeader))}
		var ce *cell.CallError
		if _, _, err := post(ctx, hf, "dark", strings.NewReader("x")); !errors.As(err, &ce) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("POST with no reply = %v; want a *CallError with the transport's error", err)
		}
	})
	t.Run("4xx: the reply", func(t *testing.T) {
		r, _ := c.Resolve(ctx, "reader")
		before := failuresOf(c, r.Cell)
		resp, err := get("/missing", http.Header{celltest.KeyHeader: {"reader"}})
		if err != nil || resp.StatusCode != http.StatusNotFound || failuresOf(c, r.Cell) != before {
			t.Fatalf("GET of a missing page = %v, %v; want the 404, not counted", resp, err)
		}
	})
}

// awaitMap waits until c has a map of version v, for at most 10 s of real
// time, polling every millisecond: a bounded wait, for tests on loopback
// fleets outside synctest bubbles.
func awaitMap(t *testing.T, c *cell.Client, v uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Map().Version() < v {
		if time.Now().After(deadline) {
			t.Fatalf("the client is on map v%d after 10s; want v%d", c.Map().Version(), v)
		}
		time.Sleep(time.Millisecond)
	}
}
