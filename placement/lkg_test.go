package placement

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// lkgSigned parses a document signed by the test key.
func lkgSigned(t *testing.T, doc []byte) *Map {
	t.Helper()
	pub, priv := srcKey()
	m, err := ParseWith(doc, Options{PublicKeys: []ed25519.PublicKey{pub}, Signature: Sign(priv, doc)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// lkgFiles lists the names in dir.
func lkgFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestSaveFile(t *testing.T) {
	pub, _ := srcKey()
	keys := Options{PublicKeys: []ed25519.PublicKey{pub}}
	dir := t.TempDir()
	path := filepath.Join(dir, "map.json")
	// A stray temporary file, as a crash during an earlier save leaves.
	stray := filepath.Join(dir, "map.json.tmp-12345")
	if err := os.WriteFile(stray, srcDoc(9)[:10], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		name  string
		m     *Map
		files []string
	}{
		{"unsigned", srcMap(t, 1), []string{"map.json"}},
		{"unsigned, replaced", srcMap(t, 2), []string{"map.json"}},
		{"signed", lkgSigned(t, srcDoc(3)), []string{"map.json", "map.json.sig"}},
		{"signed, replaced", lkgSigned(t, srcDoc(4)), []string{"map.json", "map.json.sig"}},
		{"signed, same again", lkgSigned(t, srcDoc(4)), []string{"map.json", "map.json.sig"}},
		{"unsigned after signed", srcMap(t, 5), []string{"map.json"}},
	} {
		if err := SaveFile(path, st.m); err != nil {
			t.Fatalf("%s: SaveFile() = %v", st.name, err)
		}
		opt := Options{}
		if st.m.Signature() != nil {
			opt = keys
		}
		got, err := LoadFile(path, opt)
		if err != nil || !bytes.Equal(got.Bytes(), st.m.Bytes()) || !bytes.Equal(got.Signature(), st.m.Signature()) {
			t.Errorf("%s: LoadFile() = %s; want the saved map, version %d", st.name, srcOutcome(got, err), st.m.Version())
		}
		want := append(st.files, "map.json.tmp-12345")
		if names := lkgFiles(t, dir); !slices.Equal(names, want) {
			t.Errorf("%s: files %q after SaveFile; want %q", st.name, names, want)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, %v; want 0644", st.name, fi.Mode().Perm(), err)
		}
		if st.m.Signature() != nil {
			data, err := os.ReadFile(path + ".sig")
			if sigs, _ := parseSidecar(data); err != nil || len(sigs) != 1 || !bytes.Equal(sigs[0], st.m.Signature()) {
				t.Errorf("%s: sidecar %q, %v; want the map's signature alone", st.name, data, err)
			}
		}
	}
	if _, err := LoadFile(path, keys); !errors.Is(err, ErrSignature) {
		t.Errorf("LoadFile(unsigned, with keys) = %v; want ErrSignature", err)
	}
	if err := SaveFile(filepath.Join(dir, "missing", "map.json"), srcMap(t, 1)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SaveFile(in a missing directory) = %v; want fs.ErrNotExist", err)
	}
}

// TestLoadFileCrash loads the states an interrupted SaveFile can leave: each
// must give the old map or the new one.
func TestLoadFileCrash(t *testing.T) {
	pub, priv := srcKey()
	keys := Options{PublicKeys: []ed25519.PublicKey{pub}}
	sig := func(v int) []byte { return Sign(priv, srcDoc(v)) }
	for _, tc := range []struct {
		name     string
		doc, sig []byte
		stray    []byte // a temporary file
		opt      Options
		want     uint64
	}{
		{"document's temp file torn", srcDoc(1), nil, srcDoc(2)[:20], Options{}, 1},
		{"document's temp file whole", srcDoc(1), nil, srcDoc(2), Options{}, 1},
		{"sidecar's temp file torn", srcDoc(1), formatSidecar([][]byte{sig(1)}), formatSidecar([][]byte{sig(2), sig(1)})[:30], keys, 1},
		{"new signature added", srcDoc(1), formatSidecar(addSignature(formatSidecar([][]byte{sig(1)}), sig(2))), nil, keys, 1},
		{"document replaced", srcDoc(2), formatSidecar(addSignature(formatSidecar([][]byte{sig(1)}), sig(2))), nil, keys, 2},
		{"interrupted twice", srcDoc(1), formatSidecar(addSignature(formatSidecar([][]byte{sig(2), sig(1)}), sig(3))), nil, keys, 1},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "map.json")
		files := map[string][]byte{"map.json": tc.doc, "map.json.sig": tc.sig, "map.json.tmp-1": tc.stray}
		for name, data := range files {
			if data != nil {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		if m, err := LoadFile(path, tc.opt); err != nil || m.Version() != tc.want {
			t.Errorf("%s: LoadFile() = %s; want version %d", tc.name, srcOutcome(m, err), tc.want)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	pub, priv := srcKey()
	_, other := srcKey2()
	keys := Options{PublicKeys: []ed25519.PublicKey{pub}}
	for _, tc := range []struct {
		name     string
		doc, sig []byte // nil: no file
		opt      Options
		wantErr  error
	}{
		{"missing", nil, nil, Options{}, fs.ErrNotExist},
		{"garbage", []byte("{"), nil, Options{}, ErrSyntax},
		{"too large", srcDoc(1), nil, Options{Limits: Limits{MaxBytes: 10}}, ErrLimit},
		{"no sidecar", srcDoc(1), nil, keys, ErrSignature},
		{"sidecar not base64", srcDoc(1), []byte("%%%\n"), keys, ErrSignature},
		{"sidecar too large", srcDoc(1), make([]byte, maxSidecarBytes+1), keys, ErrLimit},
		{"untrusted signature", srcDoc(1), formatSidecar([][]byte{Sign(other, srcDoc(1))}), keys, ErrSignature},
		{"explicit signature wins", srcDoc(1), formatSidecar([][]byte{Sign(priv, srcDoc(1))}),
			Options{PublicKeys: keys.PublicKeys, Signature: Sign(other, srcDoc(1))}, ErrSignature},
		{"explicit signature", srcDoc(1), nil, Options{PublicKeys: keys.PublicKeys, Signature: Sign(priv, srcDoc(1))}, nil},
		{"sidecar ignored without keys", srcDoc(1), []byte("%%%\n"), Options{}, nil},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "map.json")
		for name, data := range map[string][]byte{path: tc.doc, path + ".sig": tc.sig} {
			if data != nil {
				if err := os.WriteFile(name, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		m, err := LoadFile(path, tc.opt)
		switch {
		case tc.wantErr == nil && err != nil:
			t.Errorf("%s: LoadFile() = %v; want version 1", tc.name, err)
		case !errors.Is(err, tc.wantErr):
			t.Errorf("%s: LoadFile() = %s; want an error matching %v", tc.name, srcOutcome(m, err), tc.wantErr)
		case err != nil && !strings.Contains(err.Error(), path):
			t.Errorf("%s: LoadFile() = %v; want the error to name the file", tc.name, err)
		}
	}
}

func TestAddSignature(t *testing.T) {
	s := func(b byte) []byte { return bytes.Repeat([]byte{b}, ed25519.SignatureSize) }
	var many [][]byte
	for i := range maxSidecarSigs {
		many = append(many, s(byte(10+i)))
	}
	for _, tc := range []struct {
		name string
		old  []byte
		want [][]byte
	}{
		{"no sidecar", nil, [][]byte{s(1)}},
		{"one", formatSidecar([][]byte{s(2)}), [][]byte{s(1), s(2)}},
		{"same one", formatSidecar([][]byte{s(1)}), [][]byte{s(1)}},
		{"after an interrupted save", formatSidecar([][]byte{s(3), s(2)}), [][]byte{s(1), s(3), s(2)}},
		{"bad", []byte("%%%"), [][]byte{s(1)}},
		{"full", formatSidecar(many), append([][]byte{s(1)}, many[:maxSidecarSigs-1]...)},
	} {
		if got := addSignature(tc.old, s(1)); !slices.EqualFunc(got, tc.want, bytes.Equal) {
			t.Errorf("%s: addSignature(%q) = %d signatures; want %d", tc.name, tc.old, len(got), len(tc.want))
		}
	}
}

func FuzzSidecar(f *testing.F) {
	f.Add([]byte(""))
	f.Add(formatSidecar([][]byte{make([]byte, 64)}))
	f.Add([]byte("AAAA\n\n  BBBB  \r\nCCCC"))
	f.Add([]byte("%%%"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sigs, err := parseSidecar(data)
		if err != nil {
			if !errors.Is(err, ErrSignature) && !errors.Is(err, ErrLimit) {
				t.Fatalf("parseSidecar(%q) = %v; want ErrSignature or ErrLimit", data, err)
			}
			return
		}
		again, err := parseSidecar(formatSidecar(sigs))
		if err != nil || !slices.EqualFunc(again, sigs, bytes.Equal) {
			t.Fatalf("parseSidecar(formatSidecar(parseSidecar(%q))) = %q, %v; want %q", data, again, err, sigs)
		}
	})
}
