package source

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cellkit/cellkit/placement"
)

// lkgSigned parses a document signed by the test key.
func lkgSigned(t *testing.T, doc []byte) *placement.Map {
	t.Helper()
	pub, priv := srcKey()
	m, err := placement.ParseSigned(doc, [][]byte{placement.Sign(priv, doc)}, placement.Options{PublicKeys: []ed25519.PublicKey{pub}})
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

func lkgWrite(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		if data != nil {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// lkgRecord is the integrity record of docs under base, one line each.
func lkgRecord(base string, docs ...[]byte) []byte {
	var b []byte
	for _, d := range docs {
		h := sha256.Sum256(d)
		b = append(b, hex.EncodeToString(h[:])+"  "+base+"\n"...)
	}
	return b
}

func TestSaveFile(t *testing.T) {
	pub, _ := srcKey()
	keys := placement.Options{PublicKeys: []ed25519.PublicKey{pub}}
	dir := t.TempDir()
	path := filepath.Join(dir, "map.json")
	for _, st := range []struct {
		name  string
		m     *placement.Map
		files []string
	}{
		{"unsigned", srcMap(t, 1), []string{"map.json", "map.json.sum"}},
		{"unsigned, replaced", srcMap(t, 2), []string{"map.json", "map.json.sum"}},
		{"signed", lkgSigned(t, srcDoc(3)), []string{"map.json", "map.json.sig", "map.json.sum"}},
		{"signed, replaced", lkgSigned(t, srcDoc(4)), []string{"map.json", "map.json.sig", "map.json.sum"}},
		{"signed, same again", lkgSigned(t, srcDoc(4)), []string{"map.json", "map.json.sig", "map.json.sum"}},
		{"unsigned after signed", srcMap(t, 5), []string{"map.json", "map.json.sum"}},
	} {
		if err := SaveFile(path, st.m); err != nil {
			t.Fatalf("%s: SaveFile() = %v", st.name, err)
		}
		opt := placement.Options{}
		if st.m.Signature() != nil {
			opt = keys
		}
		got, err := LoadFile(path, opt)
		if err != nil || !bytes.Equal(got.Bytes(), st.m.Bytes()) || !bytes.Equal(got.Signature(), st.m.Signature()) {
			t.Errorf("%s: LoadFile() = %s; want the saved map, version %d", st.name, srcOutcome(got, err), st.m.Version())
		}
		if names := lkgFiles(t, dir); !slices.Equal(names, st.files) {
			t.Errorf("%s: files %q after SaveFile; want %q", st.name, names, st.files)
		}
		// The document is exactly the published bytes; the record is one
		// line, its SHA-256 and its name.
		if data, err := os.ReadFile(path); err != nil || !bytes.Equal(data, st.m.Bytes()) {
			t.Errorf("%s: document %q, %v; want exactly Bytes()", st.name, data, err)
		}
		if data, err := os.ReadFile(path + ".sum"); err != nil || !bytes.Equal(data, lkgRecord("map.json", st.m.Bytes())) {
			t.Errorf("%s: record %q, %v; want %q", st.name, data, err, lkgRecord("map.json", st.m.Bytes()))
		}
		for _, name := range st.files {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("%s: %s mode %v, %v; want 0644", st.name, name, fi.Mode().Perm(), err)
			}
		}
		if st.m.Signature() != nil {
			data, err := os.ReadFile(path + ".sig")
			if sigs, _ := parseSidecar(data); err != nil || len(sigs) != 1 || !bytes.Equal(sigs[0], st.m.Signature()) {
				t.Errorf("%s: sidecar %q, %v; want the map's signature alone", st.name, data, err)
			}
		}
	}
	if _, err := LoadFile(path, keys); !errors.Is(err, placement.ErrSignature) {
		t.Errorf("LoadFile(unsigned, with keys) = %v; want ErrSignature", err)
	}
	// The record is in the format of sha256sum(1).
	if sum, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command(sum, "--check", "--strict", "map.json.sum")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum --check map.json.sum: %v: %s", err, out)
		}
	}
}

