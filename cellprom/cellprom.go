package cellprom

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cellkit/cellkit/cell"
	"github.com/prometheus/client_golang/prometheus"
)

// Errors of Register, matched with errors.Is.
var (
	// ErrNoRegisterer: Register needs the caller's Registerer; cellprom
	// never registers on the default one.
	ErrNoRegisterer = errors.New("cellprom: no Registerer (the default one is never used)")
	// ErrNoClient: Register needs a client made by cell.NewClient.
	ErrNoClient = errors.New("cellprom: no client")
	// ErrRegistered: a Metrics registers one client, once.
	ErrRegistered = errors.New("cellprom: Metrics already registered")
	// ErrLabel: Config.Label is not a valid Prometheus label name, or
	// clashes with cellprom's own.
	ErrLabel = errors.New("cellprom: invalid Config.Label")
)

// Config configures a Metrics. The zero value is valid.
type Config struct {
	// Label is a cell label of the placement map ("wave", "ring", …)
	// added to every per-cell series, under its own name, so that a query
	// can aggregate by it. Default: none.
	Label string
	// ConstLabels are added to every series (a client name, say). Never
	// put a tenant key here.
	ConstLabels prometheus.Labels
	// CallBuckets are the bounds, in seconds, of the call-duration
	// histogram. Default: DefaultBuckets.
	CallBuckets []float64
}

// DefaultBuckets are the call-duration histogram's default bounds, in
// seconds: 2^17 ns (131 µs) to 2^35 ns (34 s), doubling. They are bounds of
// cell.Latency's buckets too, and cellkit_attempt_duration_seconds, made
// of cell.Latency, uses them: its counts are exact.
var DefaultBuckets = func() []float64 {
	b := make([]float64, 0, 19)
	for e := 17; e <= 35; e++ {
		b = append(b, float64(uint64(1)<<e)/1e9)
	}
	return b
}()

// Metrics is a cell.Client's Prometheus metrics: a prometheus.Collector
// that reads the client's Stats at scrape time (gauges, counters and the
// per-cell attempt latency histograms), and histograms and counters fed by
// the client's Observer (call durations, failovers, hedges, redirects).
//
// Wire it in two steps, since the Observer is part of the client's Config:
//
//	m, err := cellprom.New(cellprom.Config{Label: "wave"})
//	cfg.Observer = m.Observer(cfg.Observer)
//	client, err := cell.NewClient(cfg)
//	err = m.Register(reg, client) // reg: the caller's Registerer
type Metrics struct {
	cfg    Config
	client atomic.Pointer[cell.Client]

	calls     *prometheus.HistogramVec
	failovers *prometheus.CounterVec
	hedges    *prometheus.CounterVec
	redirects *prometheus.CounterVec

	cellLabels []string // cell, zone and Config.Label
	descs      descs

	mu         sync.Mutex
	registered bool
}

// New returns the metrics of Config cfg, or an error matching ErrLabel.
func New(cfg Config) (*Metrics, error) {
	if cfg.Label != "" {
		switch cfg.Label {
		case "cell", "zone", "class", "outcome", "reason", "state", "health", "le":
			return nil, fmt.Errorf("%w: %q is one of cellprom's own labels", ErrLabel, cfg.Label)
		}
		if !validName(cfg.Label) {
			return nil, fmt.Errorf("%w: %q is not a Prometheus label name", ErrLabel, cfg.Label)
		}
	}
	if cfg.CallBuckets == nil {
		cfg.CallBuckets = DefaultBuckets
	}
	m := &Metrics{cfg: cfg, cellLabels: []string{"cell", "zone"}}
	if cfg.Label != "" {
		m.cellLabels = append(m.cellLabels, cfg.Label)
	}
	m.calls = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "cellkit_call_duration_seconds", ConstLabels: cfg.ConstLabels, Buckets: cfg.CallBuckets,
		Help: "Duration of cell.Client.Do calls (and Transport requests), failovers and waits included, by class and outcome.",
	}, []string{"class", "outcome"})
	m.failovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cellkit_failovers_total", ConstLabels: cfg.ConstLabels,
		Help: "Calls that moved on to the next cell after a failure, by the cell failed over from and class.",
	}, []string{"cell", "class"})
	m.hedges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cellkit_hedges_total", ConstLabels: cfg.ConstLabels,
		Help: "Hedges started beside a slow attempt, by the slow attempt's cell and class.",
	}, []string{"cell", "class"})
	m.redirects = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cellkit_redirects_total", ConstLabels: cfg.ConstLabels,
		Help: "Calls that followed a cell's moved reply, by the cell that replied and class.",
	}, []string{"cell", "class"})
	m.descs = newDescs(cfg.ConstLabels, m.cellLabels)
	return m, nil
}

// validName reports whether s is a Prometheus label name of the classic
// charset, not reserved (no leading "__").
func validName(s string) bool {
	if s == "" || len(s) >= 2 && s[:2] == "__" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// Observer returns next with the hooks that feed m added: m's hook runs
// after next's own, for every hook both set.
func (m *Metrics) Observer(next cell.Observer) cell.Observer {
	o := next
	call, failover, hedge, redirect := next.Call, next.Failover, next.Hedge, next.Redirect
	o.Call = func(ci cell.CallInfo) {
		if call != nil {
			call(ci)
		}
		// Never the key: one series per tenant has no bound.
		m.calls.WithLabelValues(ci.Class.String(), ci.Outcome.String()).Observe(ci.Duration.Seconds())
	}
	o.Failover = func(fi cell.FailoverInfo) {
		if failover != nil {
			failover(fi)
		}
		m.failovers.WithLabelValues(fi.From, fi.Class.String()).Inc()
	}
	o.Hedge = func(fi cell.FailoverInfo) {
		if hedge != nil {
			hedge(fi)
		}
		m.hedges.WithLabelValues(fi.From, fi.Class.String()).Inc()
	}
	o.Redirect = func(ri cell.RedirectInfo) {
		if redirect != nil {
			redirect(ri)
		}
		m.redirects.WithLabelValues(ri.From, ri.Class.String()).Inc()
	}
	return o
}

// Register registers m, for client, on reg: never the default registerer,
// which a library must not fill behind its user's back. It returns an
// error matching ErrNoRegisterer, ErrNoClient or ErrRegistered, or reg's.
func (m *Metrics) Register(reg prometheus.Registerer, client *cell.Client) error {
	switch {
	case reg == nil:
		return ErrNoRegisterer
	case client == nil || client.Breakers() == nil:
		return ErrNoClient
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.registered {
		return ErrRegistered
	}
	m.client.Store(client)
	if err := reg.Register(m); err != nil {
		m.client.Store(nil)
		return err
	}
	m.registered = true
	return nil
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.calls.Describe(ch)
	m.failovers.Describe(ch)
	m.hedges.Describe(ch)
	m.redirects.Describe(ch)
	m.descs.describe(ch)
}

// Collect implements prometheus.Collector: the Observer's series, and the
// client's Stats read now.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.calls.Collect(ch)
	m.failovers.Collect(ch)
	m.hedges.Collect(ch)
	m.redirects.Collect(ch)
	if c := m.client.Load(); c != nil {
		st := c.Stats()
		m.descs.collect(ch, &st, m.cfg.Label)
	}
}
