package etcdsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// e2eCell is a cell service fed by etcd: a Source, its Follower, a Guard
// in front of the handler, and a ConfirmWriter of the Follower's
// confirmations.
type e2eCell struct {
	id       string
	follower *source.Follower
	started  chan string   // the path of each slow request, once judged
	release  chan struct{} // closed to let the slow requests end
}

func startE2ECell(t *testing.T, ctx context.Context, te *testEtcd, id string, ln net.Listener) *e2eCell {
	c := &e2eCell{id: id, started: make(chan string, 4), release: make(chan struct{})}
	f, err := source.NewFollower(source.FollowerConfig{
		Source: newSource(t, te.newClient(), "/cellkit/", Config{}),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.follower = f
	go f.Run(ctx)
	g, err := cell.NewGuard(cell.GuardConfig{Cell: id, Map: f, Key: cell.KeyFromPath(1),
		Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/slow") {
				c.started <- r.URL.Path
				<-c.release
			}
			fmt.Fprint(w, id)
		})})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	w, err := NewConfirmWriter(te.newClient(), "/cellkit/", ConfirmWriterConfig{Cell: id, TTL: 2 * time.Second, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run(ctx, f)
	return c
}

// e2eDoc is a map of cells c1 and c2 at addrs, with extra members (a
// migration, overrides) after the cells.
func e2eDoc(v uint64, addrs []string, extra string) []byte {
	return []byte(`{"version":` + strconv.FormatUint(v, 10) + `,"cells":[` +
		`{"id":"c1","endpoints":[{"url":"http://` + addrs[0] + `"}]},` +
		`{"id":"c2","endpoints":[{"url":"http://` + addrs[1] + `"}]}]` + extra + `}`)
}

// TestE2EMigrationAwaitsConfirmation runs a migration the way a control
// plane must: a cell.Client and two Guard-wrapped cells follow the map in
// etcd through their Followers; a write to a key is running on its home,
// judged on version 1, when version 2 freezes the key's migration; the
// publisher's AwaitConfirmed(2) names the home cell until that write ends,
// and returns once it has; then the next phase is published and the
// client routes the key to its new cell.
func TestE2EMigrationAwaitsConfirmation(t *testing.T) {
	te := startEtcd(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var lns []net.Listener
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns, addrs = append(lns, ln), append(addrs, ln.Addr().String())
	}
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	publish := func(base, v uint64, extra string) *placement.Map {
		t.Helper()
		m, err := placement.Parse(e2eDoc(v, addrs, extra))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Publish(ctx, base, m, nil); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m1 := publish(0, 1, "")
	key := ""
	for i := 0; key == ""; i++ {
		if a, err := m1.Locate("tenant-" + strconv.Itoa(i)); err == nil && a.Cell == "c1" {
			key = a.Key
		}
	}
	c1 := startE2ECell(t, ctx, te, "c1", lns[0])
	startE2ECell(t, ctx, te, "c2", lns[1])

	client, err := cell.NewClient(cell.Config{Source: newSource(t, te.newClient(), "/cellkit/", Config{}), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	go client.Run(ctx)
	hc := &http.Client{Transport: client.Transport(nil, cell.KeyFromPath(1))}
	get := func(method, path string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, method, "http://cells"+path, nil)
		if err != nil {
			return "", err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s %s: %s %q", method, path, resp.Status, body)
		}
		return string(body), err
	}
	wait := func(d time.Duration) context.Context {
		c, cancel := context.WithTimeout(ctx, d)
		t.Cleanup(cancel)
		return c
	}
	if err := p.AwaitConfirmed(wait(10*time.Second), 1, nil); err != nil {
		t.Fatalf("AwaitConfirmed(1) = %v; want both cells", err)
	}
	<-client.Ready()

	// A write judged on version 1 runs on the key's home.
	wrote := make(chan error, 1)
	go func() {
		got, err := get(http.MethodPost, "/tenants/"+key+"/slow")
		if err == nil && got != "c1" {
			err = fmt.Errorf("served by %s; want c1", got)
		}
		wrote <- err
	}()
	<-c1.started
	frozen := `,"migrations":[{"key":"` + key + `","from":"c1","to":"c2","phase":"frozen"}]`
	publish(1, 2, frozen)
	if _, err := c1.follower.Await(wait(10*time.Second), 2); err != nil {
		t.Fatal(err)
	}
	err = p.AwaitConfirmed(wait(500*time.Millisecond), 2, nil)
	var nc *source.NotConfirmedError
	if !errors.As(err, &nc) || !slices.Equal(nc.Cells, []string{"c1"}) {
		t.Fatalf("AwaitConfirmed(2) with a write judged on 1 running on c1 = %v; want a *source.NotConfirmedError naming c1", err)
	}
	t.Logf("while the write judged on version 1 runs: %v", err)

	close(c1.release)
	if err := <-wrote; err != nil {
		t.Fatalf("the write judged on version 1: %v", err)
	}
	if err := p.AwaitConfirmed(wait(10*time.Second), 2, nil); err != nil {
		t.Fatalf("AwaitConfirmed(2) once the write ended = %v; want nil", err)
	}
	// Confirmed: the copy may start, and the key moves to c2.
	publish(2, 3, `,"overrides":{"`+key+`":"c2"}`)
	if _, err := client.Follower().Await(wait(10*time.Second), 3); err != nil {
		t.Fatal(err)
	}
	// Both cells on version 3 (a cell still on 2 would refuse the client's
	// request as behind, rightly): then the key is served by c2.
	if err := p.AwaitConfirmed(wait(10*time.Second), 3, nil); err != nil {
		t.Fatalf("AwaitConfirmed(3) = %v; want nil", err)
	}
	if got, err := get(http.MethodGet, "/tenants/"+key+"/x"); err != nil || got != "c2" {
		t.Fatalf("GET the key after the migration = %q, %v; want c2", got, err)
	}
}
