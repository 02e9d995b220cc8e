//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lockFile takes an exclusive flock(2) on the file at path (created if
// missing, and never removed: removing a lock file while another publisher
// waits on it would let a third take a lock on a new file beside it),
// waiting up to wait for another holder, and returns its release. The
// kernel releases the lock when its holder exits, however it exits, so a
// killed publisher leaves no stale lock; the holder's process ID is written
// into the file for the message of the next publisher that has to wait.
func lockFile(ctx context.Context, path string, wait time.Duration) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("cellctl: lock %s: %w", path, err)
		}
		if !time.Now().Before(deadline) {
			holder := "another publish"
			if b, err := os.ReadFile(path); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
					holder = fmt.Sprintf("another publish (process %d)", pid)
				}
			}
			f.Close()
			return nil, fmt.Errorf("%w: %s holds %s; gave up after %v", errLocked, holder, path, wait)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	// The ID is for messages only: the flock is the lock.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		f.Truncate(0)
		syscall.Flock(fd, syscall.LOCK_UN)
		f.Close()
	}, nil
}
