package celltest_test

import (
	"bytes"
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// TestZones pins the layout that Config.Zones documents: cells dealt to the
// zones in turn, c01 in z1, each with one endpoint in its own zone, the map
// agreeing with the cells.
func TestZones(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 7, Zones: 3, InMemory: true})
		want := [][2]string{{"c01", "z1"}, {"c02", "z2"}, {"c03", "z3"}, {"c04", "z1"}, {"c05", "z2"}, {"c06", "z3"}, {"c07", "z1"}}
		cells := f.Cells()
		if len(cells) != len(want) {
			t.Fatalf("%d cells; want %d", len(cells), len(want))
		}
		m := f.Map()
		for i, c := range cells {
			if c.ID() != want[i][0] || c.Zone() != want[i][1] {
				t.Errorf("cell %d is %s in %s; want %s in %s", i, c.ID(), c.Zone(), want[i][0], want[i][1])
			}
			if f.Cell(c.ID()) != c {
				t.Errorf("Cell(%q) is not the fleet's cell", c.ID())
			}
			mc, ok := m.Cell(c.ID())
			if !ok || mc.Zone != c.Zone() || len(mc.Endpoints) != 1 || mc.Endpoints[0].URL != c.URL() || mc.Endpoints[0].Zone != c.Zone() {
				t.Errorf("the map's %s is %+v; want zone %s and one endpoint %s in it", c.ID(), mc, c.Zone(), c.URL())
			}
		}
		if f.Cell("c08") != nil {
			t.Error("Cell of an unknown ID is not nil")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 120, InMemory: true})
		if first, last := f.Cells()[0], f.Cells()[119]; first.ID() != "c001" || last.ID() != "c120" || last.Zone() != "z1" {
			t.Errorf("120 cells in one zone: %s … %s in %s; want c001 … c120 in z1", first.ID(), last.ID(), last.Zone())
		}
	})
}

// nextAsync runs s.Next on a goroutine of its own and reports whether it has
// returned once every goroutine of the bubble is blocked, without any time
// passing.
func nextAsync(ctx context.Context, s *celltest.Source) (returned func() bool, result func() (*placement.Map, error)) {
	var (
		m    *placement.Map
		err  error
		done atomic.Bool
	)
	go func() {
		m, err = s.Next(ctx)
		done.Store(true)
	}()
	return func() bool { synctest.Wait(); return done.Load() }, func() (*placement.Map, error) { return m, err }
}