// TestSaveFileStale checks that SaveFile removes the temporary files that
// interrupted saves of the same path left, and nothing else.
func TestSaveFileStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "map.json")
	stale := []string{"map.json.tmp-12345", "map.json.sig.tmp-1", "map.json.sum.tmp-987654321"}
	kept := []string{"map.json.tmp-", "map.json.tmp-abc", "map.json.tmp-1.bak", "other.json.tmp-1", "xmap.json.tmp-1"}
	files := map[string][]byte{}
	for _, n := range append(slices.Clone(stale), kept...) {
		files[n] = srcDoc(9)[:10]
	}
	lkgWrite(t, dir, files)
	if err := SaveFile(path, srcMap(t, 1)); err != nil {
		t.Fatal(err)
	}
	want := append([]string{"map.json", "map.json.sum"}, kept...)
	slices.Sort(want)
	if names := lkgFiles(t, dir); !slices.Equal(names, want) {
		t.Errorf("files %q after SaveFile; want %q", names, want)
	}
	// A save that fails leaves no temporary file either.
	if err := os.Mkdir(filepath.Join(dir, "d.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := SaveFile(filepath.Join(dir, "d.json"), srcMap(t, 1)); err == nil {
		t.Errorf("SaveFile over a directory succeeded")
	}
	for _, n := range lkgFiles(t, dir) {
		if strings.Contains(n, "d.json.") && strings.Contains(n, ".tmp-") {
			t.Errorf("a failed SaveFile left %s", n)
		}
	}
}

func TestSaveFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		path    string
		m       *placement.Map
		wantErr error
	}{
		{"nil map", filepath.Join(dir, "map.json"), nil, ErrConfig},
		{"zero map", filepath.Join(dir, "map.json"), &placement.Map{}, ErrConfig},
		{"no file name", dir + string(filepath.Separator), srcMap(t, 1), ErrConfig},
		{"newline in the name", filepath.Join(dir, "map\n.json"), srcMap(t, 1), ErrConfig},
		{"missing directory", filepath.Join(dir, "missing", "map.json"), srcMap(t, 1), fs.ErrNotExist},
	} {
		if err := SaveFile(tc.path, tc.m); !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: SaveFile(%q) = %v; want an error matching %v", tc.name, tc.path, err, tc.wantErr)
		}
	}
}

