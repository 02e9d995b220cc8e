package source

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/placement"
)

// scriptSource delivers what the test sends it.
type scriptSource struct {
	ch        chan scripted
	refreshes atomic.Int32
}

type scripted struct {
	m   *placement.Map
	err error
}

func newScript() *scriptSource { return &scriptSource{ch: make(chan scripted)} }

func (s *scriptSource) Next(ctx context.Context) (*placement.Map, error) {
	select {
	case x := <-s.ch:
		return x.m, x.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *scriptSource) Refresh() { s.refreshes.Add(1) }

// send delivers m (or err) and waits until the Follower has dealt with it.
func (s *scriptSource) send(m *placement.Map, err error) {
	s.ch <- scripted{m, err}
	synctest.Wait()
}

// updates collects a Follower's reports.
type updates struct {
	mu   sync.Mutex
	list []Update
}

func (u *updates) add(x Update) {
	u.mu.Lock()
	u.list = append(u.list, x)
	u.mu.Unlock()
}

// take returns the reports since the last take.
func (u *updates) take() []Update {
	u.mu.Lock()
	defer u.mu.Unlock()
	l := u.list
	u.list = nil
	return l
}

func mapOf(t *testing.T, doc []byte) *placement.Map {
	t.Helper()
	m, err := placement.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func startFollower(t *testing.T, cfg FollowerConfig) (*Follower, *updates) {
	t.Helper()
	var u updates
	cfg.OnUpdate = u.add
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f, err := NewFollower(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run() = %v; want context.Canceled", err)
		}
	})
	synctest.Wait()
	return f, &u
}

func checkUpdate(t *testing.T, name string, got []Update, want Update, wantErr error) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%s: %d updates %+v; want one", name, len(got), got)
	}
	g := got[0]
	if g.Version != want.Version || g.Previous != want.Previous || g.Accepted != want.Accepted || g.Origin != want.Origin ||
		!errors.Is(g.Err, wantErr) || (wantErr == nil) != (g.Err == nil) {
		t.Errorf("%s: update %+v; want %+v with an error matching %v", name, g, want, wantErr)
	}
}

// TestFollowerLastGoodFirst starts a Follower from its last-known-good file
// with the source silent (the control plane down): it is ready with that
// map. Then the version gate: a lagging source's older version, and another
// document under the version in force, are refused and reported, the map in
// force stays; the same document again is silent; a newer one is accepted
// and saved.
func TestFollowerLastGoodFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lkg := filepath.Join(t.TempDir(), "map.json")
		if err := SaveFile(lkg, mapOf(t, srcDoc(7))); err != nil {
			t.Fatal(err)
		}
		src := newScript()
		f, u := startFollower(t, FollowerConfig{Source: src, LastGood: lkg})
		select {
		case <-f.Ready():
		default:
			t.Fatal("not ready with a last-known-good file and a silent source")
		}
		if m := f.Map(); m == nil || m.Version() != 7 {
			t.Fatalf("Map() = %v; want version 7 from the last-known-good file", m)
		}
		checkUpdate(t, "last good", u.take(), Update{Version: 7, Accepted: true, Origin: OriginLastGood}, nil)

		src.send(mapOf(t, srcDoc(6)), nil)
		checkUpdate(t, "older", u.take(), Update{Version: 6, Previous: 7, Origin: OriginSource}, ErrStaleVersion)
		src.send(mapOf(t, srcDoc(7, "c1", "c3")), nil)
		checkUpdate(t, "other document, same version", u.take(), Update{Version: 7, Previous: 7, Origin: OriginSource}, ErrStaleVersion)
		if m := f.Map(); m.Version() != 7 || len(m.Cells()) != 2 {
			t.Fatalf("after refusals: Map() = version %d with %d cells; want the version 7 in force", m.Version(), len(m.Cells()))
		}
		src.send(mapOf(t, srcDoc(7)), nil)
		if got := u.take(); len(got) != 0 {
			t.Errorf("the same document again: updates %+v; want none", got)
		}
		src.send(nil, &SourceError{Source: "test", Err: ErrFetch})
		checkUpdate(t, "source error", u.take(), Update{Previous: 7, Origin: OriginSource}, ErrFetch)

		src.send(mapOf(t, srcDoc(8)), nil)
		checkUpdate(t, "newer", u.take(), Update{Version: 8, Previous: 7, Accepted: true, Origin: OriginSource}, nil)
		if m, err := LoadFile(lkg, placement.Options{}); err != nil || m.Version() != 8 {
			t.Errorf("LoadFile after an update = %v, %v; want version 8 saved", m, err)
		}
		st := f.Status()
		if st.Version != 8 || st.Origin != OriginSource || st.Updates != 2 || st.Refused != 2 || st.SourceErrors != 1 ||
			!errors.Is(st.LastError, ErrFetch) || st.SaveError != nil || st.Confirmed != 8 {
			t.Errorf("Status() = %+v", st)
		}
	})
}