// TestSourceNoLostWakeUp is the regression test of the lost wake-up: a
// publish or a control-plane change that lands while no Next is waiting (a
// client between two calls) makes the next Next poll at once, as the doc
// says, not at the next PollInterval.
func TestSourceNoLostWakeUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{InMemory: true, PollInterval: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := f.Source()
		start := time.Now()
		if m, err := s.Next(ctx); err != nil || m.Version() != 1 {
			t.Fatalf("first Next = %v, %v; want v1 at once", m, err)
		}

		// A publish between two calls.
		m2, err := f.Publish(func(b *placement.Builder) error { return b.SetLabels("c01", map[string]string{"rev": "2"}) })
		if err != nil {
			t.Fatal(err)
		}
		returned, result := nextAsync(ctx, s)
		if !returned() {
			t.Fatal("Next after a publish made between two calls waits for the next poll")
		}
		if m, err := result(); err != nil || m != m2 {
			t.Fatalf("Next = %v, %v; want v%d", m, err, m2.Version())
		}

		// The control plane going down between two calls, and coming back
		// with a publication made while it was down.
		f.ControlPlaneDown()
		returned, result = nextAsync(ctx, s)
		if !returned() {
			t.Fatal("Next after the control plane went down between two calls waits for the next poll")
		}
		if _, err := result(); !errors.Is(err, source.ErrFetch) {
			t.Fatalf("Next with the control plane down = %v; want ErrFetch", err)
		}
		m3, err := f.Publish(func(b *placement.Builder) error { return b.SetLabels("c01", map[string]string{"rev": "3"}) })
		if err != nil {
			t.Fatal(err)
		}
		// The publish wakes the source, whose poll fails: the control
		// plane is down.
		returned, result = nextAsync(ctx, s)
		if !returned() {
			t.Fatal("Next after a publish with the control plane down waits for the next poll")
		}
		if _, err := result(); !errors.Is(err, source.ErrFetch) {
			t.Fatalf("Next with the control plane down = %v; want ErrFetch", err)
		}
		returned, result = nextAsync(ctx, s)
		if returned() {
			m, err := result()
			t.Fatalf("Next with the control plane down and nothing new returned %v, %v before a poll was due", m, err)
		}
		f.ControlPlaneUp()
		if !returned() {
			t.Fatal("Next waiting while the control plane came back is still waiting")
		}
		if m, err := result(); err != nil || m != m3 {
			t.Fatalf("Next = %v, %v; want v%d", m, err, m3.Version())
		}

		// A publication while held is not delivered until Hold(false), which
		// delivers it at once, waiting or not.
		s.Hold(true)
		m4, err := f.Publish(func(b *placement.Builder) error { return b.SetLabels("c01", map[string]string{"rev": "4"}) })
		if err != nil {
			t.Fatal(err)
		}
		returned, result = nextAsync(ctx, s)
		if returned() {
			t.Fatal("a held source delivered a publication")
		}
		s.Hold(false)
		if !returned() {
			t.Fatal("Next is still waiting after Hold(false) with a publication pending")
		}
		if m, err := result(); err != nil || m != m4 {
			t.Fatalf("Next = %v, %v; want v%d", m, err, m4.Version())
		}
		s.Hold(true)
		m5, err := f.Publish(func(b *placement.Builder) error { return b.SetLabels("c01", map[string]string{"rev": "5"}) })
		if err != nil {
			t.Fatal(err)
		}
		s.Hold(false)
		returned, result = nextAsync(ctx, s)
		if !returned() {
			t.Fatal("Next after Hold(false) between two calls waits for the next poll")
		}
		if m, err := result(); err != nil || m != m5 {
			t.Fatalf("Next = %v, %v; want v%d", m, err, m5.Version())
		}

		// Refresh makes a held source poll; nothing new leaves it waiting.
		s.Hold(true)
		returned, result = nextAsync(ctx, s)
		s.Refresh()
		if returned() {
			t.Fatal("a Refresh with nothing new made Next return")
		}
		m6, err := f.Publish(func(b *placement.Builder) error { return b.SetLabels("c01", map[string]string{"rev": "6"}) })
		if err != nil {
			t.Fatal(err)
		}
		if returned() {
			t.Fatal("a held source delivered a publication without Refresh")
		}
		s.Refresh()
		if !returned() {
			t.Fatal("Refresh did not make a held source poll")
		}
		if time.Since(start) != 0 {
			t.Fatalf("%v passed; every step above should have been at once", time.Since(start))
		}
		if m, err := result(); err != nil || m != m6 {
			t.Fatalf("Next after Refresh = %v, %v; want v%d", m, err, m6.Version())
		}
		// Each publication is delivered once: a held source with nothing
		// new keeps waiting after a Refresh.
		returned, result = nextAsync(ctx, s)
		s.Refresh()
		if returned() {
			m, _ := result()
			t.Fatalf("a source delivered %v twice", m)
		}
		cancel()
		if !returned() {
			t.Fatal("Next does not return when its context ends")
		}
		if _, err := result(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Next with its context cancelled = %v; want context.Canceled", err)
		}
	})
}

// TestClientFollowsAtOnce is the same regression seen from a client: a
// publication made while the client handles the previous one (here, from
// its Observer, which Run calls between two Next calls) is in force at once.
func TestClientFollowsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			f    *celltest.Fleet
			once sync.Once
			errc = make(chan error, 1)
		)
		obs := cell.Observer{MapUpdate: func(u cell.MapUpdate) {
			if u.Accepted && u.Version == 2 {
				once.Do(func() {
					_, err := f.Publish(func(b *placement.Builder) error { return b.SetLabels("c01", map[string]string{"rev": "3"}) })
					errc <- err
				})
			}
		}}
		f = celltest.NewFleet(t, celltest.Config{InMemory: true, Client: cell.Config{Observer: obs}})
		start := time.Now()
		if _, err := f.Publish(func(b *placement.Builder) error { return b.SetLabels("c01", map[string]string{"rev": "2"}) }); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if v := f.Client().Map().Version(); v != 3 || time.Since(start) != 0 {
			t.Fatalf("the client is on v%d after %v; want v3 at once", v, time.Since(start))
		}
	})
}

