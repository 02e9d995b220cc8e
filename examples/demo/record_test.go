package main

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestStallReadsAsLatency checks that a request held up by a stall counts
// in the slot in which it ended, with its wait as latency, and in flight
// while it waits: the charts bucketed requests by their start, so a stall
// looked like traffic that was never sent.
func TestStallReadsAsLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(100*time.Millisecond*chartSlots/10, map[string]int{"c1": 0}) // 10 ms slots
		began := rec.started()
		time.Sleep(55 * time.Millisecond)
		rec.result(0, began, true)
		s := rec.series(60*time.Millisecond, []CellResult{{ID: "c1"}})
		if s.SlotWidthMs != 10 {
			t.Fatalf("slot width %v ms; want 10", s.SlotWidthMs)
		}
		if s.CallersOKCount[0] != 0 || s.CallersOKCount[5] != 1 {
			t.Errorf("ok per slot %v; want the request in slot 5, where it ended", s.CallersOKCount)
		}
		if p := s.CallersP99Ms[5]; p < 55 || p > 55*latGrowth {
			t.Errorf("p99 in slot 5 = %v ms; want about the 55 ms wait", p)
		}
		for i := range 5 {
			if s.CallersInFlightCount[i] != 1 {
				t.Errorf("in flight at the end of slot %d = %d; want 1", i, s.CallersInFlightCount[i])
			}
		}
	})
}
