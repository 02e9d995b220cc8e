package source

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/placement"
)

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

// A fileStep changes the fake file system, then checks what Next makes of
// it within five poll intervals.
type fileStep struct {
	name      string
	do        func(fsys *fakeFS) // nil: leave the files alone
	want      uint64
	wantErr   error // with want 0 and wantErr nil: nothing new
	wantOpens int   // opens of the document during the step; -1: any
}

// Changes of the fake file system. Files written are an hour old when
// written, so that their stat is trusted at once.
func fsWrite(name string, data []byte) func(*fakeFS) {
	return func(f *fakeFS) { f.write(name, data, time.Now().Add(-time.Hour)) }
}

func fsMode(name string, mode fs.FileMode) func(*fakeFS) {
	return func(f *fakeFS) { f.set(name, fakeFile{mode: mode, mtime: time.Now().Add(-time.Hour)}) }
}

func fsRemove(name string) func(*fakeFS) { return func(f *fakeFS) { f.remove(name) } }

func runFileSteps(t *testing.T, fsys *fakeFS, s *File, doc string, steps []fileStep) {
	t.Helper()
	for _, st := range steps {
		if st.do != nil {
			st.do(fsys)
		}
		_, opens := fsys.counts(doc)
		m, err := nextWithin(s, t.Context(), 5*time.Second)
		srcCheck(t, st.name, m, err, st.want, st.wantErr)
		if _, now := fsys.counts(doc); st.wantOpens >= 0 && now-opens != st.wantOpens {
			t.Errorf("%s: %d opens of the document; want %d", st.name, now-opens, st.wantOpens)
		}
	}
}

// TestFile walks the file source through every state a file can be in. Each
// state is reported once, and the next report comes only when the state
// changes; non-regular files are never opened; unchanged files are only
// stated.
func TestFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := newFakeFS()
		s, err := NewFile("map.json", FileConfig{FS: fsys})
		if err != nil {
			t.Fatal(err)
		}
		s.SetParse(placement.Options{Limits: placement.Limits{MaxBytes: 200}}, nil)
		big := srcDoc(9, "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11", "c12", "c13", "c14", "c15")
		garbage := []byte(`{"version": 2, "cells": [`)
		w := func(data []byte) func(*fakeFS) { return fsWrite("map.json", data) }
		runFileSteps(t, fsys, s, "map.json", []fileStep{
			{name: "missing", wantErr: fs.ErrNotExist},
			{name: "still missing"},
			{name: "a directory", do: fsMode("map.json", fs.ModeDir|0o755), wantErr: ErrNotRegular},
			{name: "a directory, still"},
			{name: "first", do: w(srcDoc(1)), want: 1, wantOpens: 1},
			{name: "unchanged: stat only"},
			{name: "same bytes rewritten", do: w(srcDoc(1)), wantOpens: 1},
			{name: "garbage", do: w(garbage), wantErr: placement.ErrSyntax, wantOpens: 1},
			{name: "garbage rewritten", do: w(garbage), wantOpens: 1},
			{name: "invalid", do: w(srcDoc(2, "c1", "c1")), wantErr: placement.ErrDuplicateCell, wantOpens: 1},
			{name: "newer", do: w(srcDoc(3)), want: 3, wantOpens: 1},
			// Versions are the Follower's to judge: a source delivers
			// whatever new content it read, once.
			{name: "older", do: w(srcDoc(2)), want: 2, wantOpens: 1},
			{name: "older again", do: w(srcDoc(2)), wantOpens: 1},
			{name: "same version, other cells", do: w(srcDoc(3, "c1", "c3")), want: 3, wantOpens: 1},
			{name: "back to the first of version 3", do: w(srcDoc(3)), want: 3, wantOpens: 1},
			{name: "too large: the stat says so", do: w(big), wantErr: placement.ErrLimit},
			{name: "too large, still"},
			{name: "a FIFO", do: fsMode("map.json", fs.ModeNamedPipe|0o644), wantErr: ErrNotRegular},
			{name: "a FIFO, still"},
			{name: "removed", do: fsRemove("map.json"), wantErr: ErrFetch},
			{name: "back, newer", do: w(srcDoc(4)), want: 4, wantOpens: 1},
			{name: "a directory again", do: fsMode("map.json", fs.ModeDir|0o755), wantErr: ErrNotRegular},
			{name: "a device", do: fsMode("map.json", fs.ModeDevice|fs.ModeCharDevice|0o644), wantErr: ErrNotRegular},
			{name: "back, same", do: w(srcDoc(4)), wantOpens: 1},
		})
	})
}