// TestFollowerLastGoodErrors: no file yet is not an error; a corrupted
// file is reported (with its origin) and the Follower waits for the
// source.
func TestFollowerLastGoodErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		src := newScript()
		f, u := startFollower(t, FollowerConfig{Source: src, LastGood: filepath.Join(dir, "none.json")})
		if got := u.take(); len(got) != 0 || f.Map() != nil {
			t.Errorf("no last-known-good file: updates %+v, Map() %v; want none and nil", got, f.Map())
		}

		bad := filepath.Join(dir, "bad.json")
		if err := SaveFile(bad, mapOf(t, srcDoc(3))); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bad, srcDoc(4), 0o644); err != nil { // not what the record says
			t.Fatal(err)
		}
		src2 := newScript()
		f2, u2 := startFollower(t, FollowerConfig{Source: src2, LastGood: bad})
		checkUpdate(t, "corrupted", u2.take(), Update{Origin: OriginLastGood}, ErrIntegrity)
		if f2.Map() != nil {
			t.Fatalf("a corrupted last-known-good file was loaded: version %d", f2.Map().Version())
		}
		src2.send(mapOf(t, srcDoc(2)), nil)
		checkUpdate(t, "from the source", u2.take(), Update{Version: 2, Accepted: true, Origin: OriginSource}, nil)
	})
}

// TestFollowerSaveFailure: a map that cannot be saved is in force all the
// same, and the failure is reported with it and in Status; the next good
// save clears it.
func TestFollowerSaveFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		sub := filepath.Join(dir, "sub")
		src := newScript()
		f, u := startFollower(t, FollowerConfig{Source: src, LastGood: filepath.Join(sub, "map.json")})
		src.send(mapOf(t, srcDoc(1)), nil)
		checkUpdate(t, "unsaved", u.take(), Update{Version: 1, Accepted: true, Origin: OriginSource}, fs.ErrNotExist)
		if m := f.Map(); m == nil || m.Version() != 1 {
			t.Fatalf("Map() = %v; want version 1 in force although it was not saved", m)
		}
		if st := f.Status(); !errors.Is(st.SaveError, fs.ErrNotExist) {
			t.Errorf("Status().SaveError = %v; want the save's error", st.SaveError)
		}
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		src.send(mapOf(t, srcDoc(2)), nil)
		checkUpdate(t, "saved", u.take(), Update{Version: 2, Previous: 1, Accepted: true, Origin: OriginSource}, nil)
		if st := f.Status(); st.SaveError != nil {
			t.Errorf("Status().SaveError = %v after a good save; want nil", st.SaveError)
		}
	})
}

// TestFollowerTrustedKeysOnce: the Follower's one set of options reaches
// its sources. A File source configured with no options of its own refuses
// an unsigned document because the Follower trusts a key, and accepts the
// signed one; the last-known-good file is checked with the same key.
func TestFollowerTrustedKeysOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub, priv := srcKey()
		fsys := newFakeFS()
		file, err := NewFile("map.json", FileConfig{FS: fsys})
		if err != nil {
			t.Fatal(err)
		}
		fsys.write("map.json", srcDoc(1), time.Now().Add(-time.Hour))
		f, u := startFollower(t, FollowerConfig{Source: file, Options: placement.Options{PublicKeys: []ed25519.PublicKey{pub}}})
		checkUpdate(t, "unsigned", u.take(), Update{Origin: OriginSource}, placement.ErrSignature)
		fsys.write("map.json.sig", formatSidecar([][]byte{placement.Sign(priv, srcDoc(1))}), time.Now().Add(-time.Hour))
		file.Refresh()
		synctest.Wait()
		checkUpdate(t, "signed", u.take(), Update{Version: 1, Accepted: true, Origin: OriginSource}, nil)
		if m := f.Map(); m == nil || !ed25519.Verify(pub, m.Bytes(), m.Signature()) {
			t.Errorf("Map() = %v; want the signed version 1", m)
		}
	})
}

