package etcdsource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// storedKeys lists the keys under prefix.
func storedKeys(t *testing.T, c *clientv3.Client, prefix string) []string {
	t.Helper()
	resp, err := c.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, kv := range resp.Kvs {
		ks = append(ks, strings.TrimPrefix(string(kv.Key), prefix))
	}
	return ks
}

func TestPublishCompareAndSwap(t *testing.T) {
	te := startEtcd(t)
	ctx := context.Background()
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	steps := []struct {
		base, version uint64
		want          error // nil, ErrVersion or a *ConflictError
	}{
		{0, 1, nil},
		{0, 2, &ConflictError{Base: 0, Stored: 1}},
		{1, 1, ErrVersion},
		{1, 3, nil},
		{2, 4, &ConflictError{Base: 2, Stored: 3}},
		{3, 2, ErrVersion},
		{9, 10, &ConflictError{Base: 9, Stored: 3}},
		{3, 4, nil},
	}
	for _, st := range steps {
		err := p.Publish(ctx, st.base, testMap(t, st.version), nil)
		var ce, wantCE *ConflictError
		switch {
		case errors.As(st.want, &wantCE):
			if !errors.As(err, &ce) || *ce != *wantCE || !errors.Is(err, ErrConflict) {
				t.Errorf("Publish(base %d, version %d) = %v; want %v", st.base, st.version, err, st.want)
			}
		case !errors.Is(err, st.want):
			t.Errorf("Publish(base %d, version %d) = %v; want %v", st.base, st.version, err, st.want)
		}
	}
	if v, err := p.Version(ctx); v != 4 || err != nil {
		t.Errorf("Version() = %d, %v; want 4, nil", v, err)
	}
	if _, err := te.client.Put(ctx, "/cellkit/version", "x"); err != nil {
		t.Fatal(err)
	}
	if v, err := p.Version(ctx); !errors.Is(err, ErrLayout) {
		t.Errorf("Version() of a garbage version key = %d, %v; want ErrLayout", v, err)
	}
	if err := p.Publish(ctx, 4, testMap(t, 5), nil); !errors.Is(err, ErrLayout) || !errors.Is(err, ErrConflict) {
		t.Errorf("Publish over a garbage version key = %v; want ErrLayout and ErrConflict", err)
	}
}

func TestPublishBadInput(t *testing.T) {
	te := startEtcd(t)
	ctx := context.Background()
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	if err := p.Publish(ctx, 0, nil, nil); err == nil {
		t.Error("Publish(nil map) = nil; want an error")
	}
	if err := p.Publish(ctx, 0, testMap(t, 1), []byte("short")); err == nil {
		t.Error("Publish with a 5-byte signature = nil; want an error")
	}
	small := newPublisher(t, te.client, "/cellkit/", PublisherConfig{ChunkBytes: 10, MaxTxnOps: 8})
	if err := small.Publish(ctx, 0, testMap(t, 1), nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Publish of %d bytes in chunks of 10 with MaxTxnOps 8 = %v; want ErrTooLarge", len(testDoc(1)), err)
	}
	if ks := storedKeys(t, te.client, "/cellkit/"); len(ks) != 0 {
		t.Errorf("refused publishes stored %v; want nothing", ks)
	}
}

