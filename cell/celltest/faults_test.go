package celltest_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/cell/celltest"
)

// Meet: the faults in their order, Slow waited out, and what each leaves a
// request with, on any transport.
func TestFaultsMeet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFaults(1, "c01")
		closing := make(chan struct{})
		ctx := context.Background()
		meet := func() (celltest.Outcome, string) { return f.Meet(ctx, closing) }

		if o, _ := meet(); o != celltest.Pass {
			t.Fatalf("no fault: %v; want Pass", o)
		}
		f.MoveTo("c02")
		f.Slow(time.Second)
		start := time.Now()
		if o, to := meet(); o != celltest.Moved || to != "c02" || time.Since(start) != time.Second {
			t.Fatalf("Slow and MoveTo: %v %q after %v; want Moved to c02 after 1s", o, to, time.Since(start))
		}
		f.Fail() // Fail comes before Slow: no wait
		start = time.Now()
		if o, _ := meet(); o != celltest.Failed || time.Since(start) != 0 {
			t.Fatalf("Fail: %v after %v; want Failed at once", o, time.Since(start))
		}
		f.Blackhole() // Blackhole comes first, until the caller gives up
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if o, _ := f.Meet(cctx, closing); o != celltest.Blackholed || cctx.Err() == nil {
			t.Fatalf("Blackhole: %v; want Blackholed once the caller gave up", o)
		}
		cancel()
		f.Recover()
		f.Slow(time.Hour)
		cctx, cancel = context.WithTimeout(ctx, time.Second)
		if o, _ := f.Meet(cctx, closing); o != celltest.Abandoned {
			t.Fatalf("Slow, caller gives up: %v; want Abandoned", o)
		}
		cancel()
		close(closing)
		if o, _ := meet(); o != celltest.Closed {
			t.Fatalf("Slow, fleet closes: %v; want Closed", o)
		}
		f.Recover()
		f.Flap(time.Second, time.Second)
		if o, _ := meet(); o != celltest.Failed {
			t.Fatalf("Flap, first phase: %v; want Failed", o)
		}
		time.Sleep(1500 * time.Millisecond)
		if o, _ := meet(); o != celltest.Pass {
			t.Fatalf("Flap, second phase: %v; want Pass", o)
		}
		if f.Requests() != 8 || f.Failures() != 3 {
			t.Fatalf("Requests, Failures = %d, %d; want 8, 3 (Fail, Blackhole, Flap)", f.Requests(), f.Failures())
		}
	})
}

// The control plane's first publication is version 1 of FirstMap, Layout
// deals cells to zones in turn, and a Source delivers the publication.
func TestControlPlaneFirstMap(t *testing.T) {
	specs := celltest.Layout(12, 5)
	if specs[0].ID != "c01" || specs[11].ID != "c12" || specs[5].Zone != "z1" || specs[6].Zone != "z2" {
		t.Fatalf("Layout(12, 5) = %+v", specs)
	}
	for i := range specs {
		specs[i].URL = "http://" + specs[i].ID + ".cell.test"
	}
	cp := celltest.NewControlPlane(celltest.ControlPlaneConfig{})
	if cp.Map() != nil {
		t.Fatal("a new control plane has a map")
	}
	m, err := celltest.FirstMap(celltest.MapConfig{Cells: specs, ShardSize: 2, Explicit: true})
	if err != nil {
		t.Fatal(err)
	}
	cp.PublishMap(m)
	got, err := cp.Source().Next(context.Background())
	if err != nil || got != m || m.Version() != 1 || !m.Explicit() || m.NumCells() != 12 {
		t.Fatalf("Next = %v, %v; want FirstMap's version 1, explicit, 12 cells", got, err)
	}
	if ks := cp.KeysOf("c03", 3); len(ks) != 3 {
		t.Fatalf("KeysOf = %v", ks)
	}
}