// TestFileStatOnly exercises the fast path: while a file's stat does not
// change and its modification time is older than the racy window, a poll
// costs a stat and reads nothing; a file modified less than the window ago
// is read again at each poll, and a change that keeps size and modification
// time is then seen.
func TestFileStatOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := newFakeFS()
		s, err := NewFile("map.json", FileConfig{FS: fsys, Interval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		fsys.write("map.json", srcDoc(1), old)
		if m, err := s.Next(t.Context()); err != nil || m.Version() != 1 {
			t.Fatalf("Next() = %s; want version 1", srcOutcome(m, err))
		}
		// Ten polls: ten stats, no open.
		stats0, opens0 := fsys.counts("map.json")
		m, err := nextWithin(s, t.Context(), 10*time.Second+time.Millisecond)
		srcCheck(t, "old file, unchanged", m, err, 0, nil)
		stats, opens := fsys.counts("map.json")
		if stats-stats0 != 10 || opens != opens0 {
			t.Errorf("10 polls of an unchanged file: %d stats, %d opens; want 10 stats, no open", stats-stats0, opens-opens0)
		}
		// An old file changed in place, keeping size and modification time,
		// is not seen (documented best effort).
		fsys.write("map.json", srcDoc(2), old)
		m, err = nextWithin(s, t.Context(), 5*time.Second)
		srcCheck(t, "old file changed in place", m, err, 0, nil)

		// A recent file is read at each poll within the window, so that an
		// in-place change is seen; then only stated again.
		recent := time.Now()
		fsys.write("map.json", srcDoc(3), recent)
		m, err = nextWithin(s, t.Context(), 5*time.Second)
		srcCheck(t, "recent file", m, err, 3, nil)
		fsys.write("map.json", srcDoc(4), recent)
		m, err = nextWithin(s, t.Context(), 5*time.Second)
		srcCheck(t, "recent file changed in place", m, err, 4, nil)
		_, opens0 = fsys.counts("map.json")
		m, err = nextWithin(s, t.Context(), 10*time.Second+time.Millisecond)
		srcCheck(t, "recent file, unchanged", m, err, 0, nil)
		// Polls 1s, 2s, ... after the write: read while within 2s of it.
		if _, opens = fsys.counts("map.json"); opens-opens0 != 1 {
			t.Errorf("10 polls after a recent write: %d opens; want 1, in the racy window", opens-opens0)
		}
	})
}

func TestFileConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		cfg  FileConfig
	}{
		{"empty path", "", FileConfig{}},
		{"negative interval", "map.json", FileConfig{Interval: -time.Second}},
		{"rooted name in an FS", "/etc/map.json", FileConfig{FS: newFakeFS()}},
		{"bad signature name in an FS", "map.json", FileConfig{FS: newFakeFS(), SignaturePath: "../sig"}},
	} {
		if _, err := NewFile(tc.path, tc.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: NewFile(%q) = %v; want an error matching ErrConfig", tc.name, tc.path, err)
		}
	}
	if _, err := NewFile("/etc/cellkit/map.json", FileConfig{}); err != nil {
		t.Errorf("NewFile(absolute path) = %v; want no error", err)
	}
}

