package etcdsource

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/etcdsource/internal/layout"
	"github.com/cellkit/cellkit/placement/source"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestNewRefusesBadConfig(t *testing.T) {
	te := startEtcd(t)
	tests := []struct {
		name   string
		client *clientv3.Client
		prefix string
		cfg    Config
	}{
		{"nil client", nil, "/p/", Config{}},
		{"empty prefix", te.client, "", Config{}},
		{"prefix without slash", te.client, "/p", Config{}},
		{"jitter 1", te.client, "/p/", Config{Jitter: 1}},
		{"jitter NaN", te.client, "/p/", Config{Jitter: math.NaN()}},
		{"negative timeout", te.client, "/p/", Config{Timeout: -1}},
		{"negative backoff", te.client, "/p/", Config{MinBackoff: -1}},
	}
	for _, tt := range tests {
		if s, err := New(tt.client, tt.prefix, tt.cfg); err == nil {
			t.Errorf("%s: New() = %v, nil; want an error", tt.name, s)
		}
		if tt.name == "nil client" || tt.name == "empty prefix" || tt.name == "prefix without slash" {
			if p, err := NewPublisher(tt.client, tt.prefix, PublisherConfig{}); err == nil {
				t.Errorf("%s: NewPublisher() = %v, nil; want an error", tt.name, p)
			}
		}
	}
	for _, cfg := range []PublisherConfig{{ChunkBytes: -1}, {MaxTxnOps: -1}, {MaxTxnOps: 7}} {
		if _, err := NewPublisher(te.client, "/p/", cfg); err == nil {
			t.Errorf("NewPublisher(%+v) = nil error; want an error", cfg)
		}
	}
}

func TestBackoffDelays(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second, rnd: func() float64 { return 0.5 }}
	want := []time.Duration{0, 100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.delay(); got != w*time.Millisecond {
			t.Errorf("delay after %d failures = %v; want %v", i, got, w*time.Millisecond)
		}
		b.failed()
	}
	for range 100 {
		b.failed()
	}
	if got := b.delay(); got != time.Second {
		t.Errorf("delay after 106 failures = %v; want the maximum 1s", got)
	}
	b.reset()
	if got := b.delay(); got != 0 {
		t.Errorf("delay after reset = %v; want 0", got)
	}
	// Jitter 0.2 spreads 400ms over [320ms, 480ms).
	for _, tt := range []struct {
		r    float64
		want time.Duration
	}{{0, 320 * time.Millisecond}, {0.5, 400 * time.Millisecond}, {0.75, 440 * time.Millisecond}} {
		b := backoff{min: 100 * time.Millisecond, max: time.Second, jitter: 0.2, rnd: func() float64 { return tt.r }, fails: 3}
		if got := b.delay(); got != tt.want {
			t.Errorf("delay(jitter 0.2, rnd %v) = %v; want %v", tt.r, got, tt.want)
		}
	}
}

func TestSourceWaitsForTheFirstMap(t *testing.T) {
	te := startEtcd(t)
	src := newSource(t, te.client, "/cellkit/", Config{})
	if m, err := next(t, src, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next() on an empty prefix = %v, %v; want to wait for ctx", m, err)
	}
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	// A write beside the prefix is not news.
	if _, err := te.client.Put(context.Background(), "/cellkit-other/doc", "x"); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		if err := p.Publish(context.Background(), 0, testMap(t, 1), nil); err != nil {
			t.Error(err)
		}
	}()
	m := mustNext(t, src, 1)
	if !bytes.Equal(m.Bytes(), testDoc(1)) {
		t.Errorf("Next() = %s; want %s", m.Bytes(), testDoc(1))
	}
	if m, err := next(t, src, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next() without a change = %v, %v; want to wait for ctx", m, err)
	}
}