// TestLoadFileCrash loads the states an interrupted SaveFile can leave: each
// must give the old map or the new one.
func TestLoadFileCrash(t *testing.T) {
	pub, priv := srcKey()
	keys := placement.Options{PublicKeys: []ed25519.PublicKey{pub}}
	sig := func(v int) []byte { return placement.Sign(priv, srcDoc(v)) }
	rec := func(vs ...int) []byte {
		var docs [][]byte
		for _, v := range vs {
			docs = append(docs, srcDoc(v))
		}
		return lkgRecord("map.json", docs...)
	}
	sidecar := func(vs ...int) []byte {
		var sigs [][]byte
		for _, v := range vs {
			sigs = append(sigs, sig(v))
		}
		return formatSidecar(sigs)
	}
	for _, tc := range []struct {
		name          string
		doc, sum, sig []byte
		stray         []byte // a temporary file
		opt           placement.Options
		want          uint64
	}{
		{"record's temp file torn", srcDoc(1), rec(1), nil, rec(2, 1)[:30], placement.Options{}, 1},
		{"new checksum added", srcDoc(1), rec(2, 1), nil, nil, placement.Options{}, 1},
		{"document's temp file torn", srcDoc(1), rec(2, 1), nil, srcDoc(2)[:20], placement.Options{}, 1},
		{"document's temp file whole", srcDoc(1), rec(2, 1), nil, srcDoc(2), placement.Options{}, 1},
		{"document replaced", srcDoc(2), rec(2, 1), nil, nil, placement.Options{}, 2},
		{"interrupted twice", srcDoc(1), rec(3, 2, 1), nil, nil, placement.Options{}, 1},
		{"signed: sidecar's temp file torn", srcDoc(1), rec(2, 1), sidecar(1), sidecar(2, 1)[:30], keys, 1},
		{"signed: new signature added", srcDoc(1), rec(2, 1), sidecar(2, 1), nil, keys, 1},
		{"signed: document replaced", srcDoc(2), rec(2, 1), sidecar(2, 1), nil, keys, 2},
		{"signed: old signature dropped", srcDoc(2), rec(2, 1), sidecar(2), nil, keys, 2},
		{"signed: interrupted twice", srcDoc(1), rec(3, 2, 1), sidecar(3, 2, 1), nil, keys, 1},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "map.json")
		lkgWrite(t, dir, map[string][]byte{"map.json": tc.doc, "map.json.sum": tc.sum, "map.json.sig": tc.sig, "map.json.tmp-1": tc.stray})
		if m, err := LoadFile(path, tc.opt); err != nil || m.Version() != tc.want {
			t.Errorf("%s: LoadFile() = %s; want version %d", tc.name, srcOutcome(m, err), tc.want)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	pub, priv := srcKey()
	_, other := srcKey2()
	keys := placement.Options{PublicKeys: []ed25519.PublicKey{pub}}
	doc := srcDoc(1)
	rec := lkgRecord("map.json", doc)
	for _, tc := range []struct {
		name          string
		doc, sum, sig []byte // nil: no file
		opt           placement.Options
		wantErr       error
		names         string // the file the error must name
	}{
		{"missing", nil, rec, nil, placement.Options{}, fs.ErrNotExist, "map.json"},
		{"no record", doc, nil, nil, placement.Options{}, ErrIntegrity, "map.json.sum"},
		{"empty record", doc, []byte{}, nil, placement.Options{}, ErrIntegrity, "map.json"},
		{"record of another document", doc, lkgRecord("map.json", srcDoc(2)), nil, placement.Options{}, ErrIntegrity, "map.json"},
		{"record of another name", doc, lkgRecord("lkg.json", doc), nil, placement.Options{}, ErrIntegrity, "map.json"},
		{"record in upper case", doc, bytes.ToUpper(rec[:64]), nil, placement.Options{}, ErrIntegrity, "map.json"},
		{"record without its newline", doc, rec[:len(rec)-1], nil, placement.Options{}, ErrIntegrity, "map.json"},
		{"record with a blank line", doc, append([]byte("\n"), rec...), nil, placement.Options{}, ErrIntegrity, "map.json"},
		{"record of too many lines", doc, bytes.Repeat(rec, maxSumLines+1), nil, placement.Options{}, ErrIntegrity, "map.json"},
		{"record too large", doc, make([]byte, maxSumBytes+1), nil, placement.Options{}, ErrIntegrity, "map.json.sum"},
		{"garbage", []byte("{"), lkgRecord("map.json", []byte("{")), nil, placement.Options{}, placement.ErrSyntax, "map.json"},
		{"too large", doc, rec, nil, placement.Options{Limits: placement.Limits{MaxBytes: 10}}, placement.ErrLimit, "map.json"},
		{"no sidecar", doc, rec, nil, keys, placement.ErrSignature, "map.json"},
		{"sidecar not base64", doc, rec, []byte("%%%\n"), keys, placement.ErrSignature, "map.json.sig"},
		{"sidecar too large", doc, rec, make([]byte, maxSidecarBytes+1), keys, placement.ErrLimit, "map.json.sig"},
		{"untrusted signature", doc, rec, formatSidecar([][]byte{placement.Sign(other, doc)}), keys, placement.ErrSignature, "map.json"},
		{"signed", doc, rec, formatSidecar([][]byte{placement.Sign(priv, doc)}), keys, nil, ""},
		{"sidecar ignored without keys", doc, rec, []byte("%%%\n"), placement.Options{}, nil, ""},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "map.json")
		lkgWrite(t, dir, map[string][]byte{"map.json": tc.doc, "map.json.sum": tc.sum, "map.json.sig": tc.sig})
		m, err := LoadFile(path, tc.opt)
		var se *SourceError
		switch {
		case tc.wantErr == nil && err != nil:
			t.Errorf("%s: LoadFile() = %v; want version 1", tc.name, err)
		case !errors.Is(err, tc.wantErr):
			t.Errorf("%s: LoadFile() = %s; want an error matching %v", tc.name, srcOutcome(m, err), tc.wantErr)
		case err != nil && (!errors.As(err, &se) || se.Source != filepath.Join(dir, tc.names)):
			t.Errorf("%s: LoadFile() = %v; want a *SourceError naming %s", tc.name, err, tc.names)
		}
	}
	// Only regular files are read.
	dir := t.TempDir()
	path := filepath.Join(dir, "map.json")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path, placement.Options{}); !errors.Is(err, ErrNotRegular) || !errors.Is(err, ErrFetch) {
		t.Errorf("LoadFile(a directory) = %v; want ErrNotRegular and ErrFetch", err)
	}
}

// flip returns a copy of data with bit i flipped.
func flip(data []byte, i int) []byte {
	d := slices.Clone(data)
	d[i/8] ^= 1 << (i % 8)
	return d
}

