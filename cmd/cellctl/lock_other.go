//go:build !unix

package main

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"time"
)

// lockFile takes the lock file path, created exclusively, waiting up to
// wait for another holder, and returns its release. Systems without
// flock(2) (Windows) have only this lock: a publisher killed while holding
// it leaves the file, which must then be removed by hand.
func lockFile(ctx context.Context, path string, wait time.Duration) (func(), error) {
	deadline := time.Now().Add(wait)
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%d\n", os.Getpid())
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, iofs.ErrExist) {
			return nil, err
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("%w: %s exists: another publish is running, or one was interrupted (then remove the file)", errLocked, path)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
