package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

var serveCmd = &command{
	name:    "serve",
	args:    "[--addr A] [--ready FILE] [--public-key PUB]... FILE",
	summary: "serve a map over HTTP for the HTTP source, reloading on change",
	help: `Serve is a development control plane: it serves the map FILE over HTTP at
/ and /NAME (NAME being FILE's base name) the way the HTTP source reads it,
with an ETag (a 304 for a matching If-None-Match), the signature from
FILE.sig in the Cellkit-Signature header, and Cache-Control: no-cache.

Before each request it checks whether FILE or FILE.sig changed and reloads
them: a document that does not parse, fails the signature check (with
--public-key) or goes back in version is refused, logged on standard error,
and the last good map stays served. Publish to the file with
'cellctl publish --to file:FILE'.

It prints the address it listens on ('serving vN at http://HOST:PORT/'),
writes the URL to --ready FILE once listening (for scripts: use port 0 and
read it there), and stops cleanly on SIGINT or SIGTERM.`,
	examples: `cellctl serve --addr 127.0.0.1:8080 /srv/placement/map.json
cellctl serve --addr 127.0.0.1:0 --ready url.txt map.json &
cellctl get --from "$(cat url.txt)"`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		var d docFlags
		d.register(fs, true)
		addr := fs.String("addr", "127.0.0.1:8080", "listen on `A` (host:port; port 0 picks a free one)")
		ready := fs.String("ready", "", "write the URL to `FILE` once listening")
		return func(e *env, args []string) error {
			if len(args) != 1 {
				return usagef("serve needs one map FILE")
			}
			opt, err := d.options()
			if err != nil {
				return err
			}
			return serve(e, args[0], opt, *addr, *ready)
		}
	},
}

// served is one version of what the server sends.
type served struct {
	doc, sig []byte // sig is the signature to send, or nil
	etag     string
	version  uint64
	docInfo  os.FileInfo
	sigInfo  os.FileInfo // nil: no sidecar
	checked  time.Time   // when the files were last read
}

// mapServer serves a map file and reloads it when it changes.
type mapServer struct {
	path    string
	opt     placement.Options
	log     io.Writer
	mu      sync.Mutex // serializes reloads
	cur     *served
	refused [sha256.Size]byte // the content last refused, logged once
}

func serve(e *env, path string, opt placement.Options, addr, ready string) error {
	s := &mapServer{path: path, opt: opt, log: e.stderr}
	first, err := s.read()
	if err != nil {
		return err
	}
	s.cur = first
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String() + "/"
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(e.stdout, "serving v%d at %s\n", first.version, url)
	if ready != "" {
		if err := writeFile(ready, []byte(url+"\n")); err != nil {
			srv.Close()
			return err
		}
	}
	select {
	case err := <-done:
		return err
	case <-e.ctx.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "stopped\n")
	return nil
}

func (s *mapServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/"+filepath.Base(s.path) {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	cur := s.reload()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", cur.etag)
	if cur.sig != nil {
		h.Set(source.SignatureHeader, base64.StdEncoding.EncodeToString(cur.sig))
	}
	// ServeContent answers If-None-Match with 304 from the ETag set above.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(cur.doc))
}

// racyWindow: a file modified this recently may change again without its
// size or modification time changing, so it is read again.
const racyWindow = 2 * time.Second

// reload returns what to serve, reading the files again if they changed.
func (s *mapServer) reload() *served {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cur
	di, derr := os.Stat(s.path)
	si, serr := os.Stat(s.path + sigSuffix)
	if serr != nil {
		si = nil
	}
	if derr == nil && sameInfo(di, cur.docInfo) && sameInfo(si, cur.sigInfo) &&
		cur.checked.Sub(di.ModTime()) > racyWindow && (si == nil || cur.checked.Sub(si.ModTime()) > racyWindow) {
		return cur
	}
	next, err := s.read()
	if err != nil {
		s.refuse(err)
		return cur
	}
	if bytes.Equal(next.doc, cur.doc) && bytes.Equal(next.sig, cur.sig) {
		s.cur = next // same content, newer stat
		return next
	}
	if next.version < cur.version || (next.version == cur.version && !bytes.Equal(next.doc, cur.doc)) {
		s.refuse(&placement.FieldError{Field: "version", Err: source.ErrStaleVersion,
			Detail: fmt.Sprintf("v%d does not increase on v%d, the version served", next.version, cur.version)})
		return cur
	}
	s.cur = next
	if next.version != cur.version {
		fmt.Fprintf(s.log, "serve: now serving v%d\n", next.version)
	}
	return next
}

// refuse logs a refused reload once per error message.
func (s *mapServer) refuse(err error) {
	h := sha256.Sum256([]byte(err.Error()))
	if h == s.refused {
		return
	}
	s.refused = h
	fmt.Fprintf(s.log, "serve: keeping v%d: %v\n", s.cur.version, err)
}

func sameInfo(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// read loads the document and its sidecar and picks the signature to send:
// the one that verified, or without trusted keys the first.
func (s *mapServer) read() (*served, error) {
	now := time.Now()
	di, err := os.Stat(s.path)
	if err != nil {
		return nil, err
	}
	si, err := os.Stat(s.path + sigSuffix)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		si = nil
	}
	m, doc, sigs, err := loadDoc(s.path, s.opt)
	if err != nil {
		return nil, err
	}
	sv := &served{doc: doc, version: m.Version(), docInfo: di, sigInfo: si, checked: now}
	switch {
	case m.Signature() != nil:
		sv.sig = m.Signature()
	case len(sigs) > 0:
		sv.sig = sigs[0]
	}
	h := sha256.New()
	h.Write(doc)
	h.Write([]byte{0})
	h.Write(sv.sig)
	sv.etag = `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
	return sv, nil
}
