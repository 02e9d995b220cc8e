package cellgrpctest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cellkit/cellkit/cellgrpc"
	"github.com/cellkit/cellkit/cellgrpc/cellgrpctest"
)

// A user's failure test in a few lines: fail one gRPC cell of twelve and
// check the blast radius, only its tenants. In a test,
// cellgrpctest.NewFleet(t, cfg) replaces New and Close.
func Example() {
	f, err := cellgrpctest.New(cellgrpctest.Config{Cells: 12, Zones: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	bad := f.Cells()[0]
	bad.Fail()
	failed, outside := 0, 0
	for _, key := range f.Keys(300) {
		if _, err := cellgrpctest.Put(cellgrpc.WithKey(context.Background(), key), f.Conn()); err != nil {
			failed++
			if a, _ := f.Map().Locate(key); a.Cell != bad.ID() {
				outside++
			}
		}
	}
	fmt.Printf("%d of 300 keys failed, %d of them outside %s\n", failed, outside, bad.ID())
	// Output:
	// 22 of 300 keys failed, 0 of them outside c01
}