func TestFileSigned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub, priv := srcKey()
		_, other := srcKey2()
		fsys := newFakeFS()
		s, err := NewFile("map.json", FileConfig{FS: fsys, SignaturePath: "sig"})
		if err != nil {
			t.Fatal(err)
		}
		s.SetParse(placement.Options{PublicKeys: []ed25519.PublicKey{pub}}, nil)
		sidecar := func(sigs ...[]byte) []byte { return formatSidecar(sigs) }
		steps := []struct {
			name     string
			doc, sig []byte // nil: leave the file alone
			want     uint64
			wantErr  error
		}{
			{name: "no signature file", doc: srcDoc(1), wantErr: placement.ErrSignature},
			{name: "signed", sig: sidecar(placement.Sign(priv, srcDoc(1))), want: 1},
			// The writer's protocol: add the new signature, then rename the
			// document, then drop the old signature. No step is reported.
			{name: "new signature added", sig: sidecar(placement.Sign(priv, srcDoc(2)), placement.Sign(priv, srcDoc(1)))},
			{name: "new document", doc: srcDoc(2), want: 2},
			{name: "old signature dropped", sig: sidecar(placement.Sign(priv, srcDoc(2)))},
			{name: "untrusted key", doc: srcDoc(3), sig: sidecar(placement.Sign(other, srcDoc(3))), wantErr: placement.ErrSignature},
			{name: "not base64", sig: []byte("not base64!\n"), wantErr: placement.ErrSignature},
			{name: "too many", sig: []byte(strings.Repeat("AAAA\n", maxSidecarSigs+1)), wantErr: placement.ErrLimit},
			{name: "too large", sig: make([]byte, maxSidecarBytes+1), wantErr: placement.ErrLimit},
			{name: "too large, still", sig: make([]byte, maxSidecarBytes+1)},
			{name: "a directory", sig: []byte{}, wantErr: ErrNotRegular},
			{name: "fixed", sig: sidecar(placement.Sign(priv, srcDoc(3))), want: 3},
		}
		for _, st := range steps {
			switch {
			case st.sig != nil && len(st.sig) == 0:
				fsys.set("sig", fakeFile{mode: fs.ModeDir | 0o755})
			case st.sig != nil:
				fsys.write("sig", st.sig, time.Now().Add(-time.Hour))
			}
			if st.doc != nil {
				fsys.write("map.json", st.doc, time.Now().Add(-time.Hour))
			}
			m, err := nextWithin(s, t.Context(), 5*time.Second)
			srcCheck(t, st.name, m, err, st.want, st.wantErr)
			if m != nil && !ed25519.Verify(pub, m.Bytes(), m.Signature()) {
				t.Errorf("%s: Signature() does not verify Bytes()", st.name)
			}
		}
	})
}

func TestFileRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := newFakeFS()
		fsys.write("map.json", srcDoc(1), time.Now().Add(-time.Hour))
		s, err := NewFile("map.json", FileConfig{FS: fsys, Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		var _ Refresher = s
		if m, err := s.Next(t.Context()); err != nil || m.Version() != 1 {
			t.Fatalf("Next() = %s; want version 1", srcOutcome(m, err))
		}

		// Refresh wakes a waiting Next, which polls at once.
		start := time.Now()
		go func() {
			time.Sleep(time.Minute)
			fsys.write("map.json", srcDoc(2), time.Now().Add(-time.Hour))
			s.Refresh()
		}()
		if m, err := s.Next(t.Context()); err != nil || m.Version() != 2 {
			t.Fatalf("Next() = %s; want version 2", srcOutcome(m, err))
		}
		if d := time.Since(start); d != time.Minute {
			t.Errorf("Next() returned after %v; want 1m, when Refresh was called", d)
		}

		// ctx ends a waiting Next at once.
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		start = time.Now()
		if m, err := s.Next(ctx); !errors.Is(err, context.Canceled) || time.Since(start) != time.Second {
			t.Errorf("Next() = %s after %v; want context.Canceled after 1s", srcOutcome(m, err), time.Since(start))
		}
	})
}