// TestChunkedLayout publishes documents alternately in one value and in
// chunks, and checks the keys after each publish and what a source reads.
func TestChunkedLayout(t *testing.T) {
	te := startEtcd(t)
	ctx := context.Background()
	src := newSource(t, te.newClient(), "/cellkit/", Config{})
	small := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	chunked := newPublisher(t, te.client, "/cellkit/", PublisherConfig{ChunkBytes: 40})
	n := (len(testDoc(1)) + 39) / 40
	for v := uint64(1); v <= 6; v++ {
		p := small
		if v%3 != 0 {
			p = chunked
		}
		m := testMap(t, v)
		if err := p.Publish(ctx, v-1, m, nil); err != nil {
			t.Fatal(err)
		}
		ks := storedKeys(t, te.client, "/cellkit/")
		var chunks []string
		for _, k := range ks {
			if strings.HasPrefix(k, "chunk/") {
				chunks = append(chunks, k)
			}
		}
		if p == small {
			if want := []string{"doc", "version"}; !slices.Equal(ks, want) {
				t.Errorf("version %d in one value: keys %v; want %v", v, ks, want)
			}
		} else {
			wantPrefix := fmt.Sprintf("chunk/%020d-", v)
			if len(chunks) != n || !strings.HasPrefix(chunks[0], wantPrefix) || !strings.HasSuffix(chunks[n-1], fmt.Sprintf("/%06d", n-1)) {
				t.Errorf("version %d chunked: chunk keys %v; want %d under %s…", v, chunks, n, wantPrefix)
			}
			if len(ks) != n+2 || ks[n] != "manifest" || ks[n+1] != "version" {
				t.Errorf("version %d chunked: keys %v; want the chunks, manifest and version", v, ks)
			}
		}
		got := mustNext(t, src, v)
		if !bytes.Equal(got.Bytes(), m.Bytes()) {
			t.Errorf("version %d read back as %s; want %s", v, got.Bytes(), m.Bytes())
		}
	}
}

// TestRacingPublishers starts two publishers from the same base, again and
// again: exactly one wins, the other gets a *ConflictError naming the
// winner's version, and the loser leaves no chunk behind.
func TestRacingPublishers(t *testing.T) {
	te := startEtcd(t)
	ctx := context.Background()
	for _, chunk := range []int{0, 40} {
		prefix := fmt.Sprintf("/race-%d/", chunk)
		pubs := [2]*Publisher{
			newPublisher(t, te.client, prefix, PublisherConfig{ChunkBytes: chunk}),
			newPublisher(t, te.newClient(), prefix, PublisherConfig{ChunkBytes: chunk}),
		}
		src := newSource(t, te.client, prefix, Config{})
		base := uint64(0)
		wins := [2]int{}
		for round := range 30 {
			// Each builds its own next version: 2·round+1 or 2·round+2.
			versions := [2]uint64{uint64(2*round + 1), uint64(2*round + 2)}
			maps := [2]*placement.Map{testMap(t, versions[0]), testMap(t, versions[1])}
			var errs [2]error
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 2 {
				wg.Go(func() {
					<-start
					errs[i] = pubs[i].Publish(ctx, base, maps[i], nil)
				})
			}
			close(start)
			wg.Wait()
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("chunk %d round %d: Publish errors %v and %v; want exactly one nil", chunk, round, errs[0], errs[1])
			}
			w := 0
			if errs[1] == nil {
				w = 1
			}
			wins[w]++
			var ce *ConflictError
			if !errors.As(errs[1-w], &ce) || *ce != (ConflictError{Base: base, Stored: versions[w]}) {
				t.Fatalf("chunk %d round %d: loser's error %v; want a conflict with version %d", chunk, round, errs[1-w], versions[w])
			}
			if got := mustNext(t, src, versions[w]); !bytes.Equal(got.Bytes(), maps[w].Bytes()) {
				t.Fatalf("chunk %d round %d: stored %s; want the winner's %s", chunk, round, got.Bytes(), maps[w].Bytes())
			}
			base = versions[w]
		}
		dirs := map[string]bool{}
		for _, k := range storedKeys(t, te.client, prefix) {
			if d, ok := strings.CutPrefix(k, "chunk/"); ok {
				dirs[d[:strings.IndexByte(d, '/')]] = true
			}
		}
		if chunk > 0 && len(dirs) != 1 || chunk == 0 && len(dirs) != 0 {
			t.Errorf("chunk %d: chunk directories %v remain; want only the stored document's", chunk, dirs)
		}
		t.Logf("chunk %d: wins %v", chunk, wins)
	}
}

