package cellotel_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
	"github.com/cellkit/cellkit/cellotel"
	"github.com/cellkit/cellkit/placement"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

type setup struct {
	f      *celltest.Fleet
	c      *cell.Client
	m      *cellotel.Metrics
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
}

// start makes a fleet of three cells labelled wave 1, 2, 3 and a client
// instrumented by cellotel on an SDK MeterProvider with a ManualReader;
// the caller is in a synctest bubble.
func start(t *testing.T, shard int) *setup {
	t.Helper()
	s := &setup{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	t.Cleanup(func() { mp.Shutdown(context.Background()); tp.Shutdown(context.Background()) })
	var err error
	s.m, err = cellotel.New(cellotel.Config{MeterProvider: mp, TracerProvider: tp, Label: "wave"})
	if err != nil {
		t.Fatal(err)
	}
	s.f = celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: shard, Stateless: shard > 1, InMemory: true})
	pm, err := s.f.Publish(func(b *placement.Builder) error {
		for i, c := range s.f.Cells() {
			if err := b.SetLabels(c.ID(), map[string]string{"wave": string(rune('1' + i))}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.c, err = s.f.NewClient(cell.Config{Observer: s.m.Observer(cell.Observer{})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.Follower().Await(context.Background(), pm.Version()); err != nil {
		t.Fatal(err)
	}
	if err := s.m.Register(s.c); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *setup) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != cellotel.ScopeName {
			t.Fatalf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func has(set attribute.Set, want map[string]string) bool {
	for k, v := range want {
		got, ok := set.Value(attribute.Key(k))
		if !ok || got.String() != v {
			return false
		}
	}
	return true
}

func histPoint(t *testing.T, m metricdata.Metrics, want map[string]string) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is %T, not a float64 histogram", m.Name, m.Data)
	}
	for _, p := range h.DataPoints {
		if has(p.Attributes, want) {
			return p
		}
	}
	t.Fatalf("%s has no point %v", m.Name, want)
	return metricdata.HistogramDataPoint[float64]{}
}

func intPoint(t *testing.T, m metricdata.Metrics, want map[string]string) int64 {
	t.Helper()
	var pts []metricdata.DataPoint[int64]
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		pts = d.DataPoints
	case metricdata.Gauge[int64]:
		pts = d.DataPoints
	default:
		t.Fatalf("%s is %T", m.Name, m.Data)
	}
	for _, p := range pts {
		if has(p.Attributes, want) {
			return p.Value
		}
	}
	t.Fatalf("%s has no point %v", m.Name, want)
	return 0
}

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 1)
		slow, failing, forced := s.f.Cells()[0], s.f.Cells()[1], s.f.Cells()[2]
		slow.Slow(30 * time.Millisecond)
		failing.Fail()
		ctx := context.Background()
		keys := map[string]bool{}
		fn := s.m.Trace(s.f.Call)
		for _, k := range s.f.KeysOf(slow.ID(), 10) {
			keys[k] = true
			if err := s.c.Do(ctx, k, cell.Write, fn); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range s.f.KeysOf(failing.ID(), 3) {
			keys[k] = true
			s.c.Do(ctx, k, cell.Write, fn)
		}
		if err := s.c.Breakers().Force(forced.ID(), breaker.ForcedOpen); err != nil {
			t.Fatal(err)
		}
		for _, k := range s.f.KeysOf(forced.ID(), 2) {
			keys[k] = true
			s.c.Do(ctx, k, cell.Write, fn)
		}
		got := s.collect(t)
		units := map[string]string{
			"cellkit.call.duration": "s", "cellkit.attempt.duration": "s", "cellkit.rejections": "{rejection}",
			"cellkit.breaker.state": "{state}", "cellkit.cells": "{cell}", "cellkit.map.version": "{version}",
			"cellkit.map.age": "s", "cellkit.retry_budget.tokens": "{token}", "cellkit.cell.in_flight": "{attempt}",
		}
		for name, unit := range units {
			m, ok := got[name]
			if !ok {
				t.Fatalf("no %s; have %v", name, keysOf(got))
			}
			if m.Unit != unit || m.Description == "" {
				t.Fatalf("%s: unit %q, description %q; want unit %q", name, m.Unit, m.Description, unit)
			}
		}
		p := histPoint(t, got["cellkit.attempt.duration"], map[string]string{
			"cellkit.cell.id": slow.ID(), "cellkit.cell.zone": "z1", "cellkit.cell.wave": "1", "cellkit.class": "write", "cellkit.outcome": "success"})
		if p.Count != 10 || p.Sum < 0.2999 || p.Sum > 0.3001 || minOf(p) != 0.03 {
			t.Fatalf("slow cell's attempts: count %d, sum %v; want 10, 0.3", p.Count, p.Sum)
		}
		if p := histPoint(t, got["cellkit.attempt.duration"], map[string]string{"cellkit.cell.id": failing.ID(), "cellkit.outcome": "failure"}); p.Count != 3 {
			t.Fatalf("failing cell's failures: %d; want 3", p.Count)
		}
		if p := histPoint(t, got["cellkit.call.duration"], map[string]string{"cellkit.class": "write", "cellkit.outcome": "ok"}); p.Count != 10 || p.Sum < 0.2999 {
			t.Fatalf("ok writes: count %d, sum %v", p.Count, p.Sum)
		}
		if n := histPoint(t, got["cellkit.call.duration"], map[string]string{"cellkit.outcome": "unavailable"}).Count; n != 2 {
			t.Fatalf("unavailable calls: %d; want 2", n)
		}
		if n := intPoint(t, got["cellkit.rejections"], map[string]string{"cellkit.cell.id": forced.ID(), "cellkit.reason": "breaker", "cellkit.cell.wave": "3"}); n != 2 {
			t.Fatalf("rejections by the forced-open breaker: %d; want 2", n)
		}
		if n := intPoint(t, got["cellkit.breaker.state"], map[string]string{"cellkit.cell.id": forced.ID()}); n != 2 {
			t.Fatalf("forced-open breaker state %d; want 2", n)
		}
		if h, u := intPoint(t, got["cellkit.cells"], map[string]string{"cellkit.health": "healthy"}),
			intPoint(t, got["cellkit.cells"], map[string]string{"cellkit.health": "unhealthy"}); h != 2 || u != 1 {
			t.Fatalf("healthy, unhealthy cells = %d, %d; want 2, 1", h, u)
		}
		if v := intPoint(t, got["cellkit.map.version"], nil); v != 2 {
			t.Fatalf("map version %d; want 2", v)
		}
		// Never the tenant key, in any attribute of any point.
		for name, m := range got {
			for _, set := range attrSets(m) {
				for _, kv := range set.ToSlice() {
					if keys[kv.Value.String()] {
						t.Fatalf("%s carries the key in %s", name, kv.Key)
					}
				}
			}
		}
		// One client span per attempt, with the cell and no key.
		spans := s.spans.Ended()
		if len(spans) != 13 { // 10 + 3 attempts; the 2 rejected calls never called fn
			t.Fatalf("%d spans; want 13", len(spans))
		}
		errs := 0
		for _, sp := range spans {
			if sp.SpanKind() != trace.SpanKindClient || !strings.HasPrefix(sp.Name(), "cellkit.attempt") {
				t.Fatalf("span %q kind %v", sp.Name(), sp.SpanKind())
			}
			for _, kv := range sp.Attributes() {
				if keys[kv.Value.String()] {
					t.Fatalf("span carries the key in %s", kv.Key)
				}
			}
			if sp.Status().Code == codes.Error {
				errs++
			}
		}
		if errs != 3 {
			t.Fatalf("%d spans with an error status; want 3", errs)
		}
		if err := s.m.Close(); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.collect(t)["cellkit.map.version"]; ok {
			t.Fatal("the Stats are still read after Close")
		}
	})
}

