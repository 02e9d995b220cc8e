package placement

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
	"testing"
	"testing/synctest"
	"time"
)

// srcRemove is a write step that removes the file.
var srcRemove = []byte("remove")

func TestFileSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "map.json")
		s, err := NewFileSource(path, FileConfig{Options: Options{Limits: Limits{MaxBytes: 200}}})
		if err != nil {
			t.Fatal(err)
		}
		big := srcDoc(9, "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11", "c12", "c13", "c14", "c15")
		steps := []struct {
			name    string
			write   []byte // nil: leave the file alone
			want    uint64
			wantErr error // with want 0 and wantErr nil: nothing new
		}{
			{name: "missing", wantErr: fs.ErrNotExist},
			{name: "still missing"},
			{name: "first", write: srcDoc(1), want: 1},
			{name: "unchanged"},
			{name: "same bytes rewritten", write: srcDoc(1)},
			{name: "garbage", write: []byte(`{"version": 2, "cells": [`), wantErr: ErrSyntax},
			{name: "garbage rewritten", write: []byte(`{"version": 2, "cells": [`)},
			{name: "invalid", write: srcDoc(2, "c1", "c1"), wantErr: ErrDuplicateCell},
			{name: "newer", write: srcDoc(3), want: 3},
			{name: "older", write: srcDoc(2), wantErr: ErrStaleVersion},
			{name: "older again", write: srcDoc(2)},
			{name: "same version, other cells", write: srcDoc(3, "c1", "c3"), wantErr: ErrStaleVersion},
			{name: "back to the delivered one", write: srcDoc(3)},
			{name: "too large", write: big, wantErr: ErrLimit},
			{name: "too large, still"},
			{name: "removed", write: srcRemove, wantErr: ErrFetch},
			{name: "back, newer", write: srcDoc(4), want: 4},
		}
		for _, st := range steps {
			switch {
			case st.write == nil:
			case string(st.write) == string(srcRemove):
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			default:
				if err := srcReplace(path, st.write); err != nil {
					t.Fatal(err)
				}
			}
			// Several intervals: a report or a map would come at the first.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			m, err := s.Next(ctx)
			cancel()
			srcCheck(t, st.name, m, err, st.want, st.wantErr)
		}
	})
}

func TestFileSourceConfig(t *testing.T) {
	pub, _ := srcKey()
	for _, tc := range []struct {
		name string
		path string
		cfg  FileConfig
	}{
		{"empty path", "", FileConfig{}},
		{"negative interval", "map.json", FileConfig{Interval: -time.Second}},
		{"static signature", "map.json", FileConfig{Options: Options{PublicKeys: []ed25519.PublicKey{pub}, Signature: make([]byte, 64)}}},
	} {
		if _, err := NewFileSource(tc.path, tc.cfg); err == nil {
			t.Errorf("%s: NewFileSource(%q, %+v) succeeded; want an error", tc.name, tc.path, tc.cfg)
		}
	}
}

func TestFileSourceSigned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub, priv := srcKey()
		_, other := srcKey2()
		dir := t.TempDir()
		path := filepath.Join(dir, "map.json")
		sigPath := filepath.Join(dir, "sig")
		s, err := NewFileSource(path, FileConfig{SignaturePath: sigPath, Options: Options{PublicKeys: []ed25519.PublicKey{pub}}})
		if err != nil {
			t.Fatal(err)
		}
		sidecar := func(sigs ...[]byte) []byte { return formatSidecar(sigs) }
		steps := []struct {
			name     string
			doc, sig []byte // nil: leave the file alone
			want     uint64
			wantErr  error
		}{
			{name: "no signature file", doc: srcDoc(1), wantErr: ErrSignature},
			{name: "signed", sig: sidecar(Sign(priv, srcDoc(1))), want: 1},
			// The writer's protocol: add the new signature, then rename the
			// document, then drop the old signature. No step is reported.
			{name: "new signature added", sig: sidecar(Sign(priv, srcDoc(2)), Sign(priv, srcDoc(1)))},
			{name: "new document", doc: srcDoc(2), want: 2},
			{name: "old signature dropped", sig: sidecar(Sign(priv, srcDoc(2)))},
			{name: "untrusted key", doc: srcDoc(3), sig: sidecar(Sign(other, srcDoc(3))), wantErr: ErrSignature},
			{name: "not base64", sig: []byte("not base64!\n"), wantErr: ErrSignature},
			{name: "too many", sig: []byte(strings.Repeat("AAAA\n", maxSidecarSigs+1)), wantErr: ErrLimit},
			{name: "too large", sig: make([]byte, maxSidecarBytes+1), wantErr: ErrLimit},
			{name: "fixed", sig: sidecar(Sign(priv, srcDoc(3))), want: 3},
		}
		for _, st := range steps {
			if st.sig != nil {
				if err := srcReplace(sigPath, st.sig); err != nil {
					t.Fatal(err)
				}
			}
			if st.doc != nil {
				if err := srcReplace(path, st.doc); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			m, err := s.Next(ctx)
			cancel()
			srcCheck(t, st.name, m, err, st.want, st.wantErr)
			if m != nil && !ed25519.Verify(pub, m.Bytes(), m.Signature()) {
				t.Errorf("%s: Signature() does not verify Bytes()", st.name)
			}
		}
	})
}

