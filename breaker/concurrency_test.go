package breaker

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

// TestConcurrentCounts runs 64 goroutines × 10,000 calls over 16 cells with
// random outcomes against short open times, so that breakers cycle through
// every state while others call, force, sync and snapshot; run it with -race.
// Every call must be counted exactly once, as admitted or rejected, though
// copies of some tickets are reported again, concurrently, by another
// goroutine. It runs with the built-in trip rules and with a ReadyToTrip.
// It uses the real clock: time must pass while the goroutines run.
func TestConcurrentCounts(t *testing.T) {
	t.Run("built-in rules", func(t *testing.T) { concurrentCounts(t, nil) })
	t.Run("ReadyToTrip", func(t *testing.T) {
		concurrentCounts(t, func(c gobreaker.Counts) bool {
			return c.Requests >= 10 && c.TotalFailures*3 >= c.Requests
		})
	})
}

func concurrentCounts(t *testing.T, readyToTrip func(gobreaker.Counts) bool) {
	const goroutines, calls = 64, 10_000
	var events atomic.Int64
	cells := cellNames(16)
	s := newSet(t, Config{
		OpenBase: 100 * time.Microsecond, OpenMax: time.Millisecond,
		HalfOpenMaxWait: time.Millisecond, Window: 10 * time.Millisecond, Buckets: 5,
		MinRequests: 10, Seed: 1, ReadyToTrip: readyToTrip,
		OnEvent: func(Event) { events.Add(1) },
	}, cells...)

	dups := make(chan Ticket, 1024)
	dupsDone := make(chan struct{})
	go func() {
		defer close(dupsDone)
		for tk := range dups {
			tk.Done(Failure, time.Second) // ignored: already reported
		}
	}()

	type tally struct {
		outcomes [16][4]uint64 // by cell, by Outcome
		rejected [16]uint64    // by cell
	}
	tallies := make([]tally, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0))
			tl := &tallies[g]
			for i := range calls {
				c := r.IntN(len(cells))
				tk, err := s.Allow(cells[c])
				if err != nil {
					tl.rejected[c]++
					continue
				}
				o := []Outcome{Success, Success, Success, Failure, Failure, Ignored}[r.IntN(6)]
				tl.outcomes[c][o]++
				tk.Done(o, time.Duration(r.IntN(100))*time.Millisecond)
				if i%20 == 0 {
					select {
					case dups <- tk:
					default:
					}
				}
				switch {
				case g == 0 && i%500 == 0:
					if err := s.Force(cells[c], Forced(r.IntN(3))); err != nil {
						t.Error(err)
					}
				case g == 1 && i%100 == 0:
					_ = s.Snapshot()
				case g == 2:
					_ = s.Available(cells[c])
				case g == 3 && i%1000 == 0:
					s.Sync(cells) // republishes the table, keeps the breakers
				}
			}
		})
	}
	wg.Wait()
	close(dups)
	<-dupsDone

	var total uint64
	for _, cs := range s.Snapshot() {
		var c int
		for c = range cells {
			if cells[c] == cs.Cell {
				break
			}
		}
		var want Totals
		for g := range tallies {
			want.Successes += tallies[g].outcomes[c][Success]
			want.Failures += tallies[g].outcomes[c][Failure]
			want.Ignored += tallies[g].outcomes[c][Ignored]
			want.Rejected += tallies[g].rejected[c]
		}
		if cs.Totals != want {
			t.Errorf("%s: Totals = %+v; want %+v", cs.Cell, cs.Totals, want)
		}
		total += want.Successes + want.Failures + want.Ignored + want.Rejected
	}
	if total != goroutines*calls {
		t.Errorf("%d calls counted; want %d", total, goroutines*calls)
	}
	if events.Load() == 0 {
		t.Error("no events: the breakers never changed state")
	}
	for _, cs := range s.Snapshot() {
		if n := uint32(s.cells.Load().get(cs.Cell).inFlight.Load()); n != 0 || cs.Probes != 0 {
			t.Errorf("%s: %d calls and %d probes in flight after every call was reported; want 0", cs.Cell, n, cs.Probes)
		}
	}
	for _, cell := range cells {
		_ = s.Force(cell, ForcedClosed) // stop the timers
	}
}
