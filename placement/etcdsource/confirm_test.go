package etcdsource

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement/source"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// fakeConfirms is Confirmations set by the test.
type fakeConfirms struct {
	mu      sync.Mutex
	v       uint64
	changed chan struct{}
}

func newFakeConfirms() *fakeConfirms { return &fakeConfirms{changed: make(chan struct{})} }

func (f *fakeConfirms) set(v uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.v = v
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeConfirms) AwaitConfirmed(ctx context.Context, after uint64) (uint64, error) {
	for {
		f.mu.Lock()
		v, ch := f.v, f.changed
		f.mu.Unlock()
		if v > after {
			return v, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// runConfirmer runs a Confirmer of cell until the returned stop, which
// waits for Run to return.
func runConfirmer(t *testing.T, c *clientv3.Client, cell string, conf ConfirmedVersions) (stop func()) {
	t.Helper()
	cf, err := NewConfirmWriter(c, "/cellkit/", ConfirmWriterConfig{Cell: cell, TTL: 2 * time.Second, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cf.Run(ctx, conf) }()
	return func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("ConfirmWriter.Run() = %v; want context.Canceled", err)
		}
	}
}

// awaitConfirmations polls p's confirmations every 50 ms, for at most
// 10 s, until ok holds; it returns how long it took.
func awaitConfirmations(t *testing.T, p *Publisher, what string, ok func(map[string]uint64) bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var got map[string]uint64
	for time.Since(start) < 10*time.Second {
		var err error
		if got, err = p.Confirmations(context.Background()); err == nil && ok(got) {
			return time.Since(start)
		}
		<-tick.C
	}
	t.Fatalf("confirmations %v after 10s; want %s", got, what)
	return 0
}

// awaitConfirmedWithin calls p.AwaitConfirmed with a deadline d.
func awaitConfirmedWithin(p *Publisher, d time.Duration, v uint64, cells ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return p.AwaitConfirmed(ctx, v, cells)
}

// TestConfirmations: a cell that lags holds a publisher's AwaitConfirmed
// until it confirms, and the error names it with the version it is at; a
// cell that dies (its client gone, no revoke) loses its confirmation within
// the lease's TTL; a cell that comes back confirms again; a lease lost
// under a running Confirmer is replaced; a Confirmer that stops revokes its
// confirmation at once.
func TestConfirmations(t *testing.T) {
	te := startEtcd(t)
	ctx := context.Background()
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	if err := p.AwaitConfirmed(ctx, 7, []string{}); err != nil {
		t.Fatalf("AwaitConfirmed(no cells) = %v; want nil", err)
	}
	if err := p.AwaitConfirmed(ctx, 7, nil); !errors.Is(err, source.ErrNotConfirmed) || !errors.Is(err, source.ErrFetch) {
		t.Fatalf("AwaitConfirmed(the map's cells) with no map stored = %v; want ErrNotConfirmed and ErrFetch", err)
	}
	a, b := newFakeConfirms(), newFakeConfirms()
	stopA := runConfirmer(t, te.newClient(), "a", a)
	clientB := te.newClient()
	runConfirmer(t, clientB, "b", b) // it dies with clientB, never stopped
	a.set(2)
	b.set(1)
	awaitConfirmations(t, p, "a at 2, b at 1", func(m map[string]uint64) bool { return maps.Equal(m, map[string]uint64{"a": 2, "b": 1}) })

	// b lags.
	err := awaitConfirmedWithin(p, 300*time.Millisecond, 2, "a", "b")
	var nc *source.NotConfirmedError
	if !errors.As(err, &nc) || !errors.Is(err, source.ErrNotConfirmed) || !errors.Is(err, context.DeadlineExceeded) ||
		!slices.Equal(nc.Cells, []string{"b"}) || nc.Causes["b"] == nil || nc.Causes["b"].Error() != "confirmed version 1" {
		t.Fatalf("AwaitConfirmed(2, a b) with b at 1 = %v; want a *NotConfirmedError naming b at 1", err)
	}
	t.Logf("lagging cell: %v", err)
	waited := make(chan error, 1)
	go func() { waited <- awaitConfirmedWithin(p, 10*time.Second, 2, "a", "b") }()
	b.set(2)
	if err := <-waited; err != nil {
		t.Fatalf("AwaitConfirmed(2, a b) once b confirms 2 = %v; want nil", err)
	}

	// b dies: no revoke, its lease runs out.
	clientB.Close()
	gone := awaitConfirmations(t, p, "b gone", func(m map[string]uint64) bool { _, ok := m["b"]; return !ok && m["a"] == 2 })
	t.Logf("a dead cell's confirmation disappeared %v after its client closed (TTL 2s)", gone.Round(10*time.Millisecond))
	err = awaitConfirmedWithin(p, 300*time.Millisecond, 2, "b", "a")
	if !errors.As(err, &nc) || !slices.Equal(nc.Cells, []string{"b"}) || !errors.Is(nc.Causes["b"], errNoConfirmation) {
		t.Fatalf("AwaitConfirmed(2, b a) with b dead = %v; want a *NotConfirmedError naming b with no version", err)
	}
	t.Logf("dead cell: %v", err)

	// b comes back, at version 2.
	b2 := newFakeConfirms()
	stopB := runConfirmer(t, te.newClient(), "b", b2)
	defer stopB()
	go func() { waited <- awaitConfirmedWithin(p, 10*time.Second, 2, "a", "b") }()
	b2.set(2)
	if err := <-waited; err != nil {
		t.Fatalf("AwaitConfirmed(2, a b) once b is back = %v; want nil", err)
	}

	// a's lease is revoked under it: a new lease, the same confirmation.
	resp, err := te.client.Get(ctx, "/cellkit/cells/a")
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
		t.Fatalf("a's confirmation: %v, %v; want one key bound to a lease", resp, err)
	}
	if _, err := te.client.Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	awaitConfirmations(t, p, "a written again under a new lease", func(m map[string]uint64) bool { return m["a"] == 2 })
	if err := awaitConfirmedWithin(p, 10*time.Second, 2, "a", "b"); err != nil {
		t.Fatalf("AwaitConfirmed(2, a b) after a's lease was replaced = %v; want nil", err)
	}

	// a stops: its confirmation is revoked at once.
	stopA()
	if got, err := p.Confirmations(ctx); err != nil || len(got) != 1 || got["b"] != 2 {
		t.Fatalf("Confirmations() after a stopped = %v, %v; want only b at 2", got, err)
	}
}

func TestNewConfirmWriterRefusesBadConfig(t *testing.T) {
	c := &clientv3.Client{}
	for _, tc := range []struct {
		name   string
		client *clientv3.Client
		prefix string
		cfg    ConfirmWriterConfig
	}{
		{"nil client", nil, "/p/", ConfirmWriterConfig{Cell: "a"}},
		{"prefix without slash", c, "/p", ConfirmWriterConfig{Cell: "a"}},
		{"no cell", c, "/p/", ConfirmWriterConfig{}},
		{"negative TTL", c, "/p/", ConfirmWriterConfig{Cell: "a", TTL: -1}},
	} {
		if cf, err := NewConfirmWriter(tc.client, tc.prefix, tc.cfg); err == nil {
			t.Errorf("%s: NewConfirmWriter() = %v, nil; want an error", tc.name, cf)
		}
	}
}
