package cell_test

import (
	"context"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
	"github.com/cellkit/cellkit/placement"
)

// The hooks of other transports (cellgrpc's balancer): a cell's endpoints
// as the client would call them, same zone first; a channel closed at the
// next swap; the class WithClass put in a context.
func TestTransportHooks(t *testing.T) {
	f := celltest.NewFleet(t, celltest.Config{Cells: 3, Zones: 3, Client: cell.Config{Zone: "z2"}})
	c := f.Client()
	c1, c2 := f.Cells()[0], f.Cells()[1]
	if eps, v, ok := c.Endpoints(c1.ID()); !ok || v != 1 || len(eps) != 1 || eps[0] != c1.URL() {
		t.Fatalf("Endpoints(%s) = %v, v%d, %v", c1.ID(), eps, v, ok)
	}
	if _, _, ok := c.Endpoints("nope"); ok {
		t.Fatal("Endpoints of a cell not in the map reported true")
	}
	swapped := c.Swapped()
	m, err := f.Publish(func(b *placement.Builder) error {
		return b.SetEndpoints(c1.ID(), []placement.Endpoint{{URL: c1.URL(), Zone: "z1"}, {URL: c2.URL(), Zone: "z2"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-swapped:
	case <-time.After(10 * time.Second):
		t.Fatal("Swapped not closed 10s after a publication")
	}
	if eps, v, ok := c.Endpoints(c1.ID()); !ok || v != m.Version() || len(eps) != 1 || eps[0] != c2.URL() {
		t.Fatalf("Endpoints(%s) from z2 = %v, v%d, %v; want only the z2 endpoint", c1.ID(), eps, v, ok)
	}
	if cl, ok := cell.ClassFrom(cell.WithClass(context.Background(), cell.Stateless)); !ok || cl != cell.Stateless {
		t.Fatalf("ClassFrom = %v, %v", cl, ok)
	}
	if _, ok := cell.ClassFrom(context.Background()); ok {
		t.Fatal("ClassFrom of a bare context reported true")
	}
}