func srcKey2() (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed([]byte("another key, trusted by no one.."))
	return priv.Public().(ed25519.PublicKey), priv
}

func TestFileSourceRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "map.json")
		if err := srcReplace(path, srcDoc(1)); err != nil {
			t.Fatal(err)
		}
		s, err := NewFileSource(path, FileConfig{Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := s.Next(t.Context()); err != nil || m.Version() != 1 {
			t.Fatalf("Next() = %s; want version 1", srcOutcome(m, err))
		}

		// Refresh wakes a waiting Next, which polls at once.
		start := time.Now()
		go func() {
			time.Sleep(time.Minute)
			if err := srcReplace(path, srcDoc(2)); err != nil {
				t.Error(err)
			}
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

// TestFileSourceAtomicReplace replaces the file 100 times, by rename, while
// a reader polls as fast as it can: the reader must never see a torn
// document nor a version going back.
func TestFileSourceAtomicReplace(t *testing.T) {
	const n = 100
	path := filepath.Join(t.TempDir(), "map.json")
	// A long label makes reads long enough to overlap writes; few buckets
	// keep parses short, so that the reader sees many versions.
	doc := func(v int) []byte {
		return fmt.Appendf(nil, `{"version": %d, "buckets": 64, "cells": [{"id": "c1", "labels": {"pad": %q}}, {"id": "c2"}]}`,
			v, strings.Repeat("x", 8000+v%7*1000))
	}
	if err := srcReplace(path, doc(1)); err != nil {
		t.Fatal(err)
	}
	s, err := NewFileSource(path, FileConfig{Interval: 50 * time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	var werr error
	defer wg.Wait() // the writer stops early if the reader fails
	wg.Go(func() {
		for v := 2; v <= n && ctx.Err() == nil; v++ {
			if werr = srcReplace(path, doc(v)); werr != nil {
				cancel()
				return
			}
			time.Sleep(time.Duration(rand.IntN(400)) * time.Microsecond)
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
}

// TestFileSourceInPlace checks the best effort for files rewritten in
// place: a change that keeps size and modification time is still seen while
// the modification time is recent, and not once it is old (then a poll costs
// a stat).
func TestFileSourceInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "map.json")
	for _, tc := range []struct {
		name string
		age  time.Duration
		want bool
	}{
		{"recent", 0, true},
		{"old", time.Hour, false},
	} {
		mtime := time.Now().Add(-tc.age)
		if err := os.WriteFile(path, srcDoc(1), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		s, err := NewFileSource(path, FileConfig{Interval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := s.Next(t.Context()); err != nil || m.Version() != 1 {
			t.Fatalf("%s: Next() = %s; want version 1", tc.name, srcOutcome(m, err))
		}
		// Same size, same modification time, same file.
		if err := os.WriteFile(path, srcDoc(2), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		m, err := s.Next(ctx)
		cancel()
		if got := err == nil && m.Version() == 2; got != tc.want {
			t.Errorf("%s: Next() = %s; want version 2: %v", tc.name, srcOutcome(m, err), tc.want)
		}
	}
}
