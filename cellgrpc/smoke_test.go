package cellgrpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cellgrpc"
	"github.com/cellkit/cellkit/cellgrpc/cellgrpctest"
)

func TestSmoke(t *testing.T) {
	for _, buf := range []bool{false, true} {
		f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 3, Bufconn: buf})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, k := range f.Keys(20) {
			a, _ := f.Map().Locate(k)
			kctx := cellgrpc.WithKey(ctx, k)
			got, err := cellgrpctest.Get(kctx, f.Conn())
			if err != nil || got != a.Cell {
				t.Fatalf("Get %s: %q %v, want %s", k, got, err, a.Cell)
			}
			got, err = cellgrpctest.Put(kctx, f.Conn())
			if err != nil || got != a.Cell {
				t.Fatalf("Put %s: %q %v, want %s", k, got, err, a.Cell)
			}
			l, err := cellgrpctest.List(kctx, f.Conn(), 3)
			if err != nil || len(l) != 3 || l[0] != a.Cell {
				t.Fatalf("List %s: %q %v", k, l, err)
			}
			c, err := cellgrpctest.Chat(kctx, f.Conn(), "a", "b")
			if err != nil || len(c) != 2 || c[1] != a.Cell+":b" {
				t.Fatalf("Chat %s: %q %v", k, c, err)
			}
		}
	}
}
