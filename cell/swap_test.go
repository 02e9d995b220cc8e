package cell_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
)

// mapFeed is a source that delivers the maps sent to it, one per Next.
type mapFeed chan *placement.Map

func (s mapFeed) Next(ctx context.Context) (*placement.Map, error) {
	select {
	case m := <-s:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// swapMaps builds n maps of increasing versions over cells a to d, where
// cell x, in turn, leaves the map, comes back, is disabled, comes back
// active, and changes weight.
func swapMaps(tb testing.TB, n int) []*placement.Map {
	tb.Helper()
	b := placement.NewBuilder(nil)
	for _, id := range []string{"a", "b", "c", "d", "x"} {
		if err := b.AddCell(placement.Cell{ID: id, Zone: "z" + id, Weight: 1,
			Endpoints: []placement.Endpoint{{URL: "http://" + id + ".test"}}}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := b.SetBuckets(256); err != nil {
		tb.Fatal(err)
	}
	if err := b.SetShardSize(2); err != nil {
		tb.Fatal(err)
	}
	maps := make([]*placement.Map, 0, n)
	m, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	maps = append(maps, m)
	for i := 1; i < n; i++ {
		b := placement.NewBuilder(m)
		var err error
		switch i % 5 {
		case 1:
			err = b.RemoveCell("x")
		case 2:
			err = b.AddCell(placement.Cell{ID: "x", Zone: "zx", Weight: 1,
				Endpoints: []placement.Endpoint{{URL: "http://x.test"}}})
		case 3:
			err = b.SetState("x", placement.Disabled)
		case 4:
			err = b.SetState("x", placement.Active)
		case 0:
			err = b.SetWeight("x", float64(1+i%3))
		}
		if err != nil {
			tb.Fatal(err)
		}
		if m, err = b.Build(); err != nil {
			tb.Fatal(err)
		}
		maps = append(maps, m)
	}
	return maps
}

// TestSwapKeepsCallsInFlight: a call that began on a map keeps the
// breakers of that map's cells, however many swaps remove, disable or
// re-weight them meanwhile: no call fails with the breakers' "unknown
// cell", and no cell is skipped for it.
func TestSwapKeepsCallsInFlight(t *testing.T) {
	const swaps = 10000
	maps := swapMaps(t, swaps)
	feed := make(mapFeed)
	var unknown atomic.Int64
	c, err := cell.NewClient(cell.Config{
		Source: feed,
		Logger: slog.New(slog.DiscardHandler),
		Observer: cell.Observer{Unavailable: func(u cell.UnavailableInfo) {
			if errors.Is(u.Err, breaker.ErrUnknownCell) {
				unknown.Add(1)
			}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	feed <- maps[0]
	<-c.Ready()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls atomic.Int64
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn := func(context.Context, cell.Route) error { return nil }
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("k%d-%d", w, i%512)
				err := c.Do(context.Background(), key, cell.Class(i%3), fn)
				calls.Add(1)
				if errors.Is(err, breaker.ErrUnknownCell) {
					select {
					case errs <- fmt.Errorf("Do(%s, %v) = %w", key, cell.Class(i%3), err):
					default:
					}
				}
			}
		}()
	}
	for _, m := range maps[1:] {
		feed <- m
	}
	close(stop)
	wg.Wait()
	cancel()
	<-done
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := unknown.Load(); n != 0 {
		t.Errorf("%d cells skipped as unknown to the breakers in %d calls over %d swaps; want 0", n, calls.Load(), swaps)
	}
	t.Logf("%d calls over %d swaps", calls.Load(), swaps)
}
