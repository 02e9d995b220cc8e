package source

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/placement"
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

func srcMap(t testing.TB, version int) *placement.Map {
	t.Helper()
	m, err := placement.Parse(srcDoc(version))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// srcKey and srcKey2 are fixed signing keys for tests; only the first is
// trusted.
func srcKey() (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed([]byte("cellkit placement source tests!!"))
	return priv.Public().(ed25519.PublicKey), priv
}

func srcKey2() (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed([]byte("another key, trusted by no one.."))
	return priv.Public().(ed25519.PublicKey), priv
}

// srcOutcome describes what Next returned, for comparisons.
func srcOutcome(m *placement.Map, err error) string {
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
func srcCheck(t *testing.T, name string, m *placement.Map, err error, want uint64, wantErr error) {
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

// nextWithin calls Next with a deadline d away.
func nextWithin(s Source, ctx context.Context, d time.Duration) (*placement.Map, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return s.Next(ctx)
}

// A fakeFS is an in-memory file system for File sources, counting the
// stats and opens of each name. It is safe for concurrent use.
type fakeFS struct {
	mu    sync.Mutex
	files map[string]fakeFile
	stats map[string]int
	opens map[string]int
}

type fakeFile struct {
	data  []byte
	mode  fs.FileMode
	mtime time.Time
}

func newFakeFS() *fakeFS {
	return &fakeFS{files: map[string]fakeFile{}, stats: map[string]int{}, opens: map[string]int{}}
}

// write replaces name with a regular file of data, modified at mtime.
func (f *fakeFS) write(name string, data []byte, mtime time.Time) {
	f.set(name, fakeFile{data: data, mode: 0o644, mtime: mtime})
}

func (f *fakeFS) set(name string, file fakeFile) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[name] = file
}

func (f *fakeFS) remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.files, name)
}

// counts returns the stats and opens of name so far.
func (f *fakeFS) counts(name string) (stats, opens int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats[name], f.opens[name]
}

func (f *fakeFS) lookup(op, name string) (fakeFile, error) {
	file, ok := f.files[name]
	if !ok {
		return fakeFile{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return file, nil
}

func (f *fakeFS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats[name]++
	file, err := f.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return fakeInfo{path.Base(name), file}, nil
}

func (f *fakeFS) Open(name string) (fs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens[name]++
	file, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if !file.mode.IsRegular() {
		// A FIFO would block here; no test may get this far.
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("fakeFS: opened a file that is not regular")}
	}
	return &fakeOpen{fakeInfo{path.Base(name), file}, strings.NewReader(string(file.data))}, nil
}

type fakeInfo struct {
	name string
	f    fakeFile
}

func (i fakeInfo) Name() string       { return i.name }
func (i fakeInfo) Size() int64        { return int64(len(i.f.data)) }
func (i fakeInfo) Mode() fs.FileMode  { return i.f.mode }
func (i fakeInfo) ModTime() time.Time { return i.f.mtime }
func (i fakeInfo) IsDir() bool        { return i.f.mode.IsDir() }
func (i fakeInfo) Sys() any           { return nil }

type fakeOpen struct {
	info fakeInfo
	r    io.Reader
}

func (o *fakeOpen) Stat() (fs.FileInfo, error) { return o.info, nil }
func (o *fakeOpen) Read(b []byte) (int, error) { return o.r.Read(b) }
func (o *fakeOpen) Close() error               { return nil }

func TestStatic(t *testing.T) {
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
				m2, err := nextWithin(s, t.Context(), time.Hour)
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

func TestStaticNil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewStatic(nil)
		if m, err := s.Next(t.Context()); m != nil || !errors.Is(err, ErrFetch) {
			t.Fatalf("Next() = %v, %v; want nil, ErrFetch", m, err)
		}
		if m, err := nextWithin(s, t.Context(), time.Second); m != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second Next() = %v, %v; want it to wait for ctx", m, err)
		}
	})
}

// TestPace checks the schedule of polls shared by the polling sources: the
// first at once, then an interval after the end of the last, sooner on
// Refresh but not sooner than the minimum gap, and ctx ending the wait at
// once.
func TestPace(t *testing.T) {
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

func TestPaceJitter(t *testing.T) {
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

// TestAdmit checks the one version gate: higher is news, lower is stale,
// the same document again is not news, another document under the version
// in force is stale.
func TestAdmit(t *testing.T) {
	cur := srcMap(t, 5)
	for _, st := range []struct {
		name    string
		cur     *placement.Map
		doc     []byte
		news    bool
		wantErr error
	}{
		{"first map", nil, srcDoc(3), true, nil},
		{"lower", cur, srcDoc(3), false, ErrStaleVersion},
		{"same document", cur, srcDoc(5), false, nil},
		{"same version, other cells", cur, srcDoc(5, "c1", "c3"), false, ErrStaleVersion},
		{"higher", cur, srcDoc(6), true, nil},
	} {
		m, err := placement.Parse(st.doc)
		if err != nil {
			t.Fatal(err)
		}
		news, err := admit(st.cur, m)
		if news != st.news || !errors.Is(err, st.wantErr) || (st.wantErr == nil) != (err == nil) {
			t.Errorf("%s: admit() = %v, %v; want %v, %v", st.name, news, err, st.news, st.wantErr)
		}
	}
}

func TestReporter(t *testing.T) {
	var r reporter
	e1, e2 := errors.New("one"), errors.New("two")
	k := keyOf([]byte("doc"), nil)
	for i, st := range []struct {
		o    outcome
		err  error
		want error
	}{
		{outcome{failure: "one"}, e1, e1},
		{outcome{failure: "one"}, e1, nil},
		{outcome{failure: "two"}, e2, e2},
		{outcome{content: k}, nil, nil},
		{outcome{failure: "two"}, e2, e2}, // the state changed in between
		{outcome{failure: "two"}, e2, nil},
	} {
		if got := r.report(st.o, st.err); got != st.want {
			t.Errorf("step %d: report(%q) = %v; want %v", i, st.o.failure, got, st.want)
		}
	}
	if r.judged(k) || !r.judged(k) {
		t.Errorf("judged(k) twice = first true or second false; want false, then true")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSourceError(t *testing.T) {
	err := error(&SourceError{Source: "/etc/map.json", Err: fieldErr(placement.ErrSignature, "signature", "no signature verifies")})
	if got, want := err.Error(), "source: /etc/map.json: signature: no signature verifies"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if !errors.Is(err, placement.ErrSignature) {
		t.Errorf("errors.Is(%v, ErrSignature) = false", err)
	}
	err = fetchErr("http://cp/map", errors.New("status 500"))
	if got, want := err.Error(), "source: http://cp/map: cannot fetch the map: status 500"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}
