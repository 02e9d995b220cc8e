package breaker_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/cellkit/cellkit/breaker"
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