// TestFileOS runs the source on the operating system's files: a real
// directory in place of the file is reported once, then the file is read.
func TestFileOS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "map.json")
		s, err := NewFile(path, FileConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
		m, err := nextWithin(s, t.Context(), 5*time.Second)
		srcCheck(t, "a directory", m, err, 0, ErrNotRegular)
		m, err = nextWithin(s, t.Context(), 5*time.Second)
		srcCheck(t, "a directory, still", m, err, 0, nil)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := srcReplace(path, srcDoc(1)); err != nil {
			t.Fatal(err)
		}
		m, err = nextWithin(s, t.Context(), 5*time.Second)
		srcCheck(t, "a file", m, err, 1, nil)
	})
}

// within runs f and fails the test if it does not return in 10s of real
// time: a guard for code that might block in a system call, where synctest
// cannot help.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s blocked for 10s", what)
	}
}

// TestFileFIFO puts a real FIFO at the path, with no writer: open(2) of it
// for reading would block forever. The source must report it at once, and
// the open it does must not block either, should a FIFO replace the file
// between its stat and its open.
func TestFileFIFO(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "map.json")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	s, err := NewFile(path, FileConfig{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	within(t, "Next on a FIFO", func() {
		m, err := nextWithin(s, t.Context(), time.Minute)
		srcCheck(t, "a FIFO", m, err, 0, ErrNotRegular)
		if !errors.Is(err, ErrFetch) {
			t.Errorf("Next() = %v; want it to match ErrFetch too", err)
		}
	})
	within(t, "readRegular of a FIFO", func() {
		_, _, err := readRegular(osFS{}, path, 100, "document", sameOS)
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("readRegular(FIFO) = %v; want ErrNotRegular naming a FIFO", err)
		}
	})
	within(t, "LoadFile of a FIFO", func() {
		if _, err := LoadFile(path, placement.Options{}); !errors.Is(err, ErrNotRegular) {
			t.Errorf("LoadFile(FIFO) = %v; want ErrNotRegular", err)
		}
	})
}

// TestFileAtomicReplace replaces a real file 100 times, by rename, while a
// reader polls as fast as it can: the reader must never see a torn document
// nor a version going back.
func TestFileAtomicReplace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 100
		path := filepath.Join(t.TempDir(), "map.json")
		// A long label makes reads long enough to overlap writes; few
		// buckets keep parses short, so that the reader sees many versions.
		doc := func(v int) []byte {
			return fmt.Appendf(nil, `{"version": %d, "buckets": 64, "cells": [{"id": "c1", "labels": {"pad": %q}}, {"id": "c2"}]}`,
				v, strings.Repeat("x", 8000+v%7*1000))
		}
		if err := srcReplace(path, doc(1)); err != nil {
			t.Fatal(err)
		}
		s, err := NewFile(path, FileConfig{Interval: 50 * time.Microsecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		var wg sync.WaitGroup
		var werr error
		defer wg.Wait() // the writer stops early if the reader fails
		wg.Go(func() {
			r := rand.New(rand.NewPCG(1, 2))
			for v := 2; v <= n && ctx.Err() == nil; v++ {
				if werr = srcReplace(path, doc(v)); werr != nil {
					cancel()
					return
				}
				time.Sleep(time.Duration(r.IntN(400)) * time.Microsecond)
			}
		})
		var last uint64
		seen := 0
		for last < n {
			m, err := s.Next(ctx)
			if err != nil {
				cancel()
				wg.Wait()
				t.Fatalf("Next() after version %d = %v (writer: %v); want the next version", last, err, werr)
			}
			if m.Version() <= last {
				t.Fatalf("Next() = version %d after version %d; want versions to increase", m.Version(), last)
			}
			last = m.Version()
			seen++
		}
		t.Logf("the reader saw %d of %d versions", seen, n)
	})
}
