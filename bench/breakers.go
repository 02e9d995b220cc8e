package bench

import (
	"errors"
	"testing"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/sony/gobreaker/v2"
)

// breakerCells is the number of cells the breaker.Set knows; every call
// goes to breakerCell.
const (
	breakerCells = 16
	breakerCell  = "cell-0007"
)

// errBreaker is what a loop reports when a closed breaker refuses a call,
// which none may.
var errBreaker = errors.New("bench: a closed breaker refused a call")

// runBreaker runs one call per iteration, serially or from every
// b.RunParallel goroutine; call returns false on a refused call.
func runBreaker(b *testing.B, parallel bool, call func() bool) int {
	if !parallel {
		return serialBreakerLoop(b, call)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !call() {
				b.Error(errBreaker)
				return
			}
		}
	})
	return 0
}

//go:noinline
func serialBreakerLoop(b *testing.B, call func() bool) int {
	n := 0
	for b.Loop() {
		if !call() {
			b.Fatal(errBreaker)
		}
		n++
	}
	return n
}

// gobreakerSettings are gobreaker's defaults (trip after 5 consecutive
// failures, 60 s open, 1 half-open request, counts never cleared while
// closed).
var gobreakerSettings = gobreaker.Settings{Name: breakerCell}

func buildGobreakerExecute() (func(*testing.B, bool) int, error) {
	cb := gobreaker.NewCircuitBreaker[struct{}](gobreakerSettings)
	fn := func() (struct{}, error) { return struct{}{}, nil }
	call := func() bool {
		_, err := cb.Execute(fn)
		return err == nil
	}
	return func(b *testing.B, parallel bool) int { return runBreaker(b, parallel, call) }, nil
}

func buildGobreakerTwoStep() (func(*testing.B, bool) int, error) {
	cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreakerSettings)
	call := func() bool {
		done, err := cb.Allow()
		if err != nil {
			return false
		}
		done(nil)
		return true
	}
	return func(b *testing.B, parallel bool) int { return runBreaker(b, parallel, call) }, nil
}

// newFailsafe is failsafe-go's breaker configured like breaker.Set's
// defaults: time-based, trip on half of at least 20 executions failing in
// 10 s, open 5 s, close after 3 successful trials.
func newFailsafe() circuitbreaker.CircuitBreaker[any] {
	return circuitbreaker.NewBuilder[any]().
		WithFailureRateThreshold(0.5, 20, 10*time.Second).
		WithDelay(5 * time.Second).
		WithSuccessThreshold(3).
		Build()
}

// buildFailsafeRun is the call through failsafe-go's executor, as its
// documentation shows it: failsafe.With(cb).Run(fn).
func buildFailsafeRun() (func(*testing.B, bool) int, error) {
	exec := failsafe.With[any](newFailsafe())
	fn := func() error { return nil }
	call := func() bool { return exec.Run(fn) == nil }
	return func(b *testing.B, parallel bool) int { return runBreaker(b, parallel, call) }, nil
}

// buildFailsafePermit is failsafe-go's breaker used standalone:
// TryAcquirePermit, then RecordSuccess.
func buildFailsafePermit() (func(*testing.B, bool) int, error) {
	cb := newFailsafe()
	call := func() bool {
		if !cb.TryAcquirePermit() {
			return false
		}
		cb.RecordSuccess()
		return true
	}
	return func(b *testing.B, parallel bool) int { return runBreaker(b, parallel, call) }, nil
}

func newBreakerSet() (*breaker.Set, error) {
	s, err := breaker.New(breaker.Config{})
	if err != nil {
		return nil, err
	}
	s.Sync(MemberIDs(breakerCells))
	return s, nil
}

// buildSetAllowDone is breaker.Set with its defaults over 16 cells: Allow,
// then Done with a latency the caller measured (a constant here; the
// "timed" row measures it).
func buildSetAllowDone() (func(*testing.B, bool) int, error) {
	s, err := newBreakerSet()
	if err != nil {
		return nil, err
	}
	call := func() bool {
		t, err := s.Allow(breakerCell)
		if err != nil {
			return false
		}
		t.Done(breaker.Success, time.Millisecond)
		return true
	}
	return func(b *testing.B, parallel bool) int { return runBreaker(b, parallel, call) }, nil
}

// buildSetAllowDoneTimed adds the caller's two clock reads (time.Now before
// the call, time.Since after) that gobreaker's two-step makes inside.
func buildSetAllowDoneTimed() (func(*testing.B, bool) int, error) {
	s, err := newBreakerSet()
	if err != nil {
		return nil, err
	}
	call := func() bool {
		start := time.Now()
		t, err := s.Allow(breakerCell)
		if err != nil {
			return false
		}
		t.Done(breaker.Success, time.Since(start))
		return true
	}
	return func(b *testing.B, parallel bool) int { return runBreaker(b, parallel, call) }, nil
}