// TestNewClientBase is the regression test of Config.Client: the fields it
// sets and NewClient's argument does not take effect in the new client.
func TestNewClientBase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var heard, mine atomic.Int64
		base := cell.Config{
			Observer:       cell.Observer{MapUpdate: func(cell.MapUpdate) { heard.Add(1) }},
			AttemptTimeout: 100 * time.Millisecond,
		}
		f := celltest.NewFleet(t, celltest.Config{InMemory: true, Client: base})
		synctest.Wait()
		if heard.Load() != 1 {
			t.Fatalf("the fleet's client reported %d map updates; want 1", heard.Load())
		}
		c, err := f.NewClient(cell.Config{})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if heard.Load() != 2 {
			t.Fatal("a client from NewClient(cell.Config{}) does not use Config.Client's Observer")
		}
		// Config.Client's AttemptTimeout bounds the new client's Writes.
		slow := f.Cells()[0]
		slow.Slow(time.Hour)
		start := time.Now()
		err = c.Do(context.Background(), f.KeysOf(slow.ID(), 1)[0], cell.Write, f.Call)
		if err == nil || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("a Write to a cell slowed by 1h = %v after %v; want Config.Client's AttemptTimeout, 100ms", err, time.Since(start))
		}
		slow.Recover()

		// A field of the argument wins over the base's.
		own, err := f.NewClient(cell.Config{Observer: cell.Observer{MapUpdate: func(cell.MapUpdate) { mine.Add(1) }}})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		<-own.Ready()
		if heard.Load() != 2 || mine.Load() != 1 {
			t.Fatalf("base observer heard %d, own %d; want the argument's Observer.MapUpdate alone", heard.Load(), mine.Load())
		}
	})
}

// TestCleanupNoGoroutines checks that a fleet on loopback servers, its
// clients and the connections of a black-holed and a slow request leave no
// goroutine once Close returns (the in-memory fleet is checked by every
// synctest test: its bubble cannot end with a goroutine left).
func TestCleanupNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	f, err := celltest.New(celltest.Config{Cells: 4, Zones: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.NewClient(cell.Config{}); err != nil {
		t.Fatal(err)
	}
	hc := f.HTTPClient()
	for _, k := range f.Keys(20) {
		resp, err := hc.Get("http://any/?k=" + k)
		if err == nil {
			resp.Body.Close()
		}
	}
	f.Cells()[0].Blackhole()
	f.Cells()[1].Slow(time.Hour)
	var wg sync.WaitGroup
	for _, c := range f.Cells()[:2] {
		wg.Go(func() { hit(context.Background(), f, c, f.KeysOf(c.ID(), 1)[0]) })
		wg.Go(func() { call(context.Background(), f, c, f.KeysOf(c.ID(), 1)[0]) })
	}
	for f.Cells()[0].Requests() < 2 || f.Cells()[1].Requests() < 2 {
		runtime.Gosched()
	}
	f.Close()
	wg.Wait() // Close ends what the black hole and the slow cell hold
	f.Close() // a second Close does nothing

	// The loopback connections' goroutines end when they see their
	// peer close, a moment after Close: wait a bounded time.
	var after int
	for range 500 {
		if after = runtime.NumGoroutine(); after <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Fatalf("%d goroutines before the fleet, %d after Close:\n%s", before, after, buf)
}

// TestPackageDoc is the regression test of the missing package comment:
// the package has one, in doc.go, and every exported name of a non-test
// file is documented.
func TestPackageDoc(t *testing.T) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*ast.File{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if files[name], err = parser.ParseFile(fset, name, nil, parser.ParseComments); err != nil {
			t.Fatal(err)
		}
	}
	for name, file := range files {
		if file.Doc != nil && name != "doc.go" {
			t.Errorf("%s has a package comment; it belongs in doc.go alone", name)
		}
		if name == "doc.go" && (file.Doc == nil || !strings.HasPrefix(file.Doc.Text(), "Package celltest ")) {
			t.Error("doc.go has no package comment starting with \"Package celltest \"")
		}
		for _, d := range file.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && d.Doc == nil && (d.Recv == nil || exportedRecv(d.Recv)) {
					t.Errorf("%s: %s has no doc comment", fset.Position(d.Pos()), d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					var names []*ast.Ident
					var doc *ast.CommentGroup
					switch s := s.(type) {
					case *ast.TypeSpec:
						names, doc = []*ast.Ident{s.Name}, s.Doc
					case *ast.ValueSpec:
						names, doc = s.Names, s.Doc
					}
					for _, n := range names {
						if n.IsExported() && doc == nil && d.Doc == nil {
							t.Errorf("%s: %s has no doc comment", fset.Position(n.Pos()), n.Name)
						}
					}
				}
			}
		}
	}
	if _, ok := files["doc.go"]; !ok {
		t.Error("the package has no doc.go")
	}
}

func exportedRecv(fl *ast.FieldList) bool {
	t := fl.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.IsExported()
}

