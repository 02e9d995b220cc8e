package cell_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
)

// attempts records the Observer's attempts.
type attempts struct {
	mu   sync.Mutex
	list []cell.AttemptInfo
}

func (a *attempts) observer() cell.Observer {
	return cell.Observer{Attempt: func(i cell.AttemptInfo) { a.mu.Lock(); a.list = append(a.list, i); a.mu.Unlock() }}
}

func (a *attempts) take() []cell.AttemptInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.list
	a.list = nil
	return l
}

// TestBlameTable judges one attempt per case through Do, the way the
// breaker is told: the outcome, and whether the call failed over (a
// Stateless call with a second cell in its shard does only on a Failure).
func TestBlameTable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 2, InMemory: true})
		rec := &attempts{}
		c, err := f.NewClient(cell.Config{Observer: rec.observer(), AttemptTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		<-c.Ready()
		const key = "tenant-1"
		tests := []struct {
			name string
			// fn's error at the first cell; the second cell succeeds.
			first   func(ctx context.Context) error
			cancel  bool // the caller cancels while the first attempt runs
			want    breaker.Outcome
			failed  bool // Do fails over
			errWant error
		}{
			{name: "success", first: func(context.Context) error { return nil }, want: breaker.Success},
			{name: "a cell's error", first: func(context.Context) error { return errors.New("502 from the cell") },
				want: breaker.Failure, failed: true},
			{name: "Canceled while the caller waits", first: func(context.Context) error {
				return fmt.Errorf("rpc: %w", context.Canceled)
			}, want: breaker.Failure, failed: true},
			{name: "DeadlineExceeded while the caller waits", first: func(context.Context) error {
				return fmt.Errorf("rpc: %w", context.DeadlineExceeded)
			}, want: breaker.Failure, failed: true},
			{name: "the attempt's own deadline", first: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}, want: breaker.Failure, failed: true},
			{name: "the caller's cancellation", cancel: true, first: func(ctx context.Context) error {
				<-ctx.Done()
				return errors.New("stream closed") // not even context.Canceled
			}, want: breaker.Ignored},
			{name: "the caller's fault", first: func(context.Context) error {
				return &cell.RequestError{Method: "POST", URL: "/x", Err: cell.ErrBody}
			}, want: breaker.Ignored, errWant: cell.ErrCaller},
			{name: "a refusal", first: func(context.Context) error {
				return &cell.RefusedError{Err: cell.ErrFrozen}
			}, want: breaker.Ignored, errWant: cell.ErrFrozen},
			{name: "a moved reply not followed", first: func(context.Context) error {
				return &cell.MovedError{Cell: "nowhere", Version: 0}
			}, want: breaker.Ignored, errWant: cell.ErrMoved},
		}
		for _, tt := range tests {
			ctx, cancel := context.WithCancel(context.Background())
			calls := 0
			err := c.Do(ctx, key, cell.Stateless, func(actx context.Context, r cell.Route) error {
				calls++
				if calls > 1 {
					return nil
				}
				if tt.cancel {
					go cancel()
				}
				return tt.first(actx)
			})
			cancel()
			got := rec.take()
			if len(got) == 0 || got[0].Outcome != tt.want {
				t.Errorf("%s: attempts %+v; want the first judged %v", tt.name, got, tt.want)
				continue
			}
			if failedOver := len(got) > 1; failedOver != tt.failed {
				t.Errorf("%s: failed over %v; want %v", tt.name, failedOver, tt.failed)
			}
			switch {
			case tt.errWant == nil && tt.failed && err != nil:
				t.Errorf("%s: Do = %v; want nil after the failover", tt.name, err)
			case tt.errWant == nil && !tt.failed && tt.want != breaker.Success && err == nil:
				t.Errorf("%s: Do = nil; want the attempt's error", tt.name)
			case tt.errWant != nil && !errors.Is(err, tt.errWant):
				t.Errorf("%s: Do = %v; want %v", tt.name, err, tt.errWant)
			}
		}
	})
}

