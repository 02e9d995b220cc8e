package cellotel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of cellotel's meter and tracer.
const ScopeName = "github.com/cellkit/cellkit/cellotel"

// Attribute keys. Every one is of low cardinality; the tenant key is never
// an attribute.
const (
	AttrCell    = attribute.Key("cellkit.cell.id")
	AttrZone    = attribute.Key("cellkit.cell.zone")
	AttrClass   = attribute.Key("cellkit.class")
	AttrOutcome = attribute.Key("cellkit.outcome")
	AttrReason  = attribute.Key("cellkit.reason")
	AttrHealth  = attribute.Key("cellkit.health")
	// AttrLabelPrefix prefixes the configured cell label (Config.Label):
	// "cellkit.cell.wave" for the label "wave".
	AttrLabelPrefix = "cellkit.cell."
	// AttrAttempt and AttrMapVersion are span attributes only.
	AttrAttempt    = attribute.Key("cellkit.attempt")
	AttrMapVersion = attribute.Key("cellkit.map.version")
)

// Errors, matched with errors.Is.
var (
	// ErrLabel: Config.Label is empty-named or clashes with cellotel's own
	// attributes ("id", "zone").
	ErrLabel = errors.New("cellotel: invalid Config.Label")
	// ErrNoClient: Register needs a client made by cell.NewClient.
	ErrNoClient = errors.New("cellotel: no client")
	// ErrRegistered: a Metrics registers one client, once.
	ErrRegistered = errors.New("cellotel: Metrics already registered")
)

// Config configures a Metrics. The zero value is valid.
type Config struct {
	// MeterProvider makes the instruments. Default: the global one
	// (otel.GetMeterProvider), as the OpenTelemetry guidance asks of
	// libraries.
	MeterProvider metric.MeterProvider
	// TracerProvider, when set, makes Trace wrap fn in a client span per
	// attempt. Default: none, no spans.
	TracerProvider trace.TracerProvider
	// Label is a cell label of the placement map ("wave", "ring", …) added
	// to every per-cell measurement as the attribute "cellkit.cell.<Label>".
	// Default: none.
	Label string
	// DurationBuckets are the explicit bucket bounds, in seconds, advised
	// for the duration histograms. Default: DefaultBuckets.
	DurationBuckets []float64
}

// DefaultBuckets are the advised bounds of the duration histograms, in
// seconds: 0.5 ms to 30 s, rather than the SDK's default bounds, which
// suit milliseconds.
var DefaultBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Metrics is a cell.Client's OpenTelemetry instrumentation: instruments
// fed by the client's Observer (call and attempt durations, failovers,
// hedges, redirects, rejections) and observable gauges read from its Stats
// at collection time (breaker states, healthy and unhealthy cells, map
// version and age, retry-budget tokens, attempts in flight).
//
//	m, err := cellotel.New(cellotel.Config{Label: "wave"})
//	cfg.Observer = m.Observer(cfg.Observer)
//	client, err := cell.NewClient(cfg)
//	err = m.Register(client)
//	defer m.Close()
type Metrics struct {
	cfg    Config
	meter  metric.Meter
	tracer trace.Tracer // nil without Config.TracerProvider
	client atomic.Pointer[cell.Client]
	table  atomic.Pointer[attrTable]

	call, attempt                           metric.Float64Histogram
	failovers, hedges, redirects, rejection metric.Int64Counter
	breakerState, cells, version, inFlight  metric.Int64ObservableGauge
	age, tokens                             metric.Float64ObservableGauge

	callSets [numClasses][numOutcomes]metric.MeasurementOption
	health   [2]metric.ObserveOption

	mu  sync.Mutex
	reg metric.Registration
}

const (
	numClasses  = 3 // Write, Read, Stateless
	numOutcomes = 7 // cell.CallOutcome's
	numReasons  = 4 // cell.Rejection's
)