// TestRapidPublishes publishes 500 versions as fast as etcd takes them
// while a source reads: however many versions a watch response carries,
// the source delivers every one, in order.
func TestRapidPublishes(t *testing.T) {
	const n = 500
	te := startEtcd(t)
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	// The source has a client of its own, as it would in another process.
	src := newSource(t, te.newClient(), "/cellkit/", Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	maps := make([]*placement.Map, n+1)
	for v := 1; v <= n; v++ {
		maps[v] = testMap(t, uint64(v))
	}
	// The source reads version 1 first; it then watches from there.
	if err := p.Publish(ctx, 0, maps[1], nil); err != nil {
		t.Fatal(err)
	}
	mustNext(t, src, 1)
	done := make(chan []uint64)
	go func() {
		got := []uint64{1}
		for {
			m, err := src.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("Next() = %v after versions %v", err, got)
				}
				break
			}
			got = append(got, m.Version())
			if m.Version() == n {
				break
			}
		}
		done <- got
	}()
	for v := 2; v <= n; v++ {
		if err := p.Publish(ctx, uint64(v-1), maps[v], nil); err != nil {
			cancel()
			<-done
			t.Fatalf("Publish(version %d) = %v", v, err)
		}
	}
	got := <-done
	for i, v := range got {
		if v != uint64(i+1) {
			t.Fatalf("delivered version %d as the %dth; want every version from 1 to %d in order", v, i+1, n)
		}
	}
	if len(got) != n {
		t.Fatalf("delivered %d versions; want %d", len(got), n)
	}
	t.Logf("the source delivered %d of %d versions", len(got), n)
}

// TestCompactionPastTheWatch compacts the history between two calls to
// Next: the watch from the next revision fails, and the source reads again.
func TestCompactionPastTheWatch(t *testing.T) {
	te := startEtcd(t)
	ctx := context.Background()
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{ChunkBytes: 100})
	src := newSource(t, te.client, "/cellkit/", Config{})
	if err := p.Publish(ctx, 0, testMap(t, 1), nil); err != nil {
		t.Fatal(err)
	}
	mustNext(t, src, 1)
	watchFrom := src.rev + 1
	for v := uint64(2); v <= 4; v++ {
		if err := p.Publish(ctx, v-1, testMap(t, v), nil); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := te.client.Get(ctx, "/cellkit/version")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := te.client.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	// The watch of the next Next would start below the compaction.
	if _, err := te.client.Get(ctx, "/cellkit/version", clientv3.WithRev(watchFrom)); !compacted(err) {
		t.Fatalf("Get at revision %d after compaction = %v; want ErrCompacted", watchFrom, err)
	}
	m := mustNext(t, src, 4)
	if !bytes.Equal(m.Bytes(), testDoc(4)) {
		t.Errorf("Next() after compaction = %s; want %s", m.Bytes(), testDoc(4))
	}
	if src.retry.fails != 0 {
		t.Errorf("compaction counted as %d failures; want none", src.retry.fails)
	}
}

