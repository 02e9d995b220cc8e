package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
)

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer) error {
	for _, tc := range []struct {
		shardSize int
		class     cell.Class
	}{{1, cell.Write}, {2, cell.Stateless}} {
		f, err := celltest.New(celltest.Config{Cells: 9, Zones: 3, ShardSize: tc.shardSize, Stateless: tc.class == cell.Stateless})
		if err != nil {
			return err
		}
		bad := f.Cells()[4]
		bad.Fail()
		failed := 0
		for _, key := range f.Keys(1000) {
			if f.Client().Do(context.Background(), key, tc.class, f.Call) != nil {
				failed++
			}
		}
		fmt.Fprintf(w, "shard size %d, %s calls, %s failing: %d of 1000 tenants get errors\n", tc.shardSize, tc.class, bad.ID(), failed)
		f.Close()
	}
	return nil
}
