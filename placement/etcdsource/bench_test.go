package etcdsource

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkPropagation measures the time from the Publish call to every
// source having the new map, for 100 sources over clients=1 (all sources
// share one client, so one gRPC connection), over clients=100 (one client
// each, as 100 processes would have), and for one source. With reuse=true
// each source parses against the map it delivered last, as under a
// source.Follower (SetParse), so placement.ParseNext reuses the derived
// table of the map in force; with reuse=false it parses from scratch. It
// reports the median, the 99th percentile and the maximum over the
// publishes in ms, and cpu-ns/op, the process's CPU time per publish:
//
//	cd placement/etcdsource && go test -run '^$' -bench Propagation -benchtime 100x -count 6
//
// With 100 samples the p99 is the slowest publish.
func BenchmarkPropagation(b *testing.B) {
	for _, c := range []struct{ sources, clients int }{{100, 1}, {100, 100}, {1, 1}} {
		for _, reuse := range []bool{false, true} {
			b.Run(fmt.Sprintf("sources=%d/clients=%d/reuse=%v", c.sources, c.clients, reuse), func(b *testing.B) {
				benchPropagation(b, c.sources, c.clients, reuse)
			})
		}
	}
}

type delivery struct {
	version uint64
	at      time.Time
}

func benchPropagation(b *testing.B, sources, clients int, reuse bool) {
	te := startEtcd(b)
	ctx, cancel := context.WithCancel(context.Background())
	p := newPublisher(b, te.client, "/bench/", PublisherConfig{})
	if err := p.Publish(ctx, 0, testMap(b, 1), nil); err != nil {
		b.Fatal(err)
	}
	cs := make([]*clientv3.Client, clients)
	for i := range cs {
		cs[i] = te.newClient()
	}
	got := make(chan delivery, sources)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i := range sources {
		src := newSource(b, cs[i%clients], "/bench/", Config{})
		var current atomic.Pointer[placement.Map]
		if reuse {
			src.SetParse(placement.Options{}, current.Load)
		}
		wg.Go(func() {
			for {
				m, err := src.Next(ctx)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					b.Errorf("Next() = %v", err)
					return
				}
				current.Store(m)
				got <- delivery{m.Version(), time.Now()}
			}
		})
	}
	collect := func(v uint64) time.Time {
		var last time.Time
		for range sources {
			d := <-got
			if d.version != v {
				b.Fatalf("a source delivered version %d; want %d", d.version, v)
			}
			if d.at.After(last) {
				last = d.at
			}
		}
		return last
	}
	collect(1)
	var lat []time.Duration
	v := uint64(1)
	cpu := cpuTime()
	b.ReportAllocs()
	for b.Loop() {
		v++
		called := publishOnce(b, p, v)
		lat = append(lat, max(0, collect(v).Sub(called)))
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	slices.Sort(lat)
	q := func(f float64) float64 {
		return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}

// publishOnce publishes version v over v−1 and returns the time of the
// call: the propagation includes the publish itself.
//
//go:noinline
func publishOnce(b *testing.B, p *Publisher, v uint64) time.Time {
	b.StopTimer()
	m := testMap(b, v)
	b.StartTimer()
	called := time.Now()
	if err := p.Publish(context.Background(), v-1, m, nil); err != nil {
		b.Fatal(err)
	}
	return called
}

// cpuTime is the process's CPU time, user and system, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
