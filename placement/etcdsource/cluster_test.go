package etcdsource

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A proxiedCluster is a cluster of three members, each behind a tcpProxy
// that its clients go through, so that a member stops at once (its
// clients' watch streams cut) and comes back on the same addresses.
type proxiedCluster struct {
	t       *testing.T
	members []*testEtcd
	proxies []*tcpProxy
}

func startProxiedCluster(t *testing.T) *proxiedCluster {
	c := &proxiedCluster{t: t, members: startCluster(t, 3)}
	for _, m := range c.members {
		c.proxies = append(c.proxies, newProxy(t, m.cfg.AdvertiseClientUrls[0].Host))
	}
	return c
}

// client returns a client of every member, through their proxies.
func (c *proxiedCluster) client() *clientv3.Client {
	var eps []string
	for _, p := range c.proxies {
		eps = append(eps, "http://"+p.addr)
	}
	return c.members[0].clientAt(eps...)
}

func (c *proxiedCluster) down(i int) {
	c.proxies[i].cut()
	c.members[i].stop()
}

func (c *proxiedCluster) up(i int) {
	c.members[i].start()
	if c.members[i].e == nil {
		c.t.FailNow()
	}
	c.proxies[i].listen()
}

func (c *proxiedCluster) leader() int {
	for i, m := range c.members {
		if m.isLeader() {
			return i
		}
	}
	return -1
}

// A follower is one watching Source and what it delivered.
type follower struct {
	mu       sync.Mutex
	versions []uint64
	reports  []error
	at       chan struct{} // closed and replaced at each delivery
}

func (f *follower) run(ctx context.Context, src *Source) {
	for {
		m, err := src.Next(ctx)
		if ctx.Err() != nil {
			return
		}
		f.mu.Lock()
		if err != nil {
			f.reports = append(f.reports, err)
		} else {
			f.versions = append(f.versions, m.Version())
			close(f.at)
			f.at = make(chan struct{})
		}
		f.mu.Unlock()
	}
}

