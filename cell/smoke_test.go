package cell_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
)

func TestSmoke(t *testing.T) {
	for _, mem := range []bool{false, true} {
		f := celltest.NewFleet(t, celltest.Config{Cells: 4, Zones: 2, InMemory: mem})
		c := f.Client()
		r, err := c.Resolve(context.Background(), "tenant-1")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("route %+v", r)
		if err := c.Do(context.Background(), "tenant-1", cell.Write, f.Call); err != nil {
			t.Fatal(err)
		}
		hc := f.HTTPClient()
		req, _ := http.NewRequest("GET", "http://ignored/x", nil)
		req.Header.Set(celltest.KeyHeader, "tenant-1")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != r.Cell {
			t.Fatalf("body %q want %q", b, r.Cell)
		}
		t.Logf("%+v", c.Stats())
	}
}
