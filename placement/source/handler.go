package source

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/cellkit/cellkit/placement"
)

// A Holder holds a current map: a *Follower, the map it follows, or Fixed,
// one map for ever. Map returns nil before the first map and must be cheap
// and safe for concurrent use: Handler and cell.Guard call it per request.
type Holder interface {
	Map() *placement.Map
}

// HolderFunc adapts a function to a Holder, as http.HandlerFunc does.
type HolderFunc func() *placement.Map

// Map returns f().
func (f HolderFunc) Map() *placement.Map { return f() }

// Fixed returns a Holder of m for ever.
func Fixed(m *placement.Map) Holder { return fixed{m} }

type fixed struct{ m *placement.Map }

func (f fixed) Map() *placement.Map { return f.m }

// A Handler serves the map a Holder holds the way NewHTTP polls it: the
// document's exact bytes (Map.Bytes) as application/json, a strong ETag
// derived from the document and its signature, 304 Not Modified when
// If-None-Match names it, HEAD, the SignatureHeader of a signed map, and
// Cache-Control: no-cache so that caches revalidate. Before the holder has a
// map it answers 503 with Retry-After; methods other than GET and HEAD get
// 405. A control plane is then a few lines:
//
//	f, _ := source.NewFollower(source.FollowerConfig{Source: file})
//	go f.Run(ctx)
//	http.Handle("/map", source.NewHandler(f))
//
// The work per request is bounded whatever the map: the ETag and the
// signature's encoding are computed once per map (the first request that
// sees it), and a request reads them and writes the bytes. A Handler does
// no I/O but the response and is safe for concurrent use.
type Handler struct {
	maps Holder
	last atomic.Pointer[served]
}

// served is what a Handler serves for one map.
type served struct {
	m      *placement.Map
	etag   string
	sig    string // base64, empty when unsigned
	length string
}

// NewHandler returns a Handler of the map h holds.
func NewHandler(h Holder) *Handler { return &Handler{maps: h} }

// current returns what to serve for m, computing it once per map.
func (h *Handler) current(m *placement.Map) *served {
	if s := h.last.Load(); s != nil && s.m == m {
		return s
	}
	doc, sig := m.Bytes(), m.Signature()
	d := sha256.New()
	d.Write(doc)
	d.Write([]byte{0})
	d.Write(sig)
	s := &served{
		m:      m,
		etag:   `"` + hex.EncodeToString(d.Sum(nil)[:16]) + `"`,
		length: strconv.Itoa(len(doc)),
	}
	if len(sig) > 0 {
		s.sig = base64.StdEncoding.EncodeToString(sig)
	}
	h.last.Store(s)
	return s
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "source: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	m := h.maps.Map()
	if m == nil || len(m.Bytes()) == 0 {
		hdr.Set("Retry-After", "1")
		hdr.Set("Cache-Control", "no-store")
		http.Error(w, "source: no map yet", http.StatusServiceUnavailable)
		return
	}
	s := h.current(m)
	hdr.Set("ETag", s.etag)
	hdr.Set("Cache-Control", "no-cache")
	if s.sig != "" {
		hdr.Set(SignatureHeader, s.sig)
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, s.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", s.length)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(m.Bytes())
	}
}

// etagMatch reports whether the If-None-Match list names etag or is "*",
// with the weak comparison RFC 9110 prescribes for If-None-Match.
func etagMatch(list, etag string) bool {
	for t := range strings.SplitSeq(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
