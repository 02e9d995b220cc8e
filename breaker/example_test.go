package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/sony/gobreaker/v2"
)

// callCell stands in for a request to a cell; us-1 is down.
func callCell(cell string) error {
	if cell == "us-1" {
		return errors.New("connection refused")
	}
	return nil
}

// A Set guards calls to three cells. After five failures in a row us-1's
// breaker opens: its calls fail fast and routing sees it as unavailable,
// while the other cells are untouched.
func Example() {
	set, err := breaker.New(breaker.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	cells := []string{"eu-1", "eu-2", "us-1"}
	set.Sync(cells)

	call := func(cell string) error {
		ticket, err := set.Allow(cell)
		if err != nil {
			return err // rejected by the breaker: the cell was not called
		}
		start := time.Now()
		err = callCell(cell)
		ticket.Done(set.Classify(err), time.Since(start))
		return err
	}

	for range 6 {
		for _, cell := range cells {
			if err := call(cell); err != nil {
				fmt.Printf("%s: %v\n", cell, err)
			}
		}
	}
	for _, cell := range cells {
		fmt.Printf("%s is %v, available: %v\n", cell, set.State(cell), set.Available(cell))
	}
	fmt.Println(errors.Is(call("us-1"), breaker.ErrOpen))

	// Output:
	// us-1: connection refused
	// us-1: connection refused
	// us-1: connection refused
	// us-1: connection refused
	// us-1: connection refused
	// us-1: breaker: cell is open
	// eu-1 is closed, available: true
	// eu-2 is closed, available: true
	// us-1 is open, available: false
	// true
}

// Force drains a cell by hand, whatever its breaker says, until Auto hands
// it back. Only cells named by Sync can be forced or called.
func ExampleSet_Force() {
	set, err := breaker.New(breaker.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	set.Sync([]string{"eu-1", "eu-2"})
	if err := set.Force("eu-2", breaker.ForcedOpen); err != nil {
		fmt.Println(err)
		return
	}
	_, err = set.Allow("eu-2")
	fmt.Println(set.Available("eu-2"), err)
	_ = set.Force("eu-2", breaker.Auto)
	fmt.Println(set.Available("eu-2"), set.State("eu-2"))

	err = set.Force("eu-3", breaker.ForcedOpen) // a typo, say
	fmt.Println(err, errors.Is(err, breaker.ErrUnknownCell))
	_, err = set.Allow("eu-3")
	fmt.Println(set.Available("eu-3"), errors.Is(err, breaker.ErrOpen))
	// Output:
	// false breaker: cell is forced open
	// true closed
	// breaker: unknown cell "eu-3" true
	// false false
}

// FromGobreaker keeps a gobreaker user's settings: here the breaker trips
// on the sixth failure in a row, gobreaker's default, and its error still
// matches gobreaker's.
func ExampleFromGobreaker() {
	cfg, err := breaker.FromGobreaker(gobreaker.Settings{
		MaxRequests: 2,
		Timeout:     30 * time.Second,
		IsExcluded:  func(err error) bool { return errors.Is(err, context.Canceled) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	set, err := breaker.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	set.Sync([]string{"eu-1"})
	for i := 1; i <= 6; i++ {
		ticket, _ := set.Allow("eu-1")
		ticket.Done(set.Classify(errors.New("connection refused")), time.Millisecond)
		fmt.Println(i, set.State("eu-1"))
	}
	_, err = set.Allow("eu-1")
	fmt.Println(errors.Is(err, gobreaker.ErrOpenState), breaker.ToGobreakerState(set.State("eu-1")) == gobreaker.StateOpen)
	// Output:
	// 1 closed
	// 2 closed
	// 3 closed
	// 4 closed
	// 5 closed
	// 6 open
	// true true
}

// ClassifyContext tells the caller's own end of a call from the cell's
// failure. net/http returns the cause given to context.WithCancelCause,
// which Classify alone counts as a failure of the cell.
func ExampleSet_ClassifyContext() {
	set, err := breaker.New(breaker.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("user left"))
	callErr := fmt.Errorf("get: %w", context.Cause(ctx)) // what the call returned
	fmt.Println(set.Classify(callErr), set.ClassifyContext(ctx, callErr))

	// The attempt's own deadline fired while the caller still waits: the
	// cell was too slow.
	attempt, cancelAttempt := context.WithTimeout(context.Background(), 0)
	defer cancelAttempt()
	<-attempt.Done()
	fmt.Println(set.ClassifyContext(context.Background(), attempt.Err()))
	// Output:
	// failure ignored
	// failure
}
