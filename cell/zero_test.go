package cell_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
)

// callAll calls every exported method of c with zero arguments (a cancelled
// context for a context, nil for a function), and reports any panic and
// any error result that is not one of the documented typed errors.
func callAll(t *testing.T, name string, c *cell.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ctxType := reflect.TypeOf((*context.Context)(nil)).Elem()
	errType := reflect.TypeOf((*error)(nil)).Elem()
	v := reflect.ValueOf(c)
	typ := v.Type()
	if typ.NumMethod() == 0 {
		t.Fatal("no exported method found")
	}
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		args := make([]reflect.Value, m.Type.NumIn()-1)
		for j := range args {
			at := m.Type.In(j + 1)
			if at == ctxType {
				args[j] = reflect.ValueOf(ctx)
			} else {
				args[j] = reflect.Zero(at)
			}
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: %s panics: %v", name, m.Name, r)
				}
			}()
			out := v.Method(i).Call(args)
			for _, o := range out {
				if o.Type() != errType || o.IsNil() {
					continue
				}
				err := o.Interface().(error)
				if !errors.Is(err, cell.ErrNotReady) && !errors.Is(err, cell.ErrNoFunc) && !errors.Is(err, context.Canceled) {
					t.Errorf("%s: %s = %v; want ErrNotReady (or ErrNoFunc for a nil fn)", name, m.Name, err)
				}
			}
			if m.Name == "Transport" { // and its RoundTripper
				req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
				req.Header.Set("K", "k")
				rt := c.Transport(nil, cell.KeyFromHeader("K"))
				if _, err := rt.RoundTrip(req); !errors.Is(err, cell.ErrNotReady) {
					t.Errorf("%s: Transport's RoundTrip = %v; want ErrNotReady", name, err)
				}
			}
		}()
	}
}

// TestZeroClient is Why bullet 11 (item 10): every exported method of a
// zero Client, a nil one and a Client never run answers without panicking,
// with ErrNotReady where it returns an error; Do with a nil fn is an error.
func TestZeroClient(t *testing.T) {
	callAll(t, "zero Client", &cell.Client{})
	callAll(t, "nil Client", nil)
	f := celltest.NewFleet(t, celltest.Config{})
	never, err := cell.NewClient(cell.Config{Source: f.Source()})
	if err != nil {
		t.Fatal(err)
	}
	callAll(t, "never-run Client", never)

	var zero cell.Client
	if err := zero.Do(context.Background(), "k", cell.Write, func(context.Context, cell.Route) error { return nil }); !errors.Is(err, cell.ErrNotReady) {
		t.Fatalf("zero Client's Do = %v; want ErrNotReady", err)
	}
	if err := zero.Run(context.Background()); !errors.Is(err, cell.ErrNotReady) {
		t.Fatalf("zero Client's Run = %v; want ErrNotReady", err)
	}
	if s := zero.Stats(); s.Ready || !errors.Is(s.LastError, cell.ErrNotReady) {
		t.Fatalf("zero Client's Stats = %+v; want not ready, LastError ErrNotReady", s)
	}
	if err := f.Client().Do(context.Background(), "k", cell.Write, nil); !errors.Is(err, cell.ErrNoFunc) {
		t.Fatalf("Do with a nil fn = %v; want ErrNoFunc", err)
	}
}