// New makes the instruments, or returns an error matching ErrLabel, or the
// meter's.
func New(cfg Config) (*Metrics, error) {
	switch cfg.Label {
	case "id", "zone":
		return nil, fmt.Errorf("%w: %q is one of cellotel's own attributes", ErrLabel, cfg.Label)
	}
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = otel.GetMeterProvider()
	}
	if cfg.DurationBuckets == nil {
		cfg.DurationBuckets = DefaultBuckets
	}
	m := &Metrics{cfg: cfg, meter: cfg.MeterProvider.Meter(ScopeName)}
	if cfg.TracerProvider != nil {
		m.tracer = cfg.TracerProvider.Tracer(ScopeName)
	}
	var errs []error
	hist := func(name, desc string) metric.Float64Histogram {
		h, err := m.meter.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(cfg.DurationBuckets...))
		errs = append(errs, err)
		return h
	}
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	igauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.meter.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	fgauge := func(name, unit, desc string) metric.Float64ObservableGauge {
		g, err := m.meter.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	m.call = hist("cellkit.call.duration", "Duration of a cell.Client.Do call (or Transport request), failovers and waits included.")
	m.attempt = hist("cellkit.attempt.duration", "Duration of one attempt (one call of fn) at a cell.")
	m.failovers = counter("cellkit.failovers", "{failover}", "Calls that moved on to the next cell after a failure, by the cell left.")
	m.hedges = counter("cellkit.hedges", "{hedge}", "Hedges started beside a slow attempt, by the slow attempt's cell.")
	m.redirects = counter("cellkit.redirects", "{redirect}", "Calls that followed a moved reply, by the cell that replied.")
	m.rejection = counter("cellkit.rejections", "{rejection}", "Cells a call skipped without calling them, by reason.")
	m.breakerState = igauge("cellkit.breaker.state", "{state}", "The cell's breaker state: 0 closed, 1 half-open, 2 open.")
	m.cells = igauge("cellkit.cells", "{cell}", "Cells of the map in force that are not disabled, by health (breaker closed or not).")
	m.version = igauge("cellkit.map.version", "{version}", "Version of the placement map in force.")
	m.inFlight = igauge("cellkit.cell.in_flight", "{attempt}", "Attempts at the cell that have not returned.")
	m.age = fgauge("cellkit.map.age", "s", "Time since the map in force was accepted.")
	m.tokens = fgauge("cellkit.retry_budget.tokens", "{token}", "Extra attempts the retry budget would allow now.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for c := range numClasses {
		for o := range numOutcomes {
			m.callSets[c][o] = metric.WithAttributeSet(attribute.NewSet(
				AttrClass.String(cell.Class(c).String()), AttrOutcome.String(cell.CallOutcome(o).String())))
		}
	}
	m.health[0] = metric.WithAttributeSet(attribute.NewSet(AttrHealth.String("healthy")))
	m.health[1] = metric.WithAttributeSet(attribute.NewSet(AttrHealth.String("unhealthy")))
	return m, nil
}

// Observer returns next with the hooks that feed m added: m's hook runs
// after next's own, for every hook both set.
func (m *Metrics) Observer(next cell.Observer) cell.Observer {
	o := next
	call, attempt, unavailable := next.Call, next.Attempt, next.Unavailable
	failover, hedge, redirect := next.Failover, next.Hedge, next.Redirect
	ctx := context.Background()
	o.Call = func(ci cell.CallInfo) {
		if call != nil {
			call(ci)
		}
		// Never the key: one series per tenant has no bound.
		if int(ci.Class) < numClasses && int(ci.Outcome) < numOutcomes {
			m.call.Record(ctx, ci.Duration.Seconds(), m.callSets[ci.Class][ci.Outcome])
		}
	}
	o.Attempt = func(ai cell.AttemptInfo) {
		if attempt != nil {
			attempt(ai)
		}
		a := m.attrs(ai.Cell)
		if i := int(ai.Outcome) - 1; int(ai.Class) < numClasses && i >= 0 && i < 3 {
			m.attempt.Record(ctx, ai.Latency.Seconds(), a.attempt[ai.Class][i])
		}
	}
	o.Unavailable = func(ui cell.UnavailableInfo) {
		if unavailable != nil {
			unavailable(ui)
		}
		a := m.attrs(ui.Cell)
		if int(ui.Class) < numClasses && int(ui.Reason) < numReasons {
			m.rejection.Add(ctx, 1, a.reject[ui.Class][ui.Reason])
		}
	}
	moved := func(c metric.Int64Counter, from string, class cell.Class) {
		if int(class) < numClasses {
			c.Add(ctx, 1, m.attrs(from).byClass[class])
		}
	}
	o.Failover = func(fi cell.FailoverInfo) {
		if failover != nil {
			failover(fi)
		}
		moved(m.failovers, fi.From, fi.Class)
	}
	o.Hedge = func(fi cell.FailoverInfo) {
		if hedge != nil {
			hedge(fi)
		}
		moved(m.hedges, fi.From, fi.Class)
	}
	o.Redirect = func(ri cell.RedirectInfo) {
		if redirect != nil {
			redirect(ri)
		}
		moved(m.redirects, ri.From, ri.Class)
	}
	return o
}

// Register reads client's Stats at every collection from now on. It
// returns an error matching ErrNoClient or ErrRegistered, or the meter's.
func (m *Metrics) Register(client *cell.Client) error {
	if client == nil || client.Breakers() == nil {
		return ErrNoClient
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reg != nil {
		return ErrRegistered
	}
	reg, err := m.meter.RegisterCallback(m.observe, m.breakerState, m.cells, m.version, m.inFlight, m.age, m.tokens)
	if err != nil {
		return err
	}
	m.client.Store(client)
	m.reg = reg
	return nil
}

// Close stops reading the client's Stats. The Observer's hooks keep
// recording.
func (m *Metrics) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reg == nil {
		return nil
	}
	err := m.reg.Unregister()
	m.reg = nil
	return err
}

