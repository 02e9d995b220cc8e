//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// bigDoc returns a signed map of version v, large enough (a few hundred
// kilobytes) that a publish takes a while, with its signature file's bytes.
func bigDoc(priv ed25519.PrivateKey, v int) (doc, sig []byte) {
	var b strings.Builder
	fmt.Fprintf(&b, `{"version": %d, "cells": [{"id": "c1"}, {"id": "c2"}], "overrides": {`, v)
	for i := range 20000 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"tenant-%d": "c%d"`, i, 1+(i+v)%2)
	}
	b.WriteString("}}\n")
	doc = []byte(b.String())
	return doc, source.FormatSignatures([][]byte{placement.Sign(priv, doc)})
}

// TestPublishKilled kills publishers (the test binary re-executed as
// cellctl) at random points of a publish to a file target reached through
// a symbolic link, and after each kill checks what the next publisher
// finds: the target holds a whole map, of the old version or the new one,
// that verifies with its signature file; the link is still a link; the next
// publish gets the lock at once (a killed holder leaves no stale lock) and
// removes the temporary files the killed one left. Some rounds kill the
// publisher as soon as it holds the lock, or as soon as a temporary file
// exists, so that those points are hit whatever the timing.
func TestPublishKilled(t *testing.T) {
	if _, err := exec.LookPath("cellctl"); err != nil {
		t.Skip("cellctl is not on PATH (TestMain puts the test binary there)")
	}
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "map.json")
	if err := os.Symlink(filepath.Join("real", "map.json"), link); err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.NewChaCha8([32]byte{1}))
	opt := placement.Options{PublicKeys: []ed25519.PublicKey{pub}}
	write := func(v int) string {
		doc, sig := bigDoc(priv, v)
		name := filepath.Join(dir, fmt.Sprintf("v%d.json", v))
		if err := os.WriteFile(name, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name+sigSuffix, sig, 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	publish := func(v int) *exec.Cmd {
		cmd := exec.Command("cellctl", "publish", "--lock-wait", "2s", "--to", "file:"+link, write(v))
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
		return cmd
	}
	run := func(v int) {
		t.Helper()
		out, err := publish(v).CombinedOutput()
		if err != nil {
			t.Fatalf("publish v%d after a killed publisher: %v\n%s", v, err, out)
		}
	}

	// The link must point at a file (a link to nothing is refused).
	if err := os.WriteFile(filepath.Join(real, "map.json"), []byte(`{"version": 1, "cells": [{"id": "c1"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	run(2)
	took := time.Since(start)

	r := rand.New(rand.NewPCG(18, 19))
	var lockedKills, tempKills int
	v := 2
	for round := range 18 {
		v++
		cmd := publish(v)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		switch round % 3 {
		case 0: // at a random moment of a publish
			time.Sleep(time.Duration(r.Int64N(int64(took))))
		case 1: // as soon as it holds the lock
			if waitFor(func() bool {
				b, _ := os.ReadFile(filepath.Join(real, "map.json.lock"))
				return len(bytes.TrimSpace(b)) > 0
			}) {
				lockedKills++
			}
		case 2: // as soon as a temporary file exists
			if waitFor(func() bool { m, _ := filepath.Glob(filepath.Join(real, "*.tmp-*")); return len(m) > 0 }) {
				tempKills++
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		// What the killed publisher left: a whole map, old or new, that
		// verifies.
		m, _, _, err := loadDoc(link, opt)
		if err != nil {
			t.Fatalf("round %d: after a publisher of v%d was killed, the target does not load: %v", round, v, err)
		}
		if got := m.Version(); got != uint64(v) && got != uint64(v-1) {
			t.Fatalf("round %d: the target holds v%d; want v%d or v%d", round, got, v-1, v)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("round %d: the link was replaced: %v %v", round, fi, err)
		}

		// The next publisher: the lock at once, the temporary files gone.
		v++
		start := time.Now()
		run(v)
		if m, _, _, err := loadDoc(link, opt); err != nil || m.Version() != uint64(v) {
			t.Fatalf("round %d: after the publish of v%d the target holds %v (%v)", round, v, m.Version(), err)
		}
		if tmps, _ := filepath.Glob(filepath.Join(real, "*.tmp-*")); len(tmps) > 0 {
			t.Fatalf("round %d: temporary files left after the next publish: %q", round, tmps)
		}
		if d := time.Since(start); d > took+2*time.Second {
			t.Logf("round %d: the next publish took %v (a clean one %v)", round, d, took)
		}
	}
	t.Logf("killed 18 publishers: %d while holding the lock, %d with a temporary file written", lockedKills, tempKills)
	if lockedKills == 0 {
		t.Errorf("no publisher was killed while holding the lock; the test did not test the lock")
	}
}

// waitFor polls cond every millisecond for up to 10 s and reports whether it
// held.
func waitFor(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// TestPublishLockHeld: while another publisher holds the flock, a publish
// waits --lock-wait, then fails naming the lock and the holder's process;
// once it is released, the publish goes through.
func TestPublishLockHeld(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "map.json")
	doc := filepath.Join(dir, "v1.json")
	if err := os.WriteFile(doc, []byte(`{"version": 1, "cells": [{"id": "c1"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(context.Background(), target+".lock", 0)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"publish", "--lock-wait", "50ms", "--to", "file:" + target, doc}, &out, &errOut); code != exitRefused {
		t.Fatalf("publish under a held lock: exit %d, %q; want %d", code, errOut.String(), exitRefused)
	}
	want := fmt.Sprintf("target is locked: another publish (process %d) holds %s.lock", os.Getpid(), target)
	if !strings.Contains(errOut.String(), want) || !strings.Contains(errOut.String(), "locked)") {
		t.Errorf("stderr %q; want %q and the kind", errOut.String(), want)
	}
	unlock()
	errOut.Reset()
	if code := run(context.Background(), []string{"publish", "--lock-wait", "50ms", "--to", "file:" + target, doc}, &out, &errOut); code != exitOK {
		t.Fatalf("publish after the release: exit %d, %q", code, errOut.String())
	}
}