// TestMisbehavingPublisher writes bad documents straight into etcd: each is
// reported once and skipped, and the next good one is delivered.
func TestMisbehavingPublisher(t *testing.T) {
	te := startEtcd(t)
	ctx := context.Background()
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{ChunkBytes: 100})
	src := newSource(t, te.client, "/cellkit/", Config{})
	if err := p.Publish(ctx, 0, testMap(t, 5), nil); err != nil {
		t.Fatal(err)
	}
	mustNext(t, src, 5)
	valid3, valid5b := string(testDoc(3)), string(bytes.Replace(testDoc(5), []byte(`"c2"`), []byte(`"c3"`), 1))
	man := func(id string, chunks, size int, sum string) string {
		return string(layout.Manifest{ID: id, Chunks: chunks, Bytes: size, SHA256: sum}.Encode())
	}
	// The chunked document of version 5 as the publisher stored it.
	stored, err := te.client.Get(ctx, "/cellkit/manifest")
	if err != nil || len(stored.Kvs) != 1 {
		t.Fatalf("the manifest of a chunked document: %v, %v", stored, err)
	}
	good, err := layout.ParseManifest(stored.Kvs[0].Value, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	chunk0 := "/cellkit/chunk/" + good.ID + "/000000"
	tests := []struct {
		name string
		ops  []clientv3.Op
		want error
	}{
		{"invalid JSON", []clientv3.Op{clientv3.OpPut("/cellkit/doc", "{not json"), clientv3.OpDelete("/cellkit/manifest")}, placement.ErrSyntax},
		{"invalid document", []clientv3.Op{clientv3.OpPut("/cellkit/doc", `{"version":9,"cells":[]}`)}, placement.ErrNoEligible},
		{"lower version", []clientv3.Op{clientv3.OpPut("/cellkit/doc", valid3), clientv3.OpPut("/cellkit/version", "3")}, nil},
		{"same version, other bytes", []clientv3.Op{clientv3.OpPut("/cellkit/doc", valid5b)}, nil},
		{"doc and manifest", []clientv3.Op{clientv3.OpPut("/cellkit/manifest", string(stored.Kvs[0].Value))}, ErrLayout},
		{"manifest not JSON", []clientv3.Op{clientv3.OpDelete("/cellkit/doc"), clientv3.OpPut("/cellkit/manifest", "{")}, ErrLayout},
		{"manifest too big", []clientv3.Op{clientv3.OpPut("/cellkit/manifest", man(good.ID, 1, 65<<20, good.SHA256))}, ErrLayout},
		{"manifest with a bad id", []clientv3.Op{clientv3.OpPut("/cellkit/manifest", man("../x", good.Chunks, good.Bytes, good.SHA256))}, ErrLayout},
		{"manifest of an absent directory", []clientv3.Op{clientv3.OpPut("/cellkit/manifest", man("none", 1, good.Bytes, good.SHA256))}, ErrLayout},
		{"wrong size", []clientv3.Op{clientv3.OpPut("/cellkit/manifest", man(good.ID, good.Chunks, good.Bytes+1, good.SHA256))}, ErrLayout},
		{"wrong count", []clientv3.Op{clientv3.OpPut("/cellkit/manifest", man(good.ID, good.Chunks+1, good.Bytes, good.SHA256))}, ErrLayout},
		{"wrong hash", []clientv3.Op{clientv3.OpPut("/cellkit/manifest", man(good.ID, good.Chunks, good.Bytes, good.SHA256[1:]+"0"))}, ErrLayout},
		{"tampered chunk", []clientv3.Op{clientv3.OpPut("/cellkit/manifest", string(stored.Kvs[0].Value)), clientv3.OpPut(chunk0, "x")}, ErrLayout},
		{"missing chunk", []clientv3.Op{clientv3.OpPut("/cellkit/manifest", string(stored.Kvs[0].Value)), clientv3.OpDelete(chunk0)}, ErrLayout},
		{"nothing stored", []clientv3.Op{clientv3.OpDelete("/cellkit/", clientv3.WithPrefix())}, source.ErrFetch},
	}
	for _, tt := range tests {
		if _, err := te.client.Txn(ctx).Then(tt.ops...).Commit(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		m, err := next(t, src, 10*time.Second)
		if tt.want == nil { // the source delivers; the Follower orders versions
			if err != nil {
				t.Errorf("%s: Next() = %v; want the map delivered", tt.name, err)
			}
			continue
		}
		var se *source.SourceError
		if !errors.As(err, &se) || !errors.Is(err, tt.want) || se.Source != "etcd:/cellkit/" {
			t.Errorf("%s: Next() = %v, %v; want a *source.SourceError from etcd:/cellkit/ matching %v", tt.name, m, err, tt.want)
			continue
		}
		if errors.Is(tt.want, ErrLayout) && !errors.Is(err, source.ErrFetch) {
			t.Errorf("%s: Next() = %v; want it to match source.ErrFetch too", tt.name, err)
		}
		t.Logf("%s: %v", tt.name, err)
	}
	// Reported once: a refresh reads the same state and says nothing.
	src.Refresh()
	if m, err := next(t, src, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next() of a state already reported = %v, %v; want to wait", m, err)
	}
	// The misbehaving writes moved the version key to 3, then deleted it.
	if err := p.Publish(ctx, 0, testMap(t, 6), nil); err != nil {
		t.Fatal(err)
	}
	mustNext(t, src, 6)
}

func TestSignaturesRequired(t *testing.T) {
	te := startEtcd(t)
	ctx := context.Background()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	src := newSource(t, te.client, "/cellkit/", Config{})
	src.SetParse(placement.Options{PublicKeys: []ed25519.PublicKey{pub}}, nil)
	sign := func(k ed25519.PrivateKey, v uint64) []byte { return placement.Sign(k, testDoc(v)) }

	if err := p.Publish(ctx, 0, testMap(t, 1), sign(priv, 1)); err != nil {
		t.Fatal(err)
	}
	m := mustNext(t, src, 1)
	if !bytes.Equal(m.Signature(), sign(priv, 1)) {
		t.Errorf("Signature() = %x; want the published signature", m.Signature())
	}

	tampered := bytes.Replace(testDoc(2), []byte("127.0.0.1:2"), []byte("10.6.6.6:2"), 1)
	steps := []struct {
		name string
		ops  []clientv3.Op
		want error
	}{
		{"tampered document, old signature", []clientv3.Op{clientv3.OpPut("/cellkit/doc", string(tampered))}, placement.ErrSignature},
		{"signed by an untrusted key", []clientv3.Op{clientv3.OpPut("/cellkit/sig", string(source.FormatSignatures([][]byte{placement.Sign(other, tampered)})))}, placement.ErrSignature},
		{"no signature", []clientv3.Op{clientv3.OpDelete("/cellkit/sig")}, placement.ErrSignature},
		{"signature key not base64", []clientv3.Op{clientv3.OpPut("/cellkit/sig", "!!!")}, placement.ErrSignature},
	}
	for _, st := range steps {
		if _, err := te.client.Txn(ctx).Then(st.ops...).Commit(); err != nil {
			t.Fatal(err)
		}
		if m, err := next(t, src, 10*time.Second); !errors.Is(err, st.want) {
			t.Errorf("%s: Next() = %v, %v; want an error matching %v", st.name, m, err, st.want)
		}
	}
	// An unsigned publish is refused too; the next signed one is taken,
	// with an old signature beside the right one.
	if err := p.Publish(ctx, 1, testMap(t, 2), nil); err != nil {
		t.Fatal(err)
	}
	if m, err := next(t, src, 10*time.Second); !errors.Is(err, placement.ErrSignature) {
		t.Errorf("unsigned publish: Next() = %v, %v; want ErrSignature", m, err)
	}
	if err := p.Publish(ctx, 2, testMap(t, 3), sign(priv, 3)); err != nil {
		t.Fatal(err)
	}
	mustNext(t, src, 3)
	two := string(source.FormatSignatures([][]byte{sign(other, 4), sign(priv, 4)}))
	if _, err := te.client.Txn(ctx).Then(clientv3.OpPut("/cellkit/doc", string(testDoc(4))), clientv3.OpPut("/cellkit/sig", two)).Commit(); err != nil {
		t.Fatal(err)
	}
	mustNext(t, src, 4)
}

// TestSourceDoesNotOrderVersions: the source delivers each document it did
// not deliver last, older or not (the Follower is the one version gate),
// and not the same document twice, even with its signature key rewritten.
func TestSourceDoesNotOrderVersions(t *testing.T) {
	te := startEtcd(t)
	ctx := context.Background()
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	if err := p.Publish(ctx, 0, testMap(t, 3), nil); err != nil {
		t.Fatal(err)
	}
	src := newSource(t, te.client, "/cellkit/", Config{})
	mustNext(t, src, 3)
	if _, err := te.client.Put(ctx, "/cellkit/doc", string(testDoc(2))); err != nil {
		t.Fatal(err)
	}
	mustNext(t, src, 2)
	if _, err := te.client.Put(ctx, "/cellkit/sig", string(source.FormatSignatures([][]byte{make([]byte, 64)}))); err != nil {
		t.Fatal(err)
	}
	if m, err := next(t, src, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next() of the document delivered last, with a new signature key = %v, %v; want to wait", m, err)
	}
}

// TestRefreshReadsAgain checks that Refresh makes a waiting Next read the
// current revision even though nothing under the prefix changed.
func TestRefreshReadsAgain(t *testing.T) {
	te := startEtcd(t)
	ctx := context.Background()
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	if err := p.Publish(ctx, 0, testMap(t, 1), nil); err != nil {
		t.Fatal(err)
	}
	src := newSource(t, te.client, "/cellkit/", Config{})
	mustNext(t, src, 1)
	put, err := te.client.Put(ctx, "/elsewhere", "x")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // calls coalesce
		src.Refresh()
	}
	if m, err := next(t, src, 500*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next() after Refresh of an unchanged map = %v, %v; want to wait", m, err)
	}
	if src.rev != put.Header.Revision {
		t.Errorf("after Refresh the source is at revision %d; want %d, the current one", src.rev, put.Header.Revision)
	}
	if len(src.refresh) != 0 {
		t.Errorf("%d refreshes pending after the read; want 0", len(src.refresh))
	}
}

