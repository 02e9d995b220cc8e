package layout

import (
	"errors"
	"testing"
)

// FuzzParseManifest: no input panics; an accepted manifest is within its
// bounds and encodes back to an equal manifest; a refusal is ErrLayout.
// It lives here, not in etcdsource, so that it fuzzes a binary without the
// etcd client (see the package doc).
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"id":"00000000000000000042-9f86d081884c7d65","chunks":21,"bytes":22890338,"sha256":"` +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" + `"}`))
	f.Add([]byte(`{"id":"x","chunks":1,"bytes":1,"sha256":""}`))
	f.Add([]byte(`{"id":"../x","chunks":0,"bytes":-1}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data, 64<<20)
		if err != nil {
			if !errors.Is(err, ErrLayout) {
				t.Fatalf("ParseManifest(%q) = %v; want an error matching ErrLayout", data, err)
			}
			return
		}
		if m.Chunks < 1 || m.Chunks > m.Bytes || m.Bytes > 64<<20 || CheckID(m.ID) != nil {
			t.Fatalf("ParseManifest(%q) = %+v; outside its bounds", data, m)
		}
		again, err := ParseManifest(m.Encode(), 64<<20)
		if err != nil || again != m {
			t.Fatalf("ParseManifest(Encode(%+v)) = %+v, %v; want the same", m, again, err)
		}
	})
}
