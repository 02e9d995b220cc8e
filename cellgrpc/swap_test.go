package cellgrpc_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cellgrpc"
	"github.com/cellkit/cellkit/cellgrpc/cellgrpctest"
	"github.com/cellkit/cellkit/placement"
	"google.golang.org/grpc"
)

// Scenario 9: 64 goroutines call while the map is swapped 1,000 times (run
// it with -race): no error, every reply from a cell of the key's shard on a
// map the call could have used, and the balancer keeps its connections: no
// cell's server accepts a second one.
func TestE2EConcurrentSwaps(t *testing.T) {
	swaps := 1000
	if testing.Short() {
		swaps = 100
	}
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 12, Zones: 3, ShardSize: 3, Buckets: 1024, Stateless: true, Bufconn: true})
	c := f.Client()
	keys := f.Keys(256)
	shard := make(map[string][]string, len(keys))
	for _, k := range keys {
		a, _ := f.Map().Locate(k)
		shard[k] = a.Shard
	}
	done := make(chan struct{})
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	var calls atomic.Int64
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				k := keys[i%len(keys)]
				ctx := cellgrpc.WithKey(context.Background(), k)
				var got string
				var err error
				switch i % 3 {
				case 0:
					got, err = cellgrpctest.Put(ctx, f.Conn())
				case 1:
					got, err = cellgrpctest.Get(ctx, f.Conn())
				case 2:
					got, err = cellgrpctest.Get(cell.WithClass(ctx, cell.Stateless), f.Conn())
				}
				if err == nil && !contains(shard[k], got) {
					err = fmt.Errorf("key %q served by %s, outside its shard %v", k, got, shard[k])
				}
				if err != nil {
					errs <- err
					return
				}
				calls.Add(1)
			}
		}()
	}
	var final uint64
	for i := range swaps {
		m, err := f.Publish(func(b *placement.Builder) error {
			return b.SetLabels(f.Cells()[i%12].ID(), map[string]string{"rev": fmt.Sprint(i)})
		})
		if err != nil {
			t.Fatal(err)
		}
		final = m.Version()
		await(t, c, final)
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, cl := range f.Cells() {
		if n := cl.Conns(); n != 1 {
			t.Errorf("cell %s accepted %d connections over %d map swaps; want 1", cl.ID(), n, swaps)
		}
	}
	t.Logf("%d calls during %d swaps", calls.Load(), swaps)
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// The balancer's connections follow the map: a disabled cell's connection
// is closed, those of the cells that stay are kept, and a cell enabled
// again is connected anew.
func TestBalancerFollowsMap(t *testing.T) {
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 4})
	c := f.Client()
	for _, k := range f.Keys(40) { // connect everything
		if _, err := cellgrpctest.Put(cellgrpc.WithKey(context.Background(), k), f.Conn()); err != nil {
			t.Fatal(err)
		}
	}
	off := f.Cells()[2]
	m, err := f.Publish(func(b *placement.Builder) error { return b.SetState(off.ID(), placement.Disabled) })
	if err != nil {
		t.Fatal(err)
	}
	await(t, c, m.Version())
	m, err = f.Publish(func(b *placement.Builder) error { return b.SetState(off.ID(), placement.Active) })
	if err != nil {
		t.Fatal(err)
	}
	await(t, c, m.Version())
	for _, k := range f.Keys(40) {
		got, err := cellgrpctest.Put(cellgrpc.WithKey(context.Background(), k), f.Conn())
		if err != nil || got != homeOf(t, f, k) {
			t.Fatalf("Put %q = %q, %v; want %s", k, got, err, homeOf(t, f, k))
		}
	}
	for _, cl := range f.Cells() {
		want := uint64(1)
		if cl == off {
			want = 2
		}
		if n := cl.Conns(); n != want {
			t.Errorf("cell %s accepted %d connections; want %d", cl.ID(), n, want)
		}
	}
}

