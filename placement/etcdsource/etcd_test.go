package etcdsource

import (
	"context"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
)

// A testEtcd is a one-member etcd embedded in the test, on loopback ports
// in a temporary directory. The server keeps etcd's default request limits
// (--max-request-bytes 1.5 MiB, --max-txn-ops 128): the chunked 20 MiB
// document must fit them. It writes without fsync, which only a crash of
// the machine could notice.
type testEtcd struct {
	t      testing.TB
	cfg    *embed.Config
	e      *embed.Etcd
	client *clientv3.Client
}

// freePort returns a loopback port that was free a moment ago. The server
// must listen on the same ports again after a restart, so port 0 will not do.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func startEtcd(t testing.TB) *testEtcd {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "test"
	cfg.Dir = t.TempDir()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client := url.URL{Scheme: "http", Host: "127.0.0.1:" + freePort(t)}
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:" + freePort(t)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.UnsafeNoFsync = true
	te := &testEtcd{t: t, cfg: cfg}
	te.start()
	if te.e == nil {
		t.FailNow()
	}
	t.Cleanup(te.stop) // after every client's Close: cleanups run last first
	te.client = te.newClient()
	return te
}

func (te *testEtcd) start() {
	te.t.Helper()
	e, err := embed.StartEtcd(te.cfg)
	if err != nil {
		te.t.Errorf("start etcd %s: %v", te.cfg.Name, err)
		return
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		te.t.Errorf("etcd %s did not start within 30s", te.cfg.Name)
		return
	}
	te.e = e
}

// stop shuts the server down; start brings it back on the same directory.
func (te *testEtcd) stop() {
	if te.e != nil {
		te.e.Close()
		te.e = nil
	}
}

// newClient returns another client of the server, closed by the test's end.
func (te *testEtcd) newClient() *clientv3.Client {
	te.t.Helper()
	return te.clientAt(te.cfg.AdvertiseClientUrls[0].String())
}

// clientAt returns a client of the servers at endpoints (say, through
// proxies), closed by the test's end.
func (te *testEtcd) clientAt(endpoints ...string) *clientv3.Client {
	te.t.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		// gRPC's default reconnect backoff grows to 2 minutes; after an
		// outage it decides how soon a client sees etcd back.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		})},
	})
	if err != nil {
		te.t.Fatal(err)
	}
	te.t.Cleanup(func() { c.Close() })
	return c
}

// testMap is a small valid map of the given version.
func testMap(t testing.TB, version uint64) *placement.Map {
	t.Helper()
	m, err := placement.Parse(testDoc(version))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testDoc(version uint64) []byte {
	return []byte(`{"version":` + strconv.FormatUint(version, 10) +
		`,"cells":[{"id":"c1","endpoints":[{"url":"http://127.0.0.1:1"}]},{"id":"c2","endpoints":[{"url":"http://127.0.0.1:2"}]}]}`)
}

// bigDoc is a document of cells cells and overrides overrides, about 23
// bytes an override.
func bigDoc(version uint64, cells, overrides int) []byte {
	b := make([]byte, 0, 64+cells*12+overrides*24)
	b = append(b, `{"version":`...)
	b = strconv.AppendUint(b, version, 10)
	b = append(b, `,"seed":"7","cells":[`...)
	cell := func(b []byte, i int) []byte {
		b = append(b, 'c')
		return append(b, byte('0'+i/100%10), byte('0'+i/10%10), byte('0'+i%10))
	}
	for i := range cells {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"`...)
		b = cell(b, i)
		b = append(b, `"}`...)
	}
	b = append(b, `],"overrides":{`...)
	for i := range overrides {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `"tenant-`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `":"`...)
		b = cell(b, (i*7+int(version))%cells)
		b = append(b, '"')
	}
	return append(b, "}}"...)
}

// next calls src.Next with a deadline.
func next(t *testing.T, src *Source, d time.Duration) (*placement.Map, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return src.Next(ctx)
}

// mustNext waits for the next map and checks its version.
func mustNext(t *testing.T, src *Source, want uint64) *placement.Map {
	t.Helper()
	m, err := next(t, src, 20*time.Second)
	if err != nil {
		t.Fatalf("Next() = %v; want version %d", err, want)
	}
	if m.Version() != want {
		t.Fatalf("Next() = version %d; want %d", m.Version(), want)
	}
	return m
}

func newSource(t testing.TB, c *clientv3.Client, prefix string, cfg Config) *Source {
	t.Helper()
	s, err := New(c, prefix, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newPublisher(t testing.TB, c *clientv3.Client, prefix string, cfg PublisherConfig) *Publisher {
	t.Helper()
	p, err := NewPublisher(c, prefix, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A tcpProxy forwards a loopback port to etcd's client port, so that a test
// can cut every connection at once: etcd's graceful stop would otherwise
// wait 7 s for the watch streams of the clients to end.
type tcpProxy struct {
	t      testing.TB
	addr   string // where clients connect
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, addr: "127.0.0.1:" + freePort(t), target: target, conns: map[net.Conn]struct{}{}}
	p.listen()
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) listen() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			if !p.track(c, u) {
				return
			}
			go p.pipe(c, u)
			go p.pipe(u, c)
		}
	}()
}

func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// cut stops accepting and closes every connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// startCluster starts a cluster of n members on loopback ports, with short
// raft timeouts (heartbeat 30 ms, election 300 ms) so that losing a leader
// is noticed within a second.
func startCluster(t testing.TB, n int) []*testEtcd {
	t.Helper()
	members := make([]*testEtcd, n)
	var initial []string
	for i := range members {
		cfg := embed.NewConfig()
		cfg.Name = "m" + strconv.Itoa(i)
		cfg.Dir = t.TempDir()
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		client := url.URL{Scheme: "http", Host: "127.0.0.1:" + freePort(t)}
		peer := url.URL{Scheme: "http", Host: "127.0.0.1:" + freePort(t)}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.UnsafeNoFsync = true
		cfg.TickMs, cfg.ElectionMs = 30, 300
		initial = append(initial, cfg.Name+"="+peer.String())
		members[i] = &testEtcd{t: t, cfg: cfg}
	}
	var wg sync.WaitGroup
	for _, m := range members {
		m.cfg.InitialCluster = strings.Join(initial, ",")
		t.Cleanup(m.stop)
		wg.Go(m.start) // each waits for the others to elect a leader
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return members
}

// isLeader reports whether the member leads the cluster.
func (te *testEtcd) isLeader() bool {
	return te.e != nil && te.e.Server.Leader() == te.e.Server.MemberID()
}
