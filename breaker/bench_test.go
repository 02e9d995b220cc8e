package breaker

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

func cellNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("cell-%02d", i)
	}
	return names
}

func benchSet(b *testing.B, cfg Config, cells int) *Set {
	b.Helper()
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	s.Sync(cellNames(cells))
	return s
}

// The measured loops are functions of their own: in Go 1.26 a variable
// assigned in a b.Loop body is kept in memory.

//go:noinline
func loopAvailable(b *testing.B, s *Set, cell string) {
	for b.Loop() {
		if !s.Available(cell) {
			b.Fatal("unavailable")
		}
	}
}

//go:noinline
func loopAllowDone(b *testing.B, s *Set, cell string) {
	for b.Loop() {
		t, err := s.Allow(cell)
		if err != nil {
			b.Fatal(err)
		}
		t.Done(Success, time.Millisecond)
	}
}

//go:noinline
func loopGobreakerTwoStep(b *testing.B, cb *gobreaker.TwoStepCircuitBreaker[struct{}]) {
	for b.Loop() {
		done, err := cb.Allow()
		if err != nil {
			b.Fatal(err)
		}
		done(nil)
	}
}

func BenchmarkAvailable(b *testing.B) {
	for _, n := range []int{3, 100} {
		s := benchSet(b, Config{}, n)
		cell := cellNames(n)[n/2]
		b.Run("cells="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			loopAvailable(b, s, cell)
		})
		b.Run("cells="+strconv.Itoa(n)+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !s.Available(cell) {
						b.Error("unavailable")
						return
					}
				}
			})
		})
	}
}

// BenchmarkAllowDone and BenchmarkGobreakerTwoStep measure the same thing,
// a call admitted and reported on a closed breaker, so that their ratio can
// be read from one run. "gobreaker-settings" is a Set from FromGobreaker,
// whose ReadyToTrip path counts calls in flight.
func BenchmarkAllowDone(b *testing.B) {
	gbCfg, err := FromGobreaker(gobreaker.Settings{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		cfg  Config
	}{{"default", Config{}}, {"gobreaker-settings", gbCfg}} {
		s := benchSet(b, bc.cfg, 16)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			loopAllowDone(b, s, "cell-07")
		})
	}
	s := benchSet(b, Config{}, 16)
	b.Run("default/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				t, err := s.Allow("cell-07")
				if err != nil {
					b.Error(err)
					return
				}
				t.Done(Success, time.Millisecond)
			}
		})
	})
}

func BenchmarkGobreakerTwoStep(b *testing.B) {
	cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{Name: "cell-07"})
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		loopGobreakerTwoStep(b, cb)
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				done, err := cb.Allow()
				if err != nil {
					b.Error(err)
					return
				}
				done(nil)
			}
		})
	})
}

func BenchmarkRejectOpen(b *testing.B) {
	s := benchSet(b, Config{PanicMode: PanicOff}, 16)
	tripCell(b, s, "cell-07")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Allow("cell-07"); err != ErrOpen {
			b.Fatal(err)
		}
	}
}

func BenchmarkGobreakerRejectOpen(b *testing.B) {
	cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{Name: "cell-07"})
	for range 6 {
		done, _ := cb.Allow()
		done(gobreaker.ErrOpenState)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cb.Allow(); err != gobreaker.ErrOpenState {
			b.Fatal(err)
		}
	}
}

// tripCell reports consecutive failures until the cell's breaker opens.
func tripCell(tb testing.TB, s *Set, cell string) {
	tb.Helper()
	for range s.cfg.ConsecutiveFailures {
		t, err := s.Allow(cell)
		if err != nil {
			tb.Fatalf("Allow(%q) = %v; want a ticket", cell, err)
		}
		t.Done(Failure, time.Millisecond)
	}
	if got := s.State(cell); got != Open {
		tb.Fatalf("State(%q) = %v; want %v", cell, got, Open)
	}
}
