package source

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cellkit/cellkit/placement"
)

// saveBetweenFS is the operating system's file system, where the first open
// of the integrity record (or signature file) first runs a whole SaveFile:
// the interleaving that made a concurrent LoadFile report ErrIntegrity
// (or ErrSignature) for files that were never corrupt.
type saveBetweenFS struct {
	osFS
	at   string // the file whose open is preceded by the save
	once sync.Once
	save func()
}

func (f *saveBetweenFS) Open(name string) (fs.File, error) {
	if name == f.at {
		f.once.Do(f.save)
	}
	return f.osFS.Open(name)
}

// TestLoadFileDuringSave loads a saved map while a whole SaveFile of the
// next version runs between LoadFile's reads of the document and of the
// record or signatures: the load returns one of the two maps, never an
// error.
func TestLoadFileDuringSave(t *testing.T) {
	pub, _ := srcKey()
	keys := placement.Options{PublicKeys: []ed25519.PublicKey{pub}}
	for _, tc := range []struct {
		name string
		at   string
		opt  placement.Options
		old  *placement.Map
		new  *placement.Map
	}{
		{"record", ".sum", placement.Options{}, srcMap(t, 1), srcMap(t, 2)},
		{"record, signed", ".sum", keys, lkgSigned(t, srcDoc(1)), lkgSigned(t, srcDoc(2))},
		{"signature", ".sig", keys, lkgSigned(t, srcDoc(1)), lkgSigned(t, srcDoc(2))},
	} {
		path := filepath.Join(t.TempDir(), "map.json")
		if err := SaveFile(path, tc.old); err != nil {
			t.Fatal(err)
		}
		fsys := &saveBetweenFS{at: path + tc.at, save: func() {
			if err := SaveFile(path, tc.new); err != nil {
				t.Error(err)
			}
		}}
		m, err := loadFile(fsys, path, tc.opt)
		if err != nil || m.Version() != 2 {
			t.Errorf("%s: LoadFile() with a save between the reads = %s; want version 2", tc.name, srcOutcome(m, err))
		}
	}
}

// TestLoadFileConcurrentSaves runs loads of a signed map on other
// goroutines while one goroutine saves a sequence of versions: every load
// returns a saved version, never older than one it loaded before, and none
// reports ErrIntegrity or ErrSignature.
func TestLoadFileConcurrentSaves(t *testing.T) {
	saves, loaders := 20, 3
	if testing.Short() {
		saves = 10
	}
	pub, _ := srcKey()
	opt := placement.Options{PublicKeys: []ed25519.PublicKey{pub}}
	maps := make([]*placement.Map, saves)
	for i := range maps {
		maps[i] = lkgSigned(t, srcDoc(i+1))
	}
	path := filepath.Join(t.TempDir(), "map.json")
	if err := SaveFile(path, maps[0]); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	var loads, refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, loaders)
	for range loaders {
		wg.Go(func() {
			var last uint64
			for !done.Load() {
				m, err := LoadFile(path, opt)
				loads.Add(1)
				switch {
				case err != nil:
					refused.Add(1)
					select {
					case errs <- err:
					default:
					}
				case m.Version() < last:
					errs <- fmt.Errorf("loaded version %d after %d", m.Version(), last)
					return
				default:
					last = m.Version()
				}
			}
		})
	}
	for _, m := range maps[1:] {
		if err := SaveFile(path, m); err != nil {
			t.Error(err)
			break
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("LoadFile() during SaveFile: %v (%d of %d loads refused); want no error (ErrIntegrity %v, ErrSignature %v)",
			err, refused.Load(), loads.Load(), errors.Is(err, ErrIntegrity), errors.Is(err, placement.ErrSignature))
	}
	t.Logf("%d loads during %d saves", loads.Load(), saves-1)
}
