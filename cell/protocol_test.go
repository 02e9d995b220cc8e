package cell_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cell/celltest"
)

// TestProtocolRoundTrip: what WriteMoved and WriteRefused write,
// DecodeReply reads back.
func TestProtocolRoundTrip(t *testing.T) {
	w := httptest.NewRecorder()
	cell.WriteMoved(w, "eu-2", 42)
	var me *cell.MovedError
	if err := cell.DecodeReply(w.Code, w.Header()); !errors.As(err, &me) || me.Cell != "eu-2" || me.Version != 42 {
		t.Fatalf("DecodeReply(WriteMoved(eu-2, 42)) = %v", err)
	}
	for _, reason := range []error{cell.ErrFrozen, cell.ErrCellBehind} {
		w := httptest.NewRecorder()
		cell.WriteRefused(w, reason, 1500*time.Millisecond, 7)
		var re *cell.RefusedError
		err := cell.DecodeReply(w.Code, w.Header())
		if !errors.As(err, &re) || re.Err != reason || re.RetryAfter != 2*time.Second || re.Version != 7 {
			t.Fatalf("DecodeReply(WriteRefused(%v, 1.5s, 7)) = %#v", reason, err)
		}
	}
}

// TestProtocolMalformed: a reply whose protocol headers are malformed or
// hostile is not a protocol reply, and nothing of it is quoted.
func TestProtocolMalformed(t *testing.T) {
	huge := strings.Repeat("x", 9<<20)
	tests := []struct {
		name   string
		status int
		h      map[string]string
	}{
		{"owner of 9 MiB", 421, map[string]string{cell.HeaderOwner: huge, cell.HeaderMapVersion: "3"}},
		{"owner of 64 bytes", 421, map[string]string{cell.HeaderOwner: strings.Repeat("a", 64), cell.HeaderMapVersion: "3"}},
		{"owner with a quote", 421, map[string]string{cell.HeaderOwner: `a"b`, cell.HeaderMapVersion: "3"}},
		{"owner starting with a dash", 421, map[string]string{cell.HeaderOwner: "-a", cell.HeaderMapVersion: "3"}},
		{"no owner", 421, map[string]string{cell.HeaderMapVersion: "3"}},
		{"bad version", 421, map[string]string{cell.HeaderOwner: "eu-1", cell.HeaderMapVersion: "-3"}},
		{"421 without protocol", 421, nil},
		{"unknown refusal", 503, map[string]string{cell.HeaderRefused: huge}},
		{"plain 503", 503, nil},
		{"moved headers on a 200", 200, map[string]string{cell.HeaderOwner: "eu-1", cell.HeaderMapVersion: "3"}},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.h {
			h.Set(k, v)
		}
		if err := cell.DecodeReply(tt.status, h); err != nil {
			t.Errorf("%s: DecodeReply = %.100v; want nil (not a protocol reply)", tt.name, err)
		}
	}
	// A Retry-After is bounded.
	h := http.Header{}
	h.Set(cell.HeaderRefused, "behind")
	h.Set(cell.HeaderRetryAfter, "4000000000")
	var re *cell.RefusedError
	if err := cell.DecodeReply(503, h); !errors.As(err, &re) || re.RetryAfter > time.Hour {
		t.Fatalf("DecodeReply(Retry-After: 4e9) = %v; want a refusal with RetryAfter at most 1h", err)
	}
}

// TestHugeOwnerNotQuoted is Why bullet 8: a 421 whose Cell-Owner is 9 MiB
// is not the protocol's (not a valid cell ID): it is not followed, and the
// caller gets the reply, not a 9 MiB error message.
func TestHugeOwnerNotQuoted(t *testing.T) {
	huge := strings.Repeat("x", 9<<20)
	f := celltest.NewFleet(t, celltest.Config{Cells: 2, Handler: func(string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(cell.HeaderOwner, huge)
			w.Header().Set(cell.HeaderMapVersion, "1")
			w.WriteHeader(http.StatusMisdirectedRequest)
		})
	}})
	for range 3 {
		resp, _, err := send(context.Background(), f.HTTPClient(), http.MethodGet, "tenant-1")
		if err != nil {
			if n := len(err.Error()); n > 4096 {
				t.Fatalf("GET answered by a 9 MiB Cell-Owner: an error of %d bytes; want the reply", n)
			}
			t.Fatalf("GET answered by a 9 MiB Cell-Owner = %.200v; want the reply", err)
		}
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("GET answered by a 9 MiB Cell-Owner = %d; want its 421", resp.StatusCode)
		}
	}
}
