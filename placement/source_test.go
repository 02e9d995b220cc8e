package placement

import (
	"errors"
	"testing"
)

func TestSourceError(t *testing.T) {
	err := error(&SourceError{Source: "/etc/map.json", Err: fieldErr(ErrStaleVersion, "version", "", "3 is lower than 5")})
	if got, want := err.Error(), "placement: source /etc/map.json: version: 3 is lower than 5"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if !errors.Is(err, ErrStaleVersion) {
		t.Errorf("errors.Is(%v, ErrStaleVersion) = false", err)
	}
}