// TestPublishKinds: a publication of each kind reaches a source once, as a
// real source would deliver it; Polls counts the polls.
func TestPublishKinds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{InMemory: true, PollInterval: time.Hour})
		ctx := context.Background()
		s := f.Source()
		if m, err := s.Next(ctx); err != nil || m.Version() != 1 {
			t.Fatalf("first Next = %v, %v", m, err)
		}
		v1 := f.Map()
		polls := f.Polls()

		// Publish: the next version, in force at the guards at once.
		m2, err := f.Publish(func(b *placement.Builder) error { return b.SetLabels("c02", map[string]string{"a": "b"}) })
		if err != nil || m2.Version() != 2 || f.Map() != m2 {
			t.Fatalf("Publish = %v, %v; want v2, the fleet's map", m2, err)
		}
		if m, err := s.Next(ctx); err != nil || m != m2 {
			t.Fatalf("Next after Publish = %v, %v; want v2", m, err)
		}
		// An edit that fails publishes nothing.
		if _, err := f.Publish(func(b *placement.Builder) error { return b.SetState("c99", placement.Draining) }); err == nil {
			t.Fatal("Publish of an edit naming no cell succeeded")
		}
		if f.Map() != m2 {
			t.Fatal("a failed edit changed the fleet's map")
		}

		// PublishMap of an older map: delivered as it is (a misbehaving
		// control plane), the guards stay on the newest.
		f.PublishMap(v1)
		if m, err := s.Next(ctx); err != nil || m != v1 {
			t.Fatalf("Next after PublishMap(v1) = %v, %v; want v1 as it is", m, err)
		}
		if f.Map() != m2 || f.Cells()[0].Map() != m2 {
			t.Fatal("PublishMap of an older map moved the guards back")
		}

		// PublishDocument: a bad document reaches the source as an error, a
		// good one as its map.
		f.PublishDocument([]byte(`{"version": 9, "cells": []}`))
		var se *source.SourceError
		if m, err := s.Next(ctx); m != nil || !errors.As(err, &se) {
			t.Fatalf("Next after a bad document = %v, %v; want a SourceError", m, err)
		}
		f.PublishDocument(m2.Bytes())
		if m, err := s.Next(ctx); err != nil || m.Version() != 2 || !bytes.Equal(m.Bytes(), m2.Bytes()) {
			t.Fatalf("Next after a good document = %v, %v; want v2 again", m, err)
		}
		if got := f.Polls() - polls; got < 4 {
			t.Fatalf("Polls counted %d polls for four publications; want at least 4", got)
		}
		// Once everything is idle, one Refresh is one poll.
		synctest.Wait()
		polls = f.Polls()
		ctx2, cancel := context.WithCancel(ctx)
		defer cancel()
		returned, _ := nextAsync(ctx2, s)
		if returned() || f.Polls() != polls {
			t.Fatalf("a Next with nothing new: %d polls, returned %v; want none, waiting", f.Polls()-polls, returned())
		}
		s.Refresh()
		if returned() || f.Polls() != polls+1 {
			t.Fatalf("a Refresh with nothing new: %d polls, returned %v; want 1 poll, still waiting", f.Polls()-polls, returned())
		}

		// The fleet's client (whose source sees the newest publication
		// when it polls) stayed on v2 through them all.
		synctest.Wait()
		if st := f.Client().Stats(); st.Version != 2 {
			t.Fatalf("the fleet's client: %+v; want v2", st)
		}
	})
}

// TestKeys: Keys are the sequence key-0, key-1, …; KeysOf its first keys
// homed at a cell.
func TestKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := celltest.NewFleet(t, celltest.Config{Cells: 4, InMemory: true})
		keys := f.Keys(3)
		if len(keys) != 3 || keys[0] != "key-0" || keys[2] != "key-2" {
			t.Fatalf("Keys(3) = %v", keys)
		}
		all := f.Keys(1000)
		for _, c := range f.Cells() {
			of := f.KeysOf(c.ID(), 5)
			if len(of) != 5 {
				t.Fatalf("KeysOf(%s, 5) = %v", c.ID(), of)
			}
			i := 0
			for _, k := range all {
				if a, _ := f.Map().Locate(k); a.Cell == c.ID() && i < 5 {
					if of[i] != k {
						t.Fatalf("KeysOf(%s)[%d] = %q; want %q, the next of Keys homed there", c.ID(), i, of[i], k)
					}
					i++
				}
			}
		}
		if got := f.KeysOf("nope", 3); len(got) != 0 {
			t.Fatalf("KeysOf of an unknown cell = %v", got)
		}
	})
}
