package source

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFileAtomic checks the exported atomic write that tools (cellctl)
// use: it creates and replaces a file with mode 0644, leaves no temporary
// file, and replaces a symbolic link rather than following it.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "map.json")
	for _, data := range []string{"one", "two"} {
		if err := WriteFileAtomic(path, []byte(data)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Fatalf("after writing %q: %q, %v", data, got, err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
			t.Errorf("mode %v; want 0644", fi.Mode().Perm())
		}
	}
	if tmps, _ := filepath.Glob(path + ".tmp-*"); len(tmps) > 0 {
		t.Errorf("temporary files left: %q", tmps)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(path, link); err != nil {
		t.Skip(err)
	}
	if err := WriteFileAtomic(link, []byte("three")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink != 0 {
		t.Error("the link was followed; WriteFileAtomic documents that it replaces it")
	}
	if got, _ := os.ReadFile(path); string(got) != "two" {
		t.Errorf("the link's target changed to %q", got)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "nodir", "x"), nil); err == nil {
		t.Error("a write into a missing directory succeeded")
	}
}

// TestRemoveStaleTemps removes the temporary files of a path, its
// signature and its record, and nothing else.
func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "map.json")
	stale := []string{"map.json.tmp-1", "map.json.sig.tmp-22", "map.json.sum.tmp-333"}
	kept := []string{"map.json", "map.json.tmp-", "map.json.tmp-x1", "other.json.tmp-1", "map.json.lock"}
	for _, n := range append(append([]string{}, stale...), kept...) {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	RemoveStaleTemps(path)
	for _, n := range stale {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			t.Errorf("%s was not removed", n)
		}
	}
	for _, n := range kept {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s was removed", n)
		}
	}
}
