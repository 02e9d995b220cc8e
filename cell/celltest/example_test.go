package celltest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
)

// A user's failure test in ten lines: fail one cell of twelve and check the
// blast radius, only its tenants. In a test, celltest.NewFleet(t, cfg)
// replaces New and Close.
func Example() {
	f, err := celltest.New(celltest.Config{Cells: 12, Zones: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	bad := f.Cells()[0]
	bad.Fail()
	failed, outside := 0, 0
	for _, key := range f.Keys(1000) {
		if err := f.Client().Do(context.Background(), key, cell.Write, f.Call); err != nil {
			failed++
			if a, _ := f.Map().Locate(key); a.Cell != bad.ID() {
				outside++
			}
		}
	}
	fmt.Printf("%d of 1000 keys failed, %d of them outside %s\n", failed, outside, bad.ID())
	// Output:
	// 101 of 1000 keys failed, 0 of them outside c01
}

// The zone layout: cells are dealt to the zones in turn.
func ExampleConfig_zones() {
	f, err := celltest.New(celltest.Config{Cells: 5, Zones: 2, InMemory: true})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	for _, c := range f.Cells() {
		fmt.Println(c.ID(), c.Zone())
	}
	// Output:
	// c01 z1
	// c02 z2
	// c03 z1
	// c04 z2
	// c05 z1
}
