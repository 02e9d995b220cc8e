package breaker

import (
	"errors"
	"testing"
	"time"
)

// TestBreakerHandleOutlivesSync: a call routed before a Sync dropped its
// cell holds the cell's Breaker, which still admits it (untracked), where
// Set.Allow by name answers ErrUnknownCell; a breaker dropped while open
// still refuses.
func TestBreakerHandleOutlivesSync(t *testing.T) {
	s := newSet(t, Config{PanicMode: PanicOff}, "a", "b", "c")
	ha, hb := s.Breaker("a"), s.Breaker("b")
	if ha == nil || hb == nil || ha.Cell() != "a" || s.Breaker("zz") != nil {
		t.Fatalf("Breaker(a), Breaker(b), Breaker(zz) = %v, %v, %v", ha, hb, s.Breaker("zz"))
	}
	tripCell(t, s, "b")
	s.Sync([]string{"c"})
	if _, err := s.Allow("a"); !errors.Is(err, ErrUnknownCell) {
		t.Fatalf("Set.Allow(a) after a is dropped = %v; want ErrUnknownCell", err)
	}
	tk, err := ha.Allow()
	if err != nil || !ha.Available() {
		t.Fatalf("Breaker(a).Allow after a is dropped = %v (available %v); want admitted", err, ha.Available())
	}
	tk.Done(Failure, time.Millisecond)
	if _, err := hb.Allow(); !errors.Is(err, ErrOpen) || hb.Available() {
		t.Fatalf("Breaker(b).Allow after b, open, is dropped = %v; want ErrOpen", err)
	}
	if got := s.Snapshot(); len(got) != 1 || got[0].Cell != "c" {
		t.Fatalf("Snapshot after Sync(c) = %+v; want c only", got)
	}
}
