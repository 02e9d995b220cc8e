package cellprom_test

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
	"github.com/cellkit/cellkit/cellprom"
	"github.com/cellkit/cellkit/placement"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// fleet starts three cells labelled wave 1, 2, 3 and a client whose
// Observer feeds m; the caller is in a synctest bubble.
func fleet(t *testing.T, m *cellprom.Metrics, shard int) (*celltest.Fleet, *cell.Client) {
	t.Helper()
	f := celltest.NewFleet(t, celltest.Config{Cells: 3, ShardSize: shard, Stateless: shard > 1, InMemory: true})
	pm, err := f.Publish(func(b *placement.Builder) error {
		for i, c := range f.Cells() {
			if err := b.SetLabels(c.ID(), map[string]string{"wave": string(rune('1' + i))}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.NewClient(cell.Config{Observer: m.Observer(cell.Observer{})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Follower().Await(context.Background(), pm.Version()); err != nil {
		t.Fatal(err)
	}
	<-c.Ready()
	return f, c
}

// find returns the gathered series of name whose labels include want.
func find(t *testing.T, fams []*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.Metric {
			have := map[string]string{}
			for _, lp := range m.Label {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			return m
		}
	}
	t.Fatalf("no series %s%v", name, want)
	return nil
}

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := cellprom.New(cellprom.Config{Label: "wave", ConstLabels: prometheus.Labels{"client": "test"}})
		if err != nil {
			t.Fatal(err)
		}
		f, c := fleet(t, m, 1)
		reg := prometheus.NewPedanticRegistry()
		if err := m.Register(reg, c); err != nil {
			t.Fatal(err)
		}
		slow, failing, forced := f.Cells()[0], f.Cells()[1], f.Cells()[2]
		slow.Slow(30 * time.Millisecond)
		failing.Fail()
		ctx := context.Background()
		keys := map[string]bool{}
		for _, k := range f.KeysOf(slow.ID(), 10) {
			keys[k] = true
			if err := c.Do(ctx, k, cell.Write, f.Call); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range f.KeysOf(failing.ID(), 3) {
			keys[k] = true
			c.Do(ctx, k, cell.Write, f.Call)
		}
		if err := c.Breakers().Force(forced.ID(), breaker.ForcedOpen); err != nil {
			t.Fatal(err)
		}
		for _, k := range f.KeysOf(forced.ID(), 2) {
			keys[k] = true
			c.Do(ctx, k, cell.Write, f.Call)
		}

		want := `
# HELP cellkit_cells Cells of the map in force that are not disabled, by health: healthy (breaker closed) or unhealthy.
# TYPE cellkit_cells gauge
cellkit_cells{client="test",health="healthy"} 2
cellkit_cells{client="test",health="unhealthy"} 1
# HELP cellkit_cell_failures_total Attempts at the cell judged a Failure.
# TYPE cellkit_cell_failures_total counter
cellkit_cell_failures_total{cell="c01",client="test",wave="1",zone="z1"} 0
cellkit_cell_failures_total{cell="c02",client="test",wave="2",zone="z1"} 3
cellkit_cell_failures_total{cell="c03",client="test",wave="3",zone="z1"} 0
# HELP cellkit_map_version Version of the placement map in force.
# TYPE cellkit_map_version gauge
cellkit_map_version{client="test"} 2
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cellkit_cells", "cellkit_cell_failures_total", "cellkit_map_version"); err != nil {
			t.Fatal(err)
		}
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		h := find(t, fams, "cellkit_attempt_duration_seconds", map[string]string{"cell": slow.ID(), "outcome": "success", "wave": "1"}).GetHistogram()
		if h.GetSampleCount() != 10 || h.GetSampleSum() != 0.3 {
			t.Fatalf("slow cell's attempt histogram: count %d, sum %v; want 10, 0.3", h.GetSampleCount(), h.GetSampleSum())
		}
		for _, b := range h.Bucket {
			// 30 ms lies between the bounds 16.8 ms and 33.6 ms.
			want := uint64(0)
			if b.GetUpperBound() > 0.030 {
				want = 10
			}
			if b.GetCumulativeCount() != want {
				t.Fatalf("bucket le=%v holds %d; want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		}
		if got := find(t, fams, "cellkit_cell_rejections_total", map[string]string{"cell": forced.ID(), "reason": "breaker"}).GetCounter().GetValue(); got != 2 {
			t.Fatalf("rejections by the forced-open breaker = %v; want 2", got)
		}
		if got := find(t, fams, "cellkit_cell_breaker_state", map[string]string{"cell": forced.ID()}).GetGauge().GetValue(); got != 2 {
			t.Fatalf("forced-open cell's breaker state = %v; want 2 (open)", got)
		}
		ok := find(t, fams, "cellkit_call_duration_seconds", map[string]string{"class": "write", "outcome": "ok"}).GetHistogram()
		if ok.GetSampleCount() != 10 || ok.GetSampleSum() < 0.3 || ok.GetSampleSum() > 0.31 {
			t.Fatalf("ok writes: count %d, sum %v; want 10 calls of 30ms", ok.GetSampleCount(), ok.GetSampleSum())
		}
		for _, o := range []string{"failed", "unavailable"} {
			if n := find(t, fams, "cellkit_call_duration_seconds", map[string]string{"class": "write", "outcome": o}).GetHistogram().GetSampleCount(); n == 0 {
				t.Fatalf("no %s write counted", o)
			}
		}
		// Never the tenant key, in any label of any series.
		for _, fam := range fams {
			for _, s := range fam.Metric {
				for _, lp := range s.Label {
					if keys[lp.GetValue()] {
						t.Fatalf("%s carries the key %q in label %s", fam.GetName(), lp.GetValue(), lp.GetName())
					}
				}
			}
		}
		if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) != 0 {
			t.Fatalf("lint: %v %v", probs, err)
		}
		// The default registry is left alone.
		def, _ := prometheus.DefaultGatherer.Gather()
		for _, fam := range def {
			if strings.HasPrefix(fam.GetName(), "cellkit_") {
				t.Fatalf("%s is on the default registry", fam.GetName())
			}
		}
	})
}

// Failovers, hedges and redirects are counted by the cell they left.
func TestFailovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := cellprom.New(cellprom.Config{})
		if err != nil {
			t.Fatal(err)
		}
		f, c := fleet(t, m, 2)
		reg := prometheus.NewRegistry()
		if err := m.Register(reg, c); err != nil {
			t.Fatal(err)
		}
		r, err := c.Resolve(context.Background(), "k")
		if err != nil {
			t.Fatal(err)
		}
		f.Cell(r.Shard[0]).Fail()
		if err := c.Do(context.Background(), "k", cell.Stateless, f.Call); err != nil {
			t.Fatal(err)
		}
		want := "# HELP cellkit_failovers_total Calls that moved on to the next cell after a failure, by the cell failed over from and class.\n" +
			"# TYPE cellkit_failovers_total counter\n" +
			`cellkit_failovers_total{cell="` + r.Shard[0] + `",class="stateless"} 1` + "\n"
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cellkit_failovers_total"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRegisterErrors(t *testing.T) {
	if _, err := cellprom.New(cellprom.Config{Label: "cell"}); !errors.Is(err, cellprom.ErrLabel) {
		t.Fatalf("Label cell: %v", err)
	}
	if _, err := cellprom.New(cellprom.Config{Label: "9x"}); !errors.Is(err, cellprom.ErrLabel) {
		t.Fatalf("Label 9x: %v", err)
	}
	m, err := cellprom.New(cellprom.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Register(nil, nil); !errors.Is(err, cellprom.ErrNoRegisterer) {
		t.Fatalf("nil Registerer: %v", err)
	}
	reg := prometheus.NewRegistry()
	if err := m.Register(reg, &cell.Client{}); !errors.Is(err, cellprom.ErrNoClient) {
		t.Fatalf("zero client: %v", err)
	}
	f := celltest.NewFleet(t, celltest.Config{InMemory: true})
	if err := m.Register(reg, f.Client()); err != nil {
		t.Fatal(err)
	}
	if err := m.Register(reg, f.Client()); !errors.Is(err, cellprom.ErrRegistered) {
		t.Fatalf("second Register: %v", err)
	}
	if n := testutil.CollectAndCount(m, "cellkit_map_ready"); n != 1 {
		t.Fatalf("cellkit_map_ready: %d series", n)
	}
}