// TestBlameCancelFromTheCell is Why bullet 3: fn returning an error that
// wraps context.Canceled while the caller still waits is the cell's failure
// (it fails over, and the breaker counts it), not the caller's.
func TestBlameCancelFromTheCell(t *testing.T) {
	f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: 2})
	c := f.Client()
	r, err := c.Resolve(context.Background(), "t1")
	if err != nil {
		t.Fatal(err)
	}
	var tried []string
	err = c.Do(context.Background(), "t1", cell.Stateless, func(ctx context.Context, rt cell.Route) error {
		tried = append(tried, rt.Cell)
		if rt.Cell == r.Cell {
			return fmt.Errorf("upstream: %w", context.Canceled)
		}
		return nil
	})
	if err != nil || len(tried) != 2 {
		t.Fatalf("Do with the home returning Canceled = %v, tried %v; want served by the second cell", err, tried)
	}
	for _, cs := range c.Stats().Cells {
		if cs.Cell == r.Cell && cs.Failures != 1 {
			t.Fatalf("home %s: %d failures; want 1", cs.Cell, cs.Failures)
		}
	}
}

// breakersClosed fails the test unless every breaker of c is closed and no
// failure was counted.
func breakersClosed(t *testing.T, c *cell.Client, what string) {
	t.Helper()
	for _, cs := range c.Stats().Cells {
		if cs.Breaker != breaker.Closed || cs.Failures != 0 {
			t.Fatalf("%s: cell %s breaker %v, %d failures; want closed, none", what, cs.Cell, cs.Breaker, cs.Failures)
		}
	}
}

// TestBlameBadKeyHeader is Why bullet 1, first half: GETs whose key header
// holds a byte no header can carry are the caller's fault, refused before
// routing; the key's home stays closed for every other tenant.
func TestBlameBadKeyHeader(t *testing.T) {
	f := celltest.NewFleet(t, celltest.Config{Cells: 3})
	hc := f.HTTPClient()
	for range 10 {
		req, _ := http.NewRequest(http.MethodGet, "http://fleet/x", nil)
		req.Header.Set(celltest.KeyHeader, "tenant\x7f")
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, cell.ErrBadKey) || !errors.Is(err, cell.ErrCaller) {
			t.Fatalf("GET with key %q = %v; want ErrBadKey, the caller's", "tenant\x7f", err)
		}
	}
	// Another header that cannot be sent: ErrBadHeader.
	req, _ := http.NewRequest(http.MethodGet, "http://fleet/x", nil)
	req.Header.Set(celltest.KeyHeader, "tenant")
	req.Header.Set("X-Note", "a\x00b")
	if _, err := hc.Do(req); !errors.Is(err, cell.ErrBadHeader) || !errors.Is(err, cell.ErrCaller) {
		t.Fatalf("GET with a NUL in X-Note = %v; want ErrBadHeader", err)
	}
	breakersClosed(t, f.Client(), "after 11 unsendable requests")
	for _, cl := range f.Cells() {
		if cl.Requests() != 0 {
			t.Fatalf("cell %s got %d requests; want none sent", cl.ID(), cl.Requests())
		}
	}
	if _, body, err := send(context.Background(), hc, http.MethodGet, "tenant"); err != nil || body == "" {
		t.Fatalf("GET tenant afterwards = %q, %v; want served", body, err)
	}
}

// failingBody is a request body whose Read fails after a few bytes.
type failingBody struct{ n int }

func (b *failingBody) Read(p []byte) (int, error) {
	if b.n >= 3 {
		return 0, errors.New("disk gone")
	}
	b.n++
	p[0] = 'x'
	return 1, nil
}

// TestBlameBodyFails is Why bullet 1, second half: POSTs whose body fails
// to read are the caller's fault: no failure counted, no breaker opened.
func TestBlameBodyFails(t *testing.T) {
	f := celltest.NewFleet(t, celltest.Config{Cells: 3})
	hc := f.HTTPClient()
	for range 10 {
		req, _ := http.NewRequest(http.MethodPost, "http://fleet/x", io.NopCloser(&failingBody{}))
		req.Header.Set(celltest.KeyHeader, "tenant")
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, cell.ErrBody) || !errors.Is(err, cell.ErrCaller) || !strings.Contains(err.Error(), "disk gone") {
			t.Fatalf("POST with a failing body = %v; want ErrBody naming the read error", err)
		}
	}
	breakersClosed(t, f.Client(), "after 10 POSTs whose body failed")
	if _, body, err := send(context.Background(), hc, http.MethodPost, "tenant"); err != nil || body == "" {
		t.Fatalf("POST tenant afterwards = %q, %v; want served", body, err)
	}
}
