package placement

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// srcDoc returns a valid document of the given version with the given
// cells, c1 and c2 by default.
func srcDoc(version int, cells ...string) []byte {
	if len(cells) == 0 {
		cells = []string{"c1", "c2"}
	}
	ids := make([]string, len(cells))
	for i, c := range cells {
		ids[i] = fmt.Sprintf(`{"id": %q}`, c)
	}
	return fmt.Appendf(nil, `{"version": %d, "cells": [%s]}`, version, strings.Join(ids, ", "))
}

func srcMap(t testing.TB, version int) *Map {
	t.Helper()
	m, err := Parse(srcDoc(version))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// srcKey is a fixed signing key for tests.
func srcKey() (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed([]byte("cellkit placement source tests!!"))
	return priv.Public().(ed25519.PublicKey), priv
}

// srcReplace replaces path with data the way a control plane should: write
// a temporary file, then rename it over path.
func srcReplace(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "writer-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// srcOutcome describes what Next returned, for comparisons.
func srcOutcome(m *Map, err error) string {
	switch {
	case err != nil:
		return "error: " + err.Error()
	case m == nil:
		return "nil map"
	default:
		return fmt.Sprintf("version %d", m.Version())
	}
}

// srcCheck compares what Next returned with an expected version (when
// wantErr is nil and want > 0), an error matching wantErr, or nothing new:
// want 0 and wantErr nil, seen as ctx ending first.
func srcCheck(t *testing.T, name string, m *Map, err error, want uint64, wantErr error) {
	t.Helper()
	switch {
	case wantErr != nil:
		var se *SourceError
		switch {
		case !errors.Is(err, wantErr):
			t.Errorf("%s: Next() = %s; want an error matching %v", name, srcOutcome(m, err), wantErr)
		case !errors.As(err, &se):
			t.Errorf("%s: Next() = %s (%T); want a *SourceError", name, srcOutcome(m, err), err)
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			t.Errorf("%s: Next() = %s; a report must not read as the end of ctx", name, srcOutcome(m, err))
		}
	case want == 0:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: Next() = %s; want nothing new (ctx deadline)", name, srcOutcome(m, err))
		}
	default:
		if err != nil || m == nil || m.Version() != want {
			t.Errorf("%s: Next() = %s; want version %d", name, srcOutcome(m, err), want)
		}
	}
}

func TestStaticSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := srcMap(t, 7)
		s := NewStatic(m)

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if got, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Next(canceled) = %s; want context.Canceled", srcOutcome(got, err))
		}

		// Concurrent callers: exactly one gets the map, the others wait for
		// their ctx.
		var mu sync.Mutex
		got := 0
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
				defer cancel()
				m2, err := s.Next(ctx)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && m2 == m:
					got++
				case !errors.Is(err, context.DeadlineExceeded):
					t.Errorf("Next() = %s; want the map or the deadline", srcOutcome(m2, err))
				}
			})
		}
		wg.Wait()
		if got != 1 {
			t.Errorf("%d calls of Next got the map; want 1", got)
		}
	})
}

func TestStaticSourceNil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewStatic(nil)
		if m, err := s.Next(t.Context()); m != nil || !errors.Is(err, ErrFetch) {
			t.Fatalf("Next() = %v, %v; want nil, ErrFetch", m, err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if m, err := s.Next(ctx); m != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second Next() = %v, %v; want it to wait for ctx", m, err)
		}
	})
}

func TestSourceError(t *testing.T) {
	err := error(&SourceError{Source: "/etc/map.json", Err: fieldErr(ErrStaleVersion, "version", "", "3 is lower than 5")})
	if got, want := err.Error(), "placement: source /etc/map.json: version: 3 is lower than 5"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if !errors.Is(err, ErrStaleVersion) {
		t.Errorf("errors.Is(%v, ErrStaleVersion) = false", err)
	}
}

// TestSourcePace checks the schedule of polls shared by the polling sources:
// the first at once, then an interval after the end of the last, sooner on
// Refresh but not sooner than the minimum gap, and ctx ending the wait at once.
func TestSourcePace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(time.Minute, time.Second, 0)
		wait := func(name string, want time.Duration) {
			t.Helper()
			t0 := time.Now()
			if err := p.wait(t.Context()); err != nil {
				t.Fatalf("%s: wait() = %v", name, err)
			}
			if got := time.Since(t0); got != want {
				t.Errorf("%s: wait() took %v; want %v", name, got, want)
			}
			p.done()
		}
		p.wake() // answered by the first poll
		wait("first", 0)
		wait("second", time.Minute)

		// A Refresh made while nobody waits makes the next wait short.
		for range 5 {
			p.wake()
		}
		wait("refreshed", time.Second)
		wait("refresh coalesced", time.Minute)

		// A Refresh during the wait cuts it to the minimum gap.
		go func() {
			time.Sleep(10 * time.Second)
			p.wake()
		}()
		wait("refresh while waiting", 10*time.Second)

		// A Refresh after the minimum gap has passed polls at once.
		go func() {
			time.Sleep(20 * time.Second)
			p.wake()
		}()
		wait("late refresh", 20*time.Second)

		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		t0 := time.Now()
		if err := p.wait(ctx); !errors.Is(err, context.Canceled) || time.Since(t0) != time.Second {
			t.Errorf("wait(canceled after 1s) = %v after %v; want context.Canceled after 1s", err, time.Since(t0))
		}
	})
}

func TestSourceJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(10*time.Second, time.Second, 0.5)
		p.done()
		seen := map[time.Duration]bool{}
		for range 200 {
			t0 := time.Now()
			if err := p.wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			d := time.Since(t0)
			if d < 5*time.Second || d > 15*time.Second {
				t.Fatalf("interval %v with 10s ± 50%%; want within [5s, 15s]", d)
			}
			seen[d] = true
			p.done()
		}
		if len(seen) < 100 {
			t.Errorf("%d distinct intervals out of 200; want them spread", len(seen))
		}
	})
}