// TestBigDocument publishes a 20 MiB map (100 cells, 1,000,000 overrides)
// over another of the same size, under etcd's default request limits, and
// reads the store as a source does at revisions the publish went through
// (before it, after its first and middle chunk, before and at its commit):
// each holds the old document or the new one, whole. A reader racing the
// publish checks the same at full speed, and a source then reads the new
// map. The old document is stored unparsed, to keep the test short.
func TestBigDocument(t *testing.T) {
	te := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second) // -race on a loaded machine
	defer cancel()
	const cells, overrides = 100, 1_000_000
	old, doc := bigDoc(1, cells, overrides), bigDoc(2, cells, overrides)
	if len(doc) < 20<<20 || len(old) < 20<<20 {
		t.Fatalf("documents of %d and %d bytes; want at least 20 MiB", len(old), len(doc))
	}
	m, err := placement.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[[32]byte]uint64{sha256.Sum256(old): 1, sha256.Sum256(doc): 2}
	p := newPublisher(t, te.client, "/big/", PublisherConfig{})
	if err := p.publish(ctx, 0, 1, old, nil); err != nil {
		t.Fatal(err)
	}
	first, err := te.client.Get(ctx, "/big/version")
	if err != nil {
		t.Fatal(err)
	}

	// readAt reads the store at rev (0: now) the way a source does.
	reader := newSource(t, te.newClient(), "/big/", Config{})
	readAt := func(rev int64) (uint64, error) {
		if err := reader.read(ctx, rev); err != nil {
			return 0, err
		}
		doc, err := reader.document(ctx)
		if err != nil {
			return 0, err
		}
		v, ok := sums[sha256.Sum256(doc)]
		if !ok {
			return 0, fmt.Errorf("a document of %d bytes that is neither version", len(doc))
		}
		return v, nil
	}
	racing := make(chan []uint64)
	published := make(chan struct{})
	go func() {
		// Reads until it sees the new version.
		var seen []uint64
		done := false
		for {
			select {
			case <-published:
				done = true
			default:
			}
			v, err := readAt(0)
			if err != nil {
				t.Errorf("racing read: %v", err)
				break
			}
			seen = append(seen, v)
			if v == 2 {
				break
			}
			if done { // reads are linearizable: this one began after Publish returned
				t.Errorf("racing reader: version %d after the publish returned", v)
				break
			}
		}
		racing <- seen
	}()
	start := time.Now()
	if err := p.Publish(ctx, 1, m, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("published %d bytes in %v", len(doc), time.Since(start).Round(time.Millisecond))
	close(published)
	t.Logf("the racing reader saw versions %v", <-racing)

	last, err := te.client.Get(ctx, "/big/version")
	if err != nil {
		t.Fatal(err)
	}
	// One revision a chunk, then the commit.
	r0, r1 := first.Header.Revision, last.Header.Revision
	if chunks := int64(len(doc)+1<<20-1) >> 20; r1-r0 != chunks+1 {
		t.Fatalf("the publish went from revision %d to %d; want one a chunk (%d) and the commit", r0, r1, chunks)
	}
	for _, rev := range []int64{r0, r0 + 1, (r0 + r1) / 2, r1 - 1, r1} {
		v, err := readAt(rev)
		want := uint64(1)
		if rev == r1 {
			want = 2
		}
		if err != nil || v != want {
			t.Errorf("read at revision %d = version %d, %v; want %d", rev, v, err, want)
		}
	}
	if ks := storedKeys(t, te.client, "/big/chunk/"); len(ks) != (len(doc)+1<<20-1)>>20 {
		t.Errorf("%d chunks stored; want only the new document's", len(ks))
	}

	src := newSource(t, te.newClient(), "/big/", Config{})
	got := mustNext(t, src, 2)
	if !bytes.Equal(got.Bytes(), doc) || got.Overrides() != overrides || len(got.Cells()) != cells {
		t.Errorf("read back %d bytes, %d overrides, %d cells; want the %d bytes published, %d, %d",
			len(got.Bytes()), got.Overrides(), len(got.Cells()), len(doc), overrides, cells)
	}
}
