package source

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
)

// BenchmarkFilePoll measures one poll of a file source that finds nothing
// new: the stat-only fast path of an old file, and a recent file that is
// read and hashed again at each poll (the racy window).
func BenchmarkFilePoll(b *testing.B) {
	for _, bc := range []struct {
		name string
		age  time.Duration
	}{
		{"unchanged", time.Hour},
		{"recent", 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "map.json")
			if err := os.WriteFile(path, srcDoc(1, "c1", "c2", "c3", "c4"), 0o644); err != nil {
				b.Fatal(err)
			}
			mtime := time.Now().Add(-bc.age)
			if err := os.Chtimes(path, mtime, mtime); err != nil {
				b.Fatal(err)
			}
			s, err := NewFile(path, FileConfig{})
			if err != nil {
				b.Fatal(err)
			}
			if m, err := s.poll(); err != nil || m == nil {
				b.Fatalf("first poll = %s", srcOutcome(m, err))
			}
			b.ReportAllocs()
			for b.Loop() {
				pollNothing(b, s)
			}
		})
	}
}

//go:noinline
func pollNothing(b *testing.B, s *File) {
	if m, err := s.poll(); m != nil || err != nil {
		b.Fatalf("poll() = %s; want nothing", srcOutcome(m, err))
	}
}

// BenchmarkHTTPPollNotModified measures one poll answered 304 Not Modified
// by an in-memory transport: the cost of the source around the round trip.
func BenchmarkHTTPPollNotModified(b *testing.B) {
	doc := string(srcDoc(1))
	answer := func(r *http.Request) (*http.Response, error) {
		if r.Header.Get("If-None-Match") == `"1"` {
			return srcAnswer(r, http.StatusNotModified, strings.NewReader("")), nil
		}
		return srcAnswer(r, http.StatusOK, strings.NewReader(doc), "ETag", `"1"`), nil
	}
	s, err := NewHTTP("http://cp/map.json", HTTPConfig{Client: &http.Client{Transport: srcTransport(answer)}})
	if err != nil {
		b.Fatal(err)
	}
	if m, err := s.poll(b.Context()); err != nil || m == nil {
		b.Fatalf("first poll = %s", srcOutcome(m, err))
	}
	b.ReportAllocs()
	for b.Loop() {
		pollHTTPNothing(b, s)
	}
}

//go:noinline
func pollHTTPNothing(b *testing.B, s *HTTP) {
	if m, err := s.poll(b.Context()); m != nil || err != nil {
		b.Fatalf("poll() = %s; want nothing", srcOutcome(m, err))
	}
}

// BenchmarkLoadFile measures a restart's LoadFile of a last-known-good map
// of 64 cells: reads, checksum and parse.
func BenchmarkLoadFile(b *testing.B) {
	cells := make([]string, 64)
	for i := range cells {
		cells[i] = "c" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	m, err := placement.Parse(srcDoc(1, cells...))
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "map.json")
	if err := SaveFile(path, m); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(m.Bytes())))
	b.ReportAllocs()
	for b.Loop() {
		load(b, path)
	}
}

//go:noinline
func load(b *testing.B, path string) {
	if _, err := LoadFile(path, placement.Options{}); err != nil {
		b.Fatal(err)
	}
}