// observe is the callback of the observable instruments.
func (m *Metrics) observe(_ context.Context, o metric.Observer) error {
	c := m.client.Load()
	if c == nil {
		return nil
	}
	st := c.Stats()
	if st.Ready {
		o.ObserveInt64(m.version, int64(st.Version))
		o.ObserveFloat64(m.age, st.MapAge.Seconds())
	}
	o.ObserveFloat64(m.tokens, st.BudgetTokens)
	o.ObserveInt64(m.cells, int64(st.Healthy), m.health[0])
	o.ObserveInt64(m.cells, int64(st.Unhealthy), m.health[1])
	for i := range st.Cells {
		cs := &st.Cells[i]
		a := m.attrs(cs.Cell)
		o.ObserveInt64(m.breakerState, int64(cs.Breaker), a.gauge)
		o.ObserveInt64(m.inFlight, cs.InFlight, a.gauge)
	}
	return nil
}

// cellAttrs are one cell's attribute sets, made once per map.
type cellAttrs struct {
	gauge   metric.MeasurementOption
	byClass [numClasses]metric.MeasurementOption
	attempt [numClasses][3]metric.MeasurementOption // by breaker.Outcome - 1
	reject  [numClasses][numReasons]metric.MeasurementOption
}

// attrTable holds the cellAttrs of the cells of one map.
type attrTable struct {
	m     *placement.Map
	cells map[string]*cellAttrs
}

// attrs returns the attribute sets of cell id, from the table of the
// client's map in force, made anew when the map changed.
func (m *Metrics) attrs(id string) *cellAttrs {
	t := m.table.Load()
	if c := m.client.Load(); c != nil {
		if mp := c.Map(); mp != nil && (t == nil || t.m != mp) {
			t = m.rebuild(mp)
		}
	}
	if t != nil {
		if a := t.cells[id]; a != nil {
			return a
		}
	}
	return m.cellAttrs(id, "", "") // before Register, or a cell the map dropped
}

func (m *Metrics) rebuild(mp *placement.Map) *attrTable {
	t := &attrTable{m: mp, cells: make(map[string]*cellAttrs)}
	for _, c := range mp.Cells() {
		t.cells[c.ID] = m.cellAttrs(c.ID, c.Zone, c.Labels[m.cfg.Label])
	}
	m.table.Store(t)
	return t
}

func (m *Metrics) cellAttrs(id, zone, label string) *cellAttrs {
	base := []attribute.KeyValue{AttrCell.String(id), AttrZone.String(zone)}
	if m.cfg.Label != "" {
		base = append(base, attribute.String(AttrLabelPrefix+m.cfg.Label, label))
	}
	set := func(extra ...attribute.KeyValue) metric.MeasurementOption {
		kv := append(append([]attribute.KeyValue(nil), base...), extra...)
		return metric.WithAttributeSet(attribute.NewSet(kv...))
	}
	a := &cellAttrs{gauge: set()}
	for c := range numClasses {
		class := AttrClass.String(cell.Class(c).String())
		a.byClass[c] = set(class)
		for o := range 3 {
			a.attempt[c][o] = set(class, AttrOutcome.String(breaker.Outcome(o+1).String()))
		}
		for r := range numReasons {
			a.reject[c][r] = set(class, AttrReason.String(cell.Rejection(r).String()))
		}
	}
	return a
}

// Trace wraps fn so that each attempt runs in a client span of its own, a
// child of the caller's span, as the HTTP semantic conventions ask of
// retries: each failover, hedge and redirect is a span. The span carries
// the cell, zone, class, attempt number and map version, never the key,
// and the attempt's error. Without Config.TracerProvider it returns fn.
func (m *Metrics) Trace(fn func(context.Context, cell.Route) error) func(context.Context, cell.Route) error {
	if m.tracer == nil || fn == nil {
		return fn
	}
	return func(ctx context.Context, r cell.Route) error {
		zone := ""
		if mp := m.client.Load(); mp != nil {
			if cm := mp.Map(); cm != nil {
				zone, _ = cm.CellZone(r.Cell)
			}
		}
		ctx, span := m.tracer.Start(ctx, "cellkit.attempt "+r.Class.String(), trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(AttrCell.String(r.Cell), AttrZone.String(zone), AttrClass.String(r.Class.String()),
				AttrAttempt.Int(r.Attempt), AttrMapVersion.Int64(int64(r.Version))))
		defer span.End()
		err := fn(ctx, r)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return err
	}
}