// TestLoadFileBitFlips corrupts a saved map with every flip of one and of
// two bits, in the document, the record, or both: the record must refuse
// every one, though many corrupted documents are valid maps. All single
// flips go through LoadFile on disk; the pairs through checkSum, the check
// LoadFile makes before it parses.
func TestLoadFileBitFlips(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m")
	m, err := placement.Parse([]byte(`{"version":5,"cells":[{"id":"c1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	doc, _ := os.ReadFile(path)
	rec, _ := os.ReadFile(path + ".sum")
	// The two files as one bit string: document bits first.
	all := append(slices.Clone(doc), rec...)
	split := func(b []byte) ([]byte, []byte) { return b[:len(doc)], b[len(doc):] }
	nd := 8 * len(doc)
	n := 8 * len(all)

	for i := range n {
		d, r := split(flip(all, i))
		lkgWrite(t, dir, map[string][]byte{"m": d, "m.sum": r})
		if got, err := LoadFile(path, placement.Options{}); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("LoadFile() with bit %d flipped = %s; want ErrIntegrity", i, srcOutcome(got, err))
		}
	}
	valid := 0 // corrupted documents that parse as valid maps
	for i := range n {
		once := flip(all, i)
		for j := i + 1; j < n; j++ {
			d, r := split(flip(once, j))
			if err := checkSum(r, "m", d); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("checkSum() with bits %d and %d flipped = %v; want ErrIntegrity", i, j, err)
			}
			if j < nd {
				if _, err := placement.Parse(d); err == nil {
					valid++
				}
			}
		}
	}
	if valid == 0 {
		t.Errorf("no two-bit flip of the document parses: the test shows nothing about the record")
	}
	t.Logf("%d bits, %d pairs refused; %d of the %d pairs within the document parse as valid maps", n, n*(n-1)/2, valid, nd*(nd-1)/2)
	// The record itself was left valid.
	lkgWrite(t, dir, map[string][]byte{"m": doc, "m.sum": rec})
	if got, err := LoadFile(path, placement.Options{}); err != nil || got.Version() != 5 {
		t.Errorf("LoadFile() of the saved files = %s; want version 5", srcOutcome(got, err))
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

func TestAddSum(t *testing.T) {
	l := func(v int) []byte { return sumLine("map.json", srcDoc(v)) }
	join := func(vs ...int) []byte {
		var b []byte
		for _, v := range vs {
			b = append(b, l(v)...)
		}
		return b
	}
	var many []int
	for i := range maxSumLines {
		many = append(many, 10+i)
	}
	for _, tc := range []struct {
		name string
		old  []byte
		want []byte
	}{
		{"no record", nil, join(1)},
		{"one", join(2), join(1, 2)},
		{"same one", join(1), join(1)},
		{"after an interrupted save", join(3, 2), join(1, 3, 2)},
		{"bad", []byte("%%%"), join(1)},
		{"bad after a good line", append(join(2), "%%%\n"...), join(1, 2)},
		{"another name", lkgRecord("other", srcDoc(2)), join(1)},
		{"full", join(many...), join(append([]int{1}, many[:maxSumLines-1]...)...)},
	} {
		if got := bytes.Join(addSum(tc.old, "map.json", l(1)), nil); !bytes.Equal(got, tc.want) {
			t.Errorf("%s: addSum(%q) = %q; want %q", tc.name, tc.old, got, tc.want)
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
			if !errors.Is(err, placement.ErrSignature) && !errors.Is(err, placement.ErrLimit) {
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

// FuzzSumRecord checks that a record accepts a document only when it holds
// the document's exact line, and refuses everything else with ErrIntegrity.
func FuzzSumRecord(f *testing.F) {
	doc := srcDoc(1)
	f.Add(lkgRecord("m", doc), doc)
	f.Add(lkgRecord("m", srcDoc(2), doc), doc)
	f.Add([]byte("%%%"), doc)
	f.Add([]byte(""), []byte(""))
	f.Fuzz(func(t *testing.T, rec, doc []byte) {
		err := checkSum(rec, "m", doc)
		if err != nil {
			if !errors.Is(err, ErrIntegrity) {
				t.Fatalf("checkSum(%q) = %v; want ErrIntegrity", rec, err)
			}
			return
		}
		lines, ok := sumLines(rec, "m")
		if !ok || len(lines) > maxSumLines || !slices.ContainsFunc(lines, func(l []byte) bool { return bytes.Equal(l, sumLine("m", doc)) }) {
			t.Fatalf("checkSum(%q) accepted a document whose line it does not hold", rec)
		}
	})
}
