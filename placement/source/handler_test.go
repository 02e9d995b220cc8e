package source

import (
	"crypto/ed25519"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
)

// swapHolder is a Holder whose map a test replaces.
type swapHolder struct{ p atomic.Pointer[placement.Map] }

func (h *swapHolder) Map() *placement.Map { return h.p.Load() }

func handlerGet(t *testing.T, url, method string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestHandler checks the replies of a Handler: 503 before a map, the
// document with a strong ETag and no-cache, 304 on If-None-Match (a list,
// a weak form, *), HEAD without a body, 405 for other methods, and a new
// ETag for a new map.
func TestHandler(t *testing.T) {
	var h swapHolder
	srv := httptest.NewServer(NewHandler(&h))
	defer srv.Close()

	resp, _ := handlerGet(t, srv.URL, "GET")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("before a map: %s, Retry-After %q; want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}

	m1 := srcMap(t, 1)
	h.p.Store(m1)
	resp, body := handlerGet(t, srv.URL, "GET")
	etag := resp.Header.Get("ETag")
	switch {
	case resp.StatusCode != http.StatusOK:
		t.Fatalf("GET: %s; want 200", resp.Status)
	case body != string(m1.Bytes()):
		t.Errorf("GET body = %q; want the document's bytes %q", body, m1.Bytes())
	case !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 10:
		t.Errorf("ETag = %q; want a strong ETag", etag)
	case resp.Header.Get("Cache-Control") != "no-cache":
		t.Errorf("Cache-Control = %q; want no-cache", resp.Header.Get("Cache-Control"))
	case resp.Header.Get("Content-Type") != "application/json":
		t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
	case resp.Header.Get(SignatureHeader) != "":
		t.Errorf("unsigned map served with %s %q", SignatureHeader, resp.Header.Get(SignatureHeader))
	}
	for _, inm := range []string{etag, `"x", ` + etag, "W/" + etag, "*"} {
		resp, body = handlerGet(t, srv.URL, "GET", "If-None-Match", inm)
		if resp.StatusCode != http.StatusNotModified || body != "" || resp.Header.Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %s, %d bytes, ETag %q; want 304 with the ETag and no body", inm, resp.Status, len(body), resp.Header.Get("ETag"))
		}
	}
	resp, body = handlerGet(t, srv.URL, "GET", "If-None-Match", `"other"`)
	if resp.StatusCode != http.StatusOK || body != string(m1.Bytes()) {
		t.Errorf("If-None-Match of another ETag: %s; want 200 and the document", resp.Status)
	}
	resp, body = handlerGet(t, srv.URL, "HEAD")
	if resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("ETag") != etag || resp.ContentLength != int64(len(m1.Bytes())) {
		t.Errorf("HEAD: %s, %d bytes, ETag %q, length %d; want 200, no body, the ETag and the document's length", resp.Status, len(body), resp.Header.Get("ETag"), resp.ContentLength)
	}
	resp, _ = handlerGet(t, srv.URL, "POST")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %s, Allow %q; want 405 with Allow: GET, HEAD", resp.Status, resp.Header.Get("Allow"))
	}

	h.p.Store(srcMap(t, 2))
	resp, _ = handlerGet(t, srv.URL, "GET", "If-None-Match", etag)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
		t.Errorf("after a new map: %s, ETag %q; want 200 and a new ETag", resp.Status, resp.Header.Get("ETag"))
	}
}

// TestHandlerSigned checks that a signed map is served with its signature,
// which an HTTP source trusting the key verifies, and that the ETag names
// the signature too: the same document signed again is another ETag.
func TestHandlerSigned(t *testing.T) {
	pub, priv := srcKey()
	opt := placement.Options{PublicKeys: []ed25519.PublicKey{pub}}
	doc := srcDoc(3)
	sig1 := placement.Sign(priv, doc)
	m, err := placement.ParseSigned(doc, [][]byte{sig1}, opt)
	if err != nil {
		t.Fatal(err)
	}
	var h swapHolder
	h.p.Store(m)
	srv := httptest.NewServer(NewHandler(&h))
	defer srv.Close()
	resp, _ := handlerGet(t, srv.URL, "GET")
	if got := resp.Header.Get(SignatureHeader); got != base64.StdEncoding.EncodeToString(sig1) {
		t.Fatalf("%s = %q; want the map's signature", SignatureHeader, got)
	}
	etag := resp.Header.Get("ETag")

	src, err := NewHTTP(srv.URL, HTTPConfig{Interval: time.Hour, Jitter: -1})
	if err != nil {
		t.Fatal(err)
	}
	src.SetParse(opt, nil)
	got, err := src.Next(t.Context())
	if err != nil || got.Version() != 3 || string(got.Signature()) != string(sig1) {
		t.Fatalf("an HTTP source trusting the key: Next() = %v, %v; want version 3 with the signature", got, err)
	}

	// Another signature of the same document (another trusted key's, or a
	// re-signing) must change the ETag, or pollers would keep the old one.
	pub2, priv2 := srcKey2()
	opt2 := placement.Options{PublicKeys: []ed25519.PublicKey{pub, pub2}}
	m2, err := placement.ParseSigned(doc, [][]byte{placement.Sign(priv2, doc)}, opt2)
	if err != nil {
		t.Fatal(err)
	}
	h.p.Store(m2)
	resp, _ = handlerGet(t, srv.URL, "GET", "If-None-Match", etag)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
		t.Errorf("same document, another signature: %s, ETag %q; want 200 and another ETag than %q", resp.Status, resp.Header.Get("ETag"), etag)
	}
}

// TestHandlerOncePerMap checks the bounded work per request: the ETag and
// the encoded signature are computed at the first request that sees a map
// and reused by every later one.
func TestHandlerOncePerMap(t *testing.T) {
	var h swapHolder
	m := srcMap(t, 1)
	h.p.Store(m)
	hd := NewHandler(&h)
	req := httptest.NewRequest("HEAD", "/map", nil)
	hd.ServeHTTP(httptest.NewRecorder(), req)
	first := hd.last.Load()
	for range 3 {
		hd.ServeHTTP(httptest.NewRecorder(), req)
	}
	if hd.last.Load() != first || first.m != m {
		t.Fatal("the Handler computed what it serves again for the same map")
	}
}
