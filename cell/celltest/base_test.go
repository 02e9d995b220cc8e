package celltest

import (
	"testing"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
)

// TestWithBase checks the completion of NewClient's config, field by field,
// inside the nested settings too.
func TestWithBase(t *testing.T) {
	other := &Source{}
	base := cell.Config{
		Source:   other,
		Zone:     "z1",
		Hops:     2,
		Budget:   cell.Budget{Ratio: 0.5, TTL: time.Minute},
		Hedge:    cell.Hedge{Delay: time.Millisecond, Max: 2},
		Breakers: breaker.Config{ConsecutiveFailures: 3, OpenBase: time.Second},
		Observer: cell.Observer{Attempt: func(cell.AttemptInfo) {}},
	}
	got := withBase(cell.Config{
		Zone:     "z2",
		Hops:     -1,
		Budget:   cell.Budget{PerSecond: 1},
		Hedge:    cell.Hedge{Max: 5},
		Breakers: breaker.Config{OpenBase: 2 * time.Second},
		Observer: cell.Observer{Failover: func(cell.FailoverInfo) {}},
	}, base)
	switch {
	case got.Source != nil:
		t.Error("Source taken from the base: a source feeds one client")
	case got.Zone != "z2" || got.Hops != -1:
		t.Errorf("Zone %q, Hops %d; want the argument's z2, -1", got.Zone, got.Hops)
	case got.Budget != (cell.Budget{Ratio: 0.5, PerSecond: 1, TTL: time.Minute}):
		t.Errorf("Budget %+v; want the base's Ratio and TTL with the argument's PerSecond", got.Budget)
	case got.Hedge != (cell.Hedge{Delay: time.Millisecond, Max: 5}):
		t.Errorf("Hedge %+v; want the base's Delay with the argument's Max", got.Hedge)
	case got.Breakers.ConsecutiveFailures != 3 || got.Breakers.OpenBase != 2*time.Second:
		t.Errorf("Breakers %+v; want the base's ConsecutiveFailures with the argument's OpenBase", got.Breakers)
	case got.Observer.Attempt == nil || got.Observer.Failover == nil || got.Observer.MapUpdate != nil:
		t.Error("Observer: want the base's Attempt, the argument's Failover, and no MapUpdate")
	}
	if base.Source != other || base.Zone != "z1" {
		t.Error("withBase changed its base")
	}
	if got := withBase(cell.Config{Source: other}, cell.Config{}); got.Source != other {
		t.Error("the argument's Source was dropped")
	}
}
