package breaker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestBlame covers the one rule case by case.
func TestBlame(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(live)
	cancel()
	expired, cancelExpired := context.WithDeadline(live, time.Now().Add(-time.Second))
	defer cancelExpired()
	cellErr := errors.New("503 from the cell")
	notFailure := func(error) Outcome { return Success } // a Classify that calls every error an answer
	tests := []struct {
		name     string
		a        Attempt
		classify func(error) Outcome
		want     Outcome
	}{
		{"nil", Attempt{Ctx: live}, nil, Success},
		{"nil, caller gone", Attempt{Ctx: cancelled}, nil, Success},
		{"the caller's fault", Attempt{Ctx: live, Err: fmt.Errorf("x: %w", ErrCaller)}, nil, Ignored},
		{"the caller's fault, own deadline passed", Attempt{Ctx: live, Expired: true, Err: ErrCaller}, nil, Ignored},
		{"caller cancelled, any error", Attempt{Ctx: cancelled, Err: cellErr}, nil, Ignored},
		{"caller cancelled, long attempt", Attempt{Ctx: cancelled, Err: cellErr, Latency: time.Hour, Slow: time.Millisecond}, nil, Ignored},
		{"caller's deadline, no threshold", Attempt{Ctx: expired, Err: context.DeadlineExceeded, Latency: time.Hour}, nil, Ignored},
		{"caller's deadline, within Slow", Attempt{Ctx: expired, Err: context.DeadlineExceeded, Latency: 10 * time.Millisecond, Slow: 20 * time.Millisecond}, nil, Ignored},
		{"caller's deadline, past Slow", Attempt{Ctx: expired, Err: context.DeadlineExceeded, Latency: 30 * time.Millisecond, Slow: 20 * time.Millisecond}, nil, Failure},
		{"own deadline", Attempt{Ctx: live, Expired: true, Err: errors.New("i/o timeout")}, notFailure, Failure},
		{"Canceled, caller waits", Attempt{Ctx: live, Err: fmt.Errorf("rpc: %w", context.Canceled)}, nil, Failure},
		{"DeadlineExceeded, caller waits", Attempt{Ctx: live, Err: context.DeadlineExceeded}, notFailure, Failure},
		{"Canceled, no caller context", Attempt{Err: context.Canceled}, nil, Ignored}, // DefaultClassify
		{"a cell's error", Attempt{Ctx: live, Err: cellErr}, nil, Failure},
		{"a cell's error classified a success", Attempt{Ctx: live, Err: cellErr}, notFailure, Success},
		{"an invalid outcome", Attempt{Ctx: live, Err: cellErr}, func(error) Outcome { return 9 }, Ignored},
	}
	for _, tt := range tests {
		if got := Blame(tt.a, tt.classify); got != tt.want {
			t.Errorf("%s: Blame = %v; want %v", tt.name, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Blame(Attempt{Ctx: live, Err: cellErr}, nil) }); n != 0 {
		t.Errorf("Blame allocates %v times", n)
	}
}
