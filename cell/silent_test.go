package cell_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
)

// writeWithin makes a Write of key through the fleet's HTTP path under a
// deadline of d, and returns its error and how long it took.
func writeWithin(c *cell.Client, f *celltest.Fleet, key string, d time.Duration) (error, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	err := c.Do(ctx, key, cell.Write, f.Call)
	return err, time.Since(start)
}

func homeState(t *testing.T, c *cell.Client, key string) (string, breaker.State) {
	t.Helper()
	r, err := c.Resolve(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return r.Cell, c.Breakers().State(r.Cell)
}

// TestSilentHomeFound is Why bullet 2: with the README's configuration (no
// AttemptTimeout, default breakers), Writes to a home cell that accepts
// connections and never answers open its breaker within a bounded number of
// calls, after which its tenants fail fast; whether the cell answered
// before it went silent or never did.
func TestSilentHomeFound(t *testing.T) {
	for _, answeredBefore := range []bool{true, false} {
		synctest.Test(t, func(t *testing.T) {
			f := celltest.NewFleet(t, celltest.Config{Cells: 3, InMemory: true})
			c, err := f.NewClient(cell.Config{Zone: "z1"}) // the README's example, less its LastGood file
			if err != nil {
				t.Fatal(err)
			}
			<-c.Ready()
			const key = "tenant-42"
			home, _ := homeState(t, c, key)
			if answeredBefore {
				for range 3 {
					if err, _ := writeWithin(c, f, key, 200*time.Millisecond); err != nil {
						t.Fatal(err)
					}
				}
			}
			f.Cell(home).Blackhole()
			calls := 0
			for ; calls < 20; calls++ {
				if _, st := homeState(t, c, key); st == breaker.Open {
					break
				}
				err, took := writeWithin(c, f, key, 200*time.Millisecond)
				if err == nil || took < 200*time.Millisecond {
					t.Fatalf("Write %d to the silent home = %v after %v; want the caller's deadline", calls, err, took)
				}
			}
			if _, st := homeState(t, c, key); st != breaker.Open || calls > 5 {
				t.Fatalf("answered before %v: home %s is %v after %d silent writes; want open within 5", answeredBefore, home, st, calls)
			}
			err, took := writeWithin(c, f, key, 200*time.Millisecond)
			if !errors.Is(err, cell.ErrCellUnavailable) || took != 0 {
				t.Fatalf("Write with the silent home open = %v after %v; want ErrCellUnavailable at once", err, took)
			}
		})
	}
}

// TestSlowHomeNotOpened is the other side of Why bullet 2: a healthy cell
// that is merely slower than some callers' too-short deadlines is not
// opened, however many of them give up.
func TestSlowHomeNotOpened(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 3, InMemory: true})
		c, err := f.NewClient(cell.Config{Zone: "z1"})
		if err != nil {
			t.Fatal(err)
		}
		<-c.Ready()
		const key = "tenant-42"
		home, _ := homeState(t, c, key)
		f.Cell(home).Slow(50 * time.Millisecond)
		cut := 0
		for i := range 80 {
			d := 20 * time.Millisecond // an impatient caller
			if i%4 == 0 {
				d = time.Second // a patient one
			}
			err, _ := writeWithin(c, f, key, d)
			switch {
			case d == time.Second && err != nil:
				t.Fatalf("patient Write %d = %v; want served in 50ms", i, err)
			case d < time.Second && err != nil:
				cut++
			}
		}
		if _, st := homeState(t, c, key); st != breaker.Closed || cut != 60 {
			t.Fatalf("slow home %s is %v after %d cut writes; want closed, 60 cut", home, st, cut)
		}
		for _, cs := range c.Stats().Cells {
			if cs.Cell == home && cs.Failures != 0 {
				t.Fatalf("slow home %s: %d failures; want none", home, cs.Failures)
			}
		}
	})
}