// TestFailedReadReported stops etcd under the source: the first read that
// times out is reported as ErrFetch, without matching a context error; the
// retries that fail the same way are not reported again, and counted for
// the backoff.
func TestFailedReadReported(t *testing.T) {
	te := startEtcd(t)
	src := newSource(t, te.client, "/cellkit/", Config{Timeout: 100 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Jitter: -1})
	te.stop()
	m, err := next(t, src, 5*time.Second)
	if !errors.Is(err, source.ErrFetch) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next() with etcd down = %v, %v; want ErrFetch and no context error", m, err)
	}
	if m, err := next(t, src, time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next() with etcd still down = %v, %v; want no second report, and the deadline", m, err)
	}
	if src.retry.fails < 3 {
		t.Errorf("after a second of failed reads the backoff counts %d failures; want at least 3", src.retry.fails)
	}
	// The caller's own deadline, during the backoff, is a context error.
	src.retry.min, src.retry.max = time.Hour, time.Hour
	if m, err := next(t, src, 50*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next() with a deadline inside the backoff = %v, %v; want DeadlineExceeded", m, err)
	}
}

// TestRestart stops etcd for 10 seconds under a source that is following
// it, and restarts it on the same data directory. The reader keeps the last
// map and routes on it throughout; after the restart the source reconnects
// and catches up with what is published then.
func TestRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s of downtime")
	}
	te := startEtcd(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	// The source's connections go through a proxy that the outage cuts.
	proxy := newProxy(t, te.cfg.AdvertiseClientUrls[0].Host)
	src := newSource(t, te.clientAt("http://"+proxy.addr), "/cellkit/", Config{MaxBackoff: time.Second, Timeout: time.Second})

	var current atomic.Pointer[placement.Map]
	var mu sync.Mutex
	var versions []uint64
	var reports []error
	go func() {
		for {
			m, err := src.Next(ctx)
			if ctx.Err() != nil {
				return
			}
			mu.Lock()
			if err != nil {
				reports = append(reports, err)
			} else {
				versions = append(versions, m.Version())
				current.Store(m)
			}
			mu.Unlock()
		}
	}()
	var lookups, failed atomic.Int64
	routed := make(chan struct{})
	go func() { // routes on the last map all along
		defer close(routed)
		for i := 0; ctx.Err() == nil; i++ {
			if m := current.Load(); m != nil {
				if _, err := m.Locate("tenant-" + strconv.Itoa(i)); err != nil {
					failed.Add(1)
				}
				lookups.Add(1)
			}
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	waitFor := func(v uint64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if m := current.Load(); m != nil && m.Version() == v {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("the source did not deliver version %d", v)
	}
	for v := uint64(1); v <= 5; v++ {
		if err := p.Publish(ctx, v-1, testMap(t, v), nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(5)
	down := time.Now()
	proxy.cut()
	te.stop()
	t.Logf("etcd stopped in %v", time.Since(down).Round(time.Millisecond))
	time.Sleep(10 * time.Second)
	if m := current.Load(); m.Version() != 5 {
		t.Errorf("during the outage the reader holds version %d; want 5", m.Version())
	}
	stopped := time.Now()
	te.start()
	if te.e == nil {
		t.FailNow()
	}
	proxy.listen()
	restarted := time.Now()
	t.Logf("etcd restarted in %v", restarted.Sub(stopped).Round(time.Millisecond))
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	defer pcancel()
	if err := p.Publish(pctx, 5, testMap(t, 6), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(6)
	t.Logf("caught up %v after the restart", time.Since(restarted).Round(time.Millisecond))
	if err := p.Publish(ctx, 6, testMap(t, 7), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(7)
	cancel()
	<-routed

	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(versions); i++ {
		if versions[i] <= versions[i-1] {
			t.Errorf("delivered version %d after %d", versions[i], versions[i-1])
		}
	}
	for _, err := range reports {
		if !errors.Is(err, source.ErrFetch) {
			t.Errorf("report during the outage: %v; want only ErrFetch", err)
		}
	}
	if failed.Load() != 0 || lookups.Load() == 0 {
		t.Errorf("%d of %d lookups failed; want all to succeed", failed.Load(), lookups.Load())
	}
	t.Logf("versions %v, %d reports, %d lookups", versions, len(reports), lookups.Load())
}

// TestWatchKeptAcrossCalls checks that calls with the same context share
// one watch, so that no change waits for a new one, and that a call with
// another context, or the end of the context, closes it.
func TestWatchKeptAcrossCalls(t *testing.T) {
	te := startEtcd(t)
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	src := newSource(t, te.client, "/cellkit/", Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	publish := func(v uint64) {
		t.Helper()
		if err := p.Publish(context.Background(), v-1, testMap(t, v), nil); err != nil {
			t.Fatal(err)
		}
	}
	publish(1)
	if m, err := src.Next(ctx); err != nil || m.Version() != 1 {
		t.Fatalf("Next() = %v, %v; want version 1", m, err)
	}
	publish(2)
	if m, err := src.Next(ctx); err != nil || m.Version() != 2 {
		t.Fatalf("Next() = %v, %v; want version 2", m, err)
	}
	w := src.w
	if w == nil {
		t.Fatal("no watch kept after Next returned a map")
	}
	publish(3)
	publish(4) // both while no Next runs: the kept watch has them, in order
	for _, v := range []uint64{3, 4} {
		if m, err := src.Next(ctx); err != nil || m.Version() != v {
			t.Fatalf("Next() = %v, %v; want version %d", m, err, v)
		}
	}
	if src.w != w {
		t.Error("a call with the same context opened another watch")
	}
	publish(5)
	mustNext(t, src, 5) // another context
	if src.w == w {
		t.Error("a call with another context kept the watch of the first")
	}
	cancel()
	if m, err := src.Next(ctx); !errors.Is(err, context.Canceled) || m != nil {
		t.Errorf("Next(canceled ctx) = %v, %v; want Canceled", m, err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := src.Next(ctx2); !errors.Is(err, context.DeadlineExceeded) || src.w != nil {
		t.Errorf("Next() until its deadline = %v, watch %v; want DeadlineExceeded and the watch closed", err, src.w)
	}
}

// TestWatchClosedReported closes the client while a Next watches: the end of
// the watch is reported as ErrFetch, not as a context error.
func TestWatchClosedReported(t *testing.T) {
	te := startEtcd(t)
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	if err := p.Publish(context.Background(), 0, testMap(t, 1), nil); err != nil {
		t.Fatal(err)
	}
	c := te.newClient()
	src := newSource(t, c, "/cellkit/", Config{})
	mustNext(t, src, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		c.Close()
	}()
	m, err := next(t, src, 10*time.Second)
	if !errors.Is(err, source.ErrFetch) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next() when the client closes = %v, %v; want ErrFetch and no context error", m, err)
	}
	if src.w != nil || src.rev == 0 || !src.pause {
		t.Errorf("after the watch failed: watch %v, revision %d, pause %v; want to watch again from the same revision after a backoff", src.w, src.rev, src.pause)
	}
}

// TestCompactionBeforeTheChunks compacts the history between the read of a
// chunked document's keys and the read of its chunks at that revision: the
// source reads again at the current revision, without a report.
func TestCompactionBeforeTheChunks(t *testing.T) {
	te := startEtcd(t)
	ctx := context.Background()
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{ChunkBytes: 50})
	if err := p.Publish(ctx, 0, testMap(t, 1), nil); err != nil {
		t.Fatal(err)
	}
	src := newSource(t, te.client, "/cellkit/", Config{})
	if err := src.read(ctx, 0); err != nil {
		t.Fatal(err)
	}
	put, err := te.client.Put(ctx, "/elsewhere", "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := te.client.Compact(ctx, put.Header.Revision); err != nil {
		t.Fatal(err)
	}
	if m, err := src.judge(ctx); m != nil || err != nil || src.rev != 0 {
		t.Fatalf("judge() after compaction = %v, %v at revision %d; want nothing, and a read to come", m, err, src.rev)
	}
	mustNext(t, src, 1)
	if src.rev < put.Header.Revision {
		t.Errorf("read again at revision %d; want at least %d", src.rev, put.Header.Revision)
	}
}

// TestLeaderLost stops two members of three under a source that follows
// the third: the member loses its leader, the server ends the watch (the
// source watches with WithRequireLeader), the source reports it and retries
// until a member is back; then it delivers what is published.
func TestLeaderLost(t *testing.T) {
	members := startCluster(t, 3)
	follower := members[0]
	if follower.isLeader() {
		follower = members[1]
	}
	var others []*testEtcd
	for _, m := range members {
		if m != follower {
			others = append(others, m)
		}
	}
	ctx := context.Background()
	p := newPublisher(t, follower.newClient(), "/cellkit/", PublisherConfig{})
	if err := p.Publish(ctx, 0, testMap(t, 1), nil); err != nil {
		t.Fatal(err)
	}
	src := newSource(t, follower.newClient(), "/cellkit/", Config{Timeout: 300 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if m, err := src.Next(sctx); err != nil || m.Version() != 1 {
		t.Fatalf("Next() = %v, %v; want version 1", m, err)
	}
	for _, m := range others {
		m.stop()
	}
	lost := time.Now()
	m, err := src.Next(sctx)
	if !errors.Is(err, source.ErrFetch) {
		t.Fatalf("Next() after the leader was lost = %v, %v; want a report matching ErrFetch", m, err)
	}
	t.Logf("reported %v after the leader was lost: %v", time.Since(lost).Round(time.Millisecond), err)

	others[0].start()
	if others[0].e == nil {
		t.FailNow()
	}
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	defer pcancel()
	if err := p.Publish(pctx, 1, testMap(t, 2), nil); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for {
		m, err := src.Next(sctx)
		if err == nil {
			if m.Version() != 2 {
				t.Fatalf("Next() = version %d; want 2", m.Version())
			}
			break
		}
		if !errors.Is(err, source.ErrFetch) {
			t.Fatalf("Next() while the cluster recovers = %v; want only ErrFetch reports", err)
		}
		t.Logf("report while the cluster recovers: %v", err)
	}
	t.Logf("version 2 delivered %v after the publish", time.Since(back).Round(time.Millisecond))
}