// TestFollowerSwapSteps: two readers share a Follower (as two clients do):
// each step runs with every map, in order, before the map goes live; a step
// registered after a map is in force gets it at once; a removed step runs
// no more.
func TestFollowerSwapSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newScript()
		f, _ := startFollower(t, FollowerConfig{Source: src})
		var mu sync.Mutex
		seen := map[string][]uint64{}
		registering := false // OnSwap runs the step with the map in force
		step := func(name string) func(*placement.Map) {
			return func(m *placement.Map) {
				if cur := f.Map(); cur != nil && cur.Version() >= m.Version() && !registering {
					t.Errorf("%s: step ran with version %d after it went live", name, m.Version())
				}
				mu.Lock()
				seen[name] = append(seen[name], m.Version())
				mu.Unlock()
			}
		}
		removeA := f.OnSwap(step("a"))
		f.OnSwap(step("b"))
		src.send(mapOf(t, srcDoc(1)), nil)
		src.send(mapOf(t, srcDoc(2)), nil)
		registering = true
		f.OnSwap(step("late"))
		registering = false
		removeA()
		src.send(mapOf(t, srcDoc(3)), nil)
		src.send(mapOf(t, srcDoc(2, "c9")), nil) // refused: no step runs
		mu.Lock()
		defer mu.Unlock()
		want := map[string][]uint64{"a": {1, 2}, "b": {1, 2, 3}, "late": {2, 3}}
		for name, w := range want {
			if got := seen[name]; !equalU64(got, w) {
				t.Errorf("step %s saw versions %v; want %v", name, got, w)
			}
		}
	})
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFollowerAwait: Await asks the source to poll, returns once the
// version is in force, and fails with ErrStopped once Run has returned; a
// second Run is refused.
func TestFollowerAwait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newScript()
		f, err := NewFollower(FollowerConfig{Source: src, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		got := make(chan uint64, 1)
		go func() {
			m, err := f.Await(t.Context(), 2)
			if err != nil {
				t.Errorf("Await(2) = %v", err)
			}
			got <- m.Version()
		}()
		synctest.Wait()
		if src.refreshes.Load() == 0 {
			t.Error("Await did not ask the source to poll")
		}
		src.send(mapOf(t, srcDoc(1)), nil)
		select {
		case v := <-got:
			t.Fatalf("Await(2) returned version %d", v)
		default:
		}
		src.send(mapOf(t, srcDoc(3)), nil)
		if v := <-got; v != 3 {
			t.Errorf("Await(2) returned version %d; want 3", v)
		}
		if err := f.Run(ctx); !errors.Is(err, ErrRunning) {
			t.Errorf("second Run() = %v; want ErrRunning", err)
		}
		cancel()
		<-done
		if _, err := f.Await(t.Context(), 4); !errors.Is(err, ErrStopped) {
			t.Errorf("Await after Run returned = %v; want ErrStopped", err)
		}
		if _, err := NewFollower(FollowerConfig{}); !errors.Is(err, ErrConfig) {
			t.Errorf("NewFollower without a source = %v; want ErrConfig", err)
		}
	})
}

