//go:build unix

package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeFIFO: a FIFO at the map's path (with no writer, whose open
// blocks) holds no request: requests are answered from the map in force,
// and the file source reports the FIFO. Before serve ran on a Follower, a
// request opened the file under the server's mutex and every request hung.
func TestServeFIFO(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "map.json")
	writeMap(t, path, serveV1, nil)
	url, log := startServe(t, path)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := os.Rename(fifo, path); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got := get(t, "GET", url); got.status != 200 || got.body != serveV1 {
			t.Fatalf("with a FIFO at the path: %d %q; want v1", got.status, got.body)
		}
	}
	eventually(t, "the FIFO reported", func() bool { return strings.Contains(log.String(), "not a regular file") })
	if got := get(t, "GET", url); got.body != serveV1 {
		t.Fatalf("after the FIFO was reported: %q; want v1", got.body)
	}

	// Started on a FIFO, serve refuses at once.
	done := make(chan int, 1)
	var errOut syncBuffer
	go func() {
		done <- run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", path}, io.Discard, &errOut)
	}()
	select {
	case code := <-done:
		if code != exitRefused || !strings.Contains(errOut.String(), "not a regular file") {
			t.Errorf("serve on a FIFO: exit %d, %q; want %d and not a regular file", code, errOut.String(), exitRefused)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve on a FIFO hangs")
	}
}
