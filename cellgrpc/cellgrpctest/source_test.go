package cellgrpctest_test

import (
	"context"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cellgrpc/cellgrpctest"
	"github.com/cellkit/cellkit/placement"
)

// A publication made between two calls of a Source's Next reaches the next
// call at once, not at the next poll an hour later. The fleet's copy of
// celltest's source missed it (it waited only on the channel of the next
// change); the source is now celltest's, with its generation counter.
func TestSourceSeesPublishBetweenNexts(t *testing.T) {
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Bufconn: true, PollInterval: time.Hour})
	src := f.Source()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := src.Next(ctx)
	if err != nil || m.Version() != 1 {
		t.Fatalf("first Next = %v, %v; want version 1", m, err)
	}
	if _, err := f.Publish(func(b *placement.Builder) error { return b.SetWeight("c01", 2) }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m, err = src.Next(ctx)
	if err != nil || m.Version() != 2 {
		t.Fatalf("Next after a publish = %v, %v (after %v); want version 2 at once", m, err, time.Since(start))
	}
}