// Each failover is a span of its own under the caller's, and is counted by
// the cell it left.
func TestFailoverSpans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := start(t, 2)
		r, err := s.c.Resolve(context.Background(), "k")
		if err != nil {
			t.Fatal(err)
		}
		s.f.Cell(r.Shard[0]).Fail()
		tp := sdktrace.NewTracerProvider()
		ctx, parent := tp.Tracer("test").Start(context.Background(), "caller")
		if err := s.c.Do(ctx, "k", cell.Stateless, s.m.Trace(s.f.Call)); err != nil {
			t.Fatal(err)
		}
		parent.End()
		spans := s.spans.Ended()
		if len(spans) != 2 {
			t.Fatalf("%d spans; want 2, one per attempt", len(spans))
		}
		for i, sp := range spans {
			cellID, attempt := "", int64(-1)
			for _, kv := range sp.Attributes() {
				switch kv.Key {
				case cellotel.AttrCell:
					cellID = kv.Value.AsString()
				case cellotel.AttrAttempt:
					attempt = kv.Value.AsInt64()
				}
			}
			if cellID != r.Shard[i] || attempt != int64(i) || sp.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Fatalf("span %d: cell %s attempt %d parent %v; want %s, %d, the caller's", i, cellID, attempt, sp.Parent().SpanID(), r.Shard[i], i)
			}
		}
		if n := intPoint(t, s.collect(t)["cellkit.failovers"], map[string]string{"cellkit.cell.id": r.Shard[0], "cellkit.class": "stateless"}); n != 1 {
			t.Fatalf("failovers from %s: %d; want 1", r.Shard[0], n)
		}
	})
}

func TestErrors(t *testing.T) {
	if _, err := cellotel.New(cellotel.Config{Label: "zone"}); !errors.Is(err, cellotel.ErrLabel) {
		t.Fatalf("Label zone: %v", err)
	}
	m, err := cellotel.New(cellotel.Config{}) // the global MeterProvider: a no-op one here
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Register(&cell.Client{}); !errors.Is(err, cellotel.ErrNoClient) {
		t.Fatalf("zero client: %v", err)
	}
	f := celltest.NewFleet(t, celltest.Config{InMemory: true})
	if err := m.Register(f.Client()); err != nil {
		t.Fatal(err)
	}
	if err := m.Register(f.Client()); !errors.Is(err, cellotel.ErrRegistered) {
		t.Fatalf("second Register: %v", err)
	}
	fn := func(context.Context, cell.Route) error { return nil }
	if got := m.Trace(fn); got == nil {
		t.Fatal("Trace without a TracerProvider lost fn")
	}
}

func keysOf(m map[string]metricdata.Metrics) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func attrSets(m metricdata.Metrics) []attribute.Set {
	var out []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	}
	return out
}

func minOf(p metricdata.HistogramDataPoint[float64]) float64 {
	v, _ := p.Min.Value()
	return v
}