// Connectivity flapping: a cell's server goes down and comes back again
// and again (its connections fail, its subconns go TRANSIENT_FAILURE and
// back) while calls go on. Keys never move: every answer comes from the
// key's home in the map, the keys of the other cells never fail, and the
// flapping cell's keys fail fast while it is down and are served when it
// is back.
func TestConnectivityFlapNoKeyMoves(t *testing.T) {
	fleetModes(t, func(t *testing.T, bufconn bool) {
		f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 4, Zones: 2, ShardSize: 2, Bufconn: bufconn,
			Client: cell.Config{Hops: -1, Breakers: breaker.Config{OpenBase: 20 * time.Millisecond, OpenMax: 50 * time.Millisecond}}})
		flappy := f.Cells()[1]
		keys := f.Keys(64)
		ctx := context.Background()
		failed := 0
		for round := range 6 {
			down := round%2 == 0
			if down {
				flappy.Stop()
			} else if err := flappy.Start(); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				home := homeOf(t, f, k)
				cctx, cancel := context.WithTimeout(cellgrpc.WithKey(ctx, k), 5*time.Second)
				// Stateless, but no hops: the shard is there, and still a
				// call never leaves the key's home because of connectivity.
				got, err := cellgrpctest.Get(cell.WithClass(cctx, cell.Stateless), f.Conn())
				cancel()
				switch {
				case err == nil && got != home:
					t.Fatalf("round %d: key %q (home %s) served by %s", round, k, home, got)
				case err != nil && home != flappy.ID():
					t.Fatalf("round %d: key %q (home %s) failed: %v", round, k, home, err)
				case err != nil:
					failed++
				}
			}
			if !down {
				// Back up: the cell's keys are served again once its
				// connection is ready and its breaker lets calls through.
				awaitServed(t, f, flappy)
			}
		}
		if failed == 0 {
			t.Fatal("no call failed while the cell was down")
		}
	})
}

// awaitServed waits, at most 20 s, for a key of cell c to be served by c.
func awaitServed(t *testing.T, f *cellgrpctest.Fleet, c *cellgrpctest.Cell) {
	t.Helper()
	k := f.KeysOf(c.ID(), 1)[0]
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(cellgrpc.WithKey(context.Background(), k), time.Second)
		got, err := cellgrpctest.Put(ctx, f.Conn())
		cancel()
		if err == nil && got == c.ID() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cell %s not serving 20s after it came back: %v", c.ID(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The balancer connects to the endpoints the client would call: a cell's
// endpoints in the client's zone when it has some, all of them otherwise.
func TestBalancerSameZoneFirst(t *testing.T) {
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 2, Zones: 2, Client: cell.Config{Zone: "z1"}})
	c1, c2 := f.Cells()[0], f.Cells()[1]
	// c01 gets a second endpoint in z2, served by c02's server (whose
	// guard would refuse c01's keys: only connections are counted here).
	m, err := f.Publish(func(b *placement.Builder) error {
		return b.SetEndpoints(c1.ID(), []placement.Endpoint{{URL: c1.URL(), Zone: "z1"}, {URL: c2.URL(), Zone: "z2"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	await(t, f.Client(), m.Version())
	call := func(conn *grpc.ClientConn, key string) {
		t.Helper()
		if _, err := cellgrpctest.Get(cellgrpc.WithKey(context.Background(), key), conn); err != nil {
			t.Fatal(err)
		}
	}
	k1, k2 := f.KeysOf(c1.ID(), 1)[0], f.KeysOf(c2.ID(), 1)[0]
	call(f.Conn(), k1)
	call(f.Conn(), k2)
	if n := c2.Conns(); n != 1 {
		t.Fatalf("c02's server accepted %d connections from a z1 client; want 1 (its own cell's)", n)
	}
	// A client in z2: c01 has an endpoint there, so that is the one used.
	c, conn, err := f.NewClient(cell.Config{Zone: "z2"})
	if err != nil {
		t.Fatal(err)
	}
	await(t, c, m.Version())
	if eps, _, _ := c.Endpoints(c1.ID()); len(eps) != 1 || eps[0] != c2.URL() {
		t.Fatalf("z2 client's endpoints of c01: %v; want [%s]", eps, c2.URL())
	}
	call(conn, k2)
	// One connection per endpoint of each cell: z1's for c02, and z2's
	// for c02 and for c01, at the same address.
	if n := c2.Conns(); n != 3 {
		t.Fatalf("c02's server accepted %d connections; want 3", n)
	}
	if n := c1.Conns(); n != 1 {
		t.Fatalf("c01's server accepted %d connections; want 1: the z2 client has no endpoint of c01 there", n)
	}
}