// await waits until the follower delivered version v or later, for at
// most d; it reports whether it did.
func (f *follower) await(v uint64, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		last, ch := uint64(0), f.at
		if n := len(f.versions); n > 0 {
			last = f.versions[n-1]
		}
		f.mu.Unlock()
		if last >= v {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// A clusterPublisher publishes version after version, each on the last it
// knows stored, until stopped; a failed publish is tried again with the
// same version and base, so that one applied after its error is found
// stored (a *ConflictError naming it) rather than lost.
type clusterPublisher struct {
	mu        sync.Mutex
	published []uint64
	failures  []time.Time // of the publishes that failed with ErrUnavailable
	untyped   []error     // any other failure: the test fails
	changed   chan struct{}
}

func (cp *clusterPublisher) run(ctx context.Context, p *Publisher, every time.Duration) {
	base, v := uint64(0), uint64(1)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := p.Publish(pctx, base, testMapV(v), nil)
		cancel()
		var ce *ConflictError
		cp.mu.Lock()
		switch {
		case err == nil, errors.As(err, &ce) && ce.Stored == v:
			cp.published = append(cp.published, v)
			base, v = v, v+1
			close(cp.changed)
			cp.changed = make(chan struct{})
		case ctx.Err() != nil:
		case errors.Is(err, ErrUnavailable):
			cp.failures = append(cp.failures, time.Now())
		default:
			cp.untyped = append(cp.untyped, err)
		}
		cp.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// state is the last version published, the counts of publishes and of
// failures, and a channel closed at the next publish.
func (cp *clusterPublisher) state() (last uint64, published, failures int, ch chan struct{}) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if n := len(cp.published); n > 0 {
		last = cp.published[n-1]
	}
	return last, len(cp.published), len(cp.failures), cp.changed
}

// awaitPublished waits until more versions than now are published, for at
// most d; it returns the last version published.
func (cp *clusterPublisher) awaitPublished(t *testing.T, more int, d time.Duration) uint64 {
	t.Helper()
	_, from, _, _ := cp.state()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		last, n, _, ch := cp.state()
		if n >= from+more {
			return last
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%d of %d publishes within %v", n-from, more, d)
		}
	}
}

func testMapV(v uint64) *placement.Map {
	m, err := placement.Parse(testDoc(v))
	if err != nil {
		panic(err) // testDoc is valid
	}
	return m
}

// TestClusterFailures runs watching sources and a publisher against a
// three-member cluster while the leader dies, a member is stopped and
// restarted, and the cluster loses its quorum and regains it. Every source
// delivers every version published from its first on, in order, none
// lost, none twice; the publisher fails only with ErrUnavailable, while
// there is no quorum, and succeeds after. The time from quorum regained to
// every source up to date is logged. -short runs 5 sources instead of 20.
func TestClusterFailures(t *testing.T) {
	sources := 20
	if testing.Short() {
		sources = 5
	}
	c := startProxiedCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// Sources in processes of four each: one client per four sources.
	followers := make([]*follower, sources)
	var client *clientv3.Client
	for i := range followers {
		if i%4 == 0 {
			client = c.client()
		}
		src := newSource(t, client, "/cellkit/", Config{Timeout: 500 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
		followers[i] = &follower{at: make(chan struct{})}
		wg.Go(func() { followers[i].run(ctx, src) })
	}
	cp := &clusterPublisher{changed: make(chan struct{})}
	p := newPublisher(t, c.client(), "/cellkit/", PublisherConfig{})
	pctx, stopPublisher := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Go(func() { cp.run(pctx, p, 30*time.Millisecond) })
	upToDate := func(v uint64, d time.Duration) {
		t.Helper()
		for i, f := range followers {
			if !f.await(v, d) {
				t.Fatalf("source %d did not deliver version %d within %v", i, v, d)
			}
		}
	}
	upToDate(cp.awaitPublished(t, 3, 20*time.Second), 20*time.Second)

	// The leader dies while the publisher runs, and comes back.
	l := c.leader()
	start := time.Now()
	c.down(l)
	v := cp.awaitPublished(t, 3, 20*time.Second)
	t.Logf("leader m%d stopped: 3 publishes %v later", l, time.Since(start).Round(time.Millisecond))
	upToDate(v, 20*time.Second)
	t.Logf("leader m%d stopped: every source at version %d %v later", l, v, time.Since(start).Round(time.Millisecond))
	c.up(l)

	// A follower member is stopped and restarted.
	f := (c.leader() + 1) % 3
	c.down(f)
	upToDate(cp.awaitPublished(t, 3, 20*time.Second), 20*time.Second)
	c.up(f)
	upToDate(cp.awaitPublished(t, 3, 20*time.Second), 20*time.Second)
	t.Logf("member m%d stopped and restarted", f)

	// Quorum lost: two members down. Publishes fail, typed.
	_, before, failsBefore, _ := cp.state()
	a, b := c.leader(), (c.leader()+1)%3
	c.down(a)
	lost := time.Now() // the quorum is lost while b stops
	c.down(b)
	for {
		_, n, fails, ch := cp.state()
		if fails >= failsBefore+2 {
			break
		}
		select {
		case <-ch:
			if n > before+1 { // one publish may have been committed as it stopped
				t.Fatalf("%d publishes succeeded without a quorum", n-before)
			}
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(lost) > 20*time.Second {
			t.Fatal("no publish failed within 20s of the quorum lost")
		}
	}
	restart := time.Now()
	c.up(a) // a quorum again: up returns once the member has joined it
	regained := time.Now()
	v = cp.awaitPublished(t, 1, 30*time.Second)
	published := time.Since(regained)
	upToDate(v, 30*time.Second)
	t.Logf("quorum lost for %v; member m%d restarted in %v; from quorum regained: first publish %v, every source at version %d %v",
		restart.Sub(lost).Round(time.Millisecond), a, regained.Sub(restart).Round(time.Millisecond),
		published.Round(time.Millisecond), v, time.Since(regained).Round(time.Millisecond))
	c.up(b)

	stopPublisher()
	pwg.Wait()
	// The last publish may have been applied as it was stopped.
	if stored, err := p.Version(ctx); err != nil {
		t.Fatal(err)
	} else if last, _, _, _ := cp.state(); stored == last+1 {
		cp.published = append(cp.published, stored)
	}
	last, _, fails, _ := cp.state()
	upToDate(last, 20*time.Second)
	cancel()
	wg.Wait()

	cp.mu.Lock()
	defer cp.mu.Unlock()
	if len(cp.untyped) > 0 {
		t.Errorf("publishes failed with errors that are not ErrUnavailable: %v", cp.untyped)
	}
	for i, f := range followers {
		f.mu.Lock()
		got := f.versions
		j := slices.Index(cp.published, got[0])
		if j < 0 || !slices.Equal(got, cp.published[j:]) {
			t.Errorf("source %d delivered %v; want the versions published from %d on, %v", i, got, got[0], cp.published[max(j, 0):])
		}
		for _, r := range f.reports {
			if !errors.Is(r, source.ErrFetch) {
				t.Errorf("source %d reported %v; want only failures to fetch", i, r)
			}
		}
		f.mu.Unlock()
	}
	t.Logf("%d versions published, %d publishes failed with ErrUnavailable; %d sources delivered every version from their first on",
		len(cp.published), fails, len(followers))
}