// TestFollowerConfirm: a request judged on a map holds the confirmed version
// at that map's version until it ends, however many maps come after; the
// confirmation waiters hear each advance.
func TestFollowerConfirm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newScript()
		f, _ := startFollower(t, FollowerConfig{Source: src})
		if j := f.Judge(); j.Map() != nil || f.Confirmed() != 0 {
			t.Fatalf("before a map: Judge().Map() = %v, Confirmed() = %d", j.Map(), f.Confirmed())
		} else {
			j.Done()
		}
		src.send(mapOf(t, srcDoc(1)), nil)
		if f.Confirmed() != 1 {
			t.Fatalf("Confirmed() = %d; want 1", f.Confirmed())
		}
		on1 := f.Judge()
		on1b := f.Judge()
		src.send(mapOf(t, srcDoc(2)), nil)
		on2 := f.Judge()
		src.send(mapOf(t, srcDoc(3)), nil)
		if on1.Map().Version() != 1 || on2.Map().Version() != 2 || f.Confirmed() != 1 {
			t.Fatalf("Confirmed() = %d with requests on 1 and 2 running; want 1", f.Confirmed())
		}
		heard := make(chan uint64, 4)
		go func() {
			for v := f.Confirmed(); v < 3; {
				var err error
				if v, err = f.AwaitConfirmed(t.Context(), v); err != nil {
					return
				}
				heard <- v
			}
		}()
		on2.Done() // the map 1 requests still run
		synctest.Wait()
		if f.Confirmed() != 1 {
			t.Errorf("Confirmed() = %d with requests on 1 running; want 1", f.Confirmed())
		}
		on1.Done()
		synctest.Wait()
		if f.Confirmed() != 1 {
			t.Errorf("Confirmed() = %d with a request on 1 running; want 1", f.Confirmed())
		}
		on1b.Done()
		synctest.Wait()
		if f.Confirmed() != 3 {
			t.Errorf("Confirmed() = %d with no request running; want 3", f.Confirmed())
		}
		if v := <-heard; v != 3 {
			t.Errorf("AwaitConfirmed heard %d; want 3", v)
		}
	})
}

// TestFollowerConfirmConcurrent judges requests on many goroutines while
// maps are swapped in, and checks at every confirmation the Follower
// reports that no request judged on an older map is still running.
func TestFollowerConfirmConcurrent(t *testing.T) {
	const maps, workers = 200, 8
	src := &scriptSource{ch: make(chan scripted)}
	f, err := NewFollower(FollowerConfig{Source: src, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go f.Run(ctx)
	all := make([]*placement.Map, maps+1)
	for v := 1; v <= maps; v++ {
		all[v] = mapOf(t, srcDoc(v))
	}
	src.ch <- scripted{m: all[1]}
	if _, err := f.Await(ctx, 1); err != nil {
		t.Fatal(err)
	}

	var running [maps + 1]atomic.Int64 // requests running, by the version judged on
	var judged [maps + 1]atomic.Int64  // requests started, by the version judged on
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				j := f.Judge()
				v := j.Map().Version()
				running[v].Add(1)
				judged[v].Add(1)
				for range i % 7 { // requests of varied lengths
					runtime.Gosched()
				}
				running[v].Add(-1)
				j.Done()
			}
		}()
	}
	checked := make(chan int)
	var seen atomic.Uint64 // the newest confirmation the checker has checked
	go func() {
		n := 0
		for v := uint64(0); v < maps; {
			var err error
			if v, err = f.AwaitConfirmed(ctx, v); err != nil {
				break
			}
			n++
			seen.Store(v)
			for u := uint64(1); u < v; u++ {
				if r := running[u].Load(); r != 0 {
					t.Errorf("version %d confirmed with %d request(s) judged on version %d running", v, r, u)
				}
			}
		}
		checked <- n
	}()
	for v := 2; v <= maps; v++ {
		// Each map is judged on by every worker before the next comes, so
		// that requests on several maps overlap.
		for judged[v-1].Load() < workers {
			runtime.Gosched()
		}
		src.ch <- scripted{m: all[v]}
		// Every 40 maps, the checker catches up, however the scheduler
		// shares the cores: several confirmations are checked mid-run.
		if v%40 == 0 {
			for deadline := time.Now().Add(10 * time.Second); seen.Load() < uint64(v-1); runtime.Gosched() {
				if time.Now().After(deadline) {
					t.Fatalf("no confirmation of version %d within 10 s (seen %d)", v-1, seen.Load())
				}
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := <-checked; n < 2 {
		t.Errorf("%d confirmations checked; want several", n)
	}
	if f.Confirmed() != maps {
		t.Errorf("Confirmed() = %d with no request running; want %d", f.Confirmed(), maps)
	}
}
