package etcdsource

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/etcdsource/internal/layout"
)

// The memory test measures the heap of the process of one Source while
// another process writes under the prefix. The other process is this test
// binary again, running TestMemoryServerProcess: it embeds the etcd server
// (whose raft log would otherwise keep every value written in the heap
// measured) and writes what the parent asks, one command a line on its
// stdin, answering "ok" or "err …" on its stdout.
const memServerEnv = "ETCDSOURCE_MEMORY_SERVER"

// memMaxBytes is the clients' Limits.MaxBytes in the memory test; the
// attacks write memAttackChunks chunks of 1 MiB, ten times as much.
const (
	memMaxBytes     = 4 << 20
	memAttackChunks = 40
)

// TestMemoryServerProcess is the server process of TestMemoryBounded; run
// on its own it skips.
func TestMemoryServerProcess(t *testing.T) {
	if os.Getenv(memServerEnv) == "" {
		t.Skip("the server process of TestMemoryBounded")
	}
	te := startEtcd(t)
	ctx := context.Background()
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{ChunkBytes: 256 << 10})
	fmt.Printf("ready %s\n", te.cfg.AdvertiseClientUrls[0].String())
	chunk := strings.Repeat("x", 1<<20)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		var err error
		switch f[0] {
		case "publish": // publish <base> <version>: a chunked map of about 1 MiB
			base, _ := strconv.ParseUint(f[1], 10, 64)
			v, _ := strconv.ParseUint(f[2], 10, 64)
			var m *placement.Map
			if m, err = placement.Parse(bigDoc(v, 10, 40_000)); err == nil {
				err = p.Publish(ctx, base, m, nil)
			}
		case "orphans": // chunks of 1 MiB under ids no manifest names
			for i := 0; i < memAttackChunks && err == nil; i++ {
				_, err = te.client.Put(ctx, fmt.Sprintf("/cellkit/chunk/%020d-%016x/000000", 99, i), chunk)
			}
		case "manifest": // manifest <bytes>: a manifest declaring bytes over memAttackChunks chunks of 1 MiB
			n, _ := strconv.Atoi(f[1])
			for i := 0; i < memAttackChunks && err == nil; i++ {
				_, err = te.client.Put(ctx, fmt.Sprintf("/cellkit/chunk/%s/%06d", f[1], i), chunk)
			}
			if err == nil {
				sum := sha256.Sum256([]byte(f[1]))
				man := layout.Manifest{ID: f[1], Chunks: memAttackChunks, Bytes: n, SHA256: hex.EncodeToString(sum[:])}
				_, err = te.client.Put(ctx, "/cellkit/manifest", string(man.Encode()))
			}
		default:
			err = errors.New("unknown command")
		}
		if err != nil {
			fmt.Printf("err %v\n", err)
		} else {
			fmt.Printf("ok\n")
		}
	}
}

// memServer is the parent's end of TestMemoryServerProcess.
type memServer struct {
	t   *testing.T
	in  *os.File
	out *bufio.Scanner
}

func (s *memServer) do(cmd string) {
	s.t.Helper()
	if _, err := fmt.Fprintln(s.in, cmd); err != nil {
		s.t.Fatal(err)
	}
	if !s.out.Scan() || s.out.Text() != "ok" {
		s.t.Fatalf("server process, %s: %q %v", cmd, s.out.Text(), s.out.Err())
	}
}

func startMemServer(t *testing.T) (*memServer, string) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryServerProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), memServerEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close() // the server process ends at the end of its input
		if err := cmd.Wait(); err != nil {
			t.Errorf("server process: %v", err)
		}
	})
	s := &memServer{t: t, in: in.(*os.File), out: bufio.NewScanner(out)}
	if !s.out.Scan() || !strings.HasPrefix(s.out.Text(), "ready ") {
		t.Fatalf("server process did not start: %q %v", s.out.Text(), s.out.Err())
	}
	return s, strings.TrimPrefix(s.out.Text(), "ready ")
}

// heapPeak samples the live heap every millisecond until stopped.
type heapPeak struct {
	stop chan struct{}
	done sync.WaitGroup
	max  uint64
}

func sampleHeap() *heapPeak {
	h := &heapPeak{stop: make(chan struct{})}
	h.done.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			h.max = max(h.max, ms.HeapAlloc)
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	})
	return h
}

func (h *heapPeak) peak() uint64 {
	close(h.stop)
	h.done.Wait()
	return h.max
}

// heapLive is the heap after two collections: the second empties the
// victim caches of the pools (gRPC's buffers) that the first kept.
func heapLive() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMemoryBounded attacks a Source with the two writes of issue 19 at a
// tenth of their size, against a MaxBytes of 4 MiB: 40 chunks of 1 MiB
// under ids no manifest names (a publisher failing mid-publish, or any
// writer to the prefix), then a manifest that declares a small document over
// 40 chunks of 1 MiB, then one that declares MaxBytes over them. The
// source's process stays within 2 × MaxBytes + 4 MiB (gRPC's buffers of a chunk or two and
// the collector's slack) of its heap before the
// attacks at every sample, keeps less than 1 MiB of it after the refusals,
// and delivers the next publish. The garbage collector runs at GOGC 10 so
// that the heap sampled is close to the live heap.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process and writes 120 MiB")
	}
	srv, endpoint := startMemServer(t)
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	te := &testEtcd{t: t}
	c := te.clientAt(endpoint)
	src := newSource(t, c, "/cellkit/", Config{})
	src.SetParse(placement.Options{Limits: placement.Limits{MaxBytes: memMaxBytes}}, nil)
	srv.do("publish 0 1")
	mustNext(t, src, 1)
	base := heapLive()

	h := sampleHeap()
	srv.do("orphans")
	srv.do("manifest 300")
	if m, err := next(t, src, 20*time.Second); !errors.Is(err, ErrLayout) {
		t.Fatalf("Next() after a manifest of 300 bytes over 40 MiB = %v, %v; want ErrLayout", m, err)
	}
	srv.do("manifest " + strconv.Itoa(memMaxBytes))
	if m, err := next(t, src, 20*time.Second); !errors.Is(err, ErrLayout) {
		t.Fatalf("Next() after a manifest of MaxBytes over 40 MiB = %v, %v; want ErrLayout", m, err)
	}
	kept := int64(heapLive()) - int64(base)
	peak := int64(h.peak()) - int64(base)
	t.Logf("heap over the %d MiB before the attacks: peak %.1f MiB, %.1f MiB kept after the refusals (MaxBytes %d MiB)",
		base>>20, float64(peak)/(1<<20), float64(kept)/(1<<20), memMaxBytes>>20)
	if limit := int64(2*memMaxBytes + 4<<20); peak > limit {
		t.Errorf("peak heap %d bytes over the start; want at most 2 × MaxBytes + 4 MiB = %d", peak, limit)
	}
	if kept > 1<<20 {
		t.Errorf("heap kept after the refusals: %d bytes over the start; want less than 1 MiB", kept)
	}
	srv.do("publish 1 2")
	mustNext(t, src, 2)
}
