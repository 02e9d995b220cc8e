package placement

import (
	"errors"
	"fmt"
	"strings"
)

// Errors a caller branches on. Parse and the Builder return them wrapped in a
// *FieldError that names the field and the offending value; Locate wraps
// ErrCellDisabled in a *CellError.
var (
	ErrSyntax        = errors.New("placement: malformed JSON")
	ErrUnknownField  = errors.New("placement: unknown field")
	ErrDuplicateKey  = errors.New("placement: duplicate JSON key")
	ErrVersion       = errors.New("placement: version must be at least 1")
	ErrSeed          = errors.New("placement: seed must be a 64-bit decimal or 0x-hex string")
	ErrBuckets       = errors.New("placement: buckets out of range")
	ErrShardSize     = errors.New("placement: shardSize out of range")
	ErrCellID        = errors.New("placement: bad cell ID")
	ErrDuplicateCell = errors.New("placement: duplicate cell ID")
	ErrState         = errors.New("placement: unknown cell state")
	ErrWeight        = errors.New("placement: weight must be finite and not negative")
	ErrNoEligible    = errors.New("placement: no active cell with positive weight")
	ErrEndpoint      = errors.New("placement: endpoint must be an absolute http or https URL")
	ErrTable         = errors.New("placement: bad bucket table")
	ErrUnknownCell   = errors.New("placement: cell is not defined")
	ErrCellUse       = errors.New("placement: cell state does not allow this use")
	ErrConflict      = errors.New("placement: conflicting entries")
	ErrMigration     = errors.New("placement: bad migration")
	ErrLimit         = errors.New("placement: limit exceeded")
	ErrSignature     = errors.New("placement: missing or invalid signature")
	ErrStaleVersion  = errors.New("placement: map version does not increase")
	ErrCellDisabled  = errors.New("placement: cell is disabled")
	ErrNotFound      = errors.New("placement: no such entry")
	ErrEdit          = errors.New("placement: edit not allowed")

	// ErrFetch is wrapped by the reports of a Source that could not read a
	// document at all: a file it cannot open or read, a failed or timed-out
	// request, an HTTP status other than 200 and 304. A document that was
	// read but refused is reported with the error that refused it instead.
	ErrFetch = errors.New("placement: cannot fetch the map")
)

// A FieldError reports one bad value in a document or an edit. Field is a
// path into the document, such as cells[3].weight or overrides["tenant-9"].
type FieldError struct {
	Field  string
	Value  string // the offending value, quoted and shortened
	Err    error  // one of the sentinels above
	Detail string // what is wrong, when the sentinel does not say it all
}

func (e *FieldError) Error() string {
	what := e.Detail
	if what == "" {
		what = strings.TrimPrefix(e.Err.Error(), "placement: ")
	}
	if e.Value != "" && !strings.Contains(what, e.Value) {
		return fmt.Sprintf("placement: %s: %s: %s", e.Field, what, e.Value)
	}
	return fmt.Sprintf("placement: %s: %s", e.Field, what)
}

func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr builds a FieldError; value is quoted when not empty.
func fieldErr(err error, field, value, detail string, args ...any) *FieldError {
	if len(args) > 0 {
		detail = fmt.Sprintf(detail, args...)
	}
	if value != "" {
		value = fmt.Sprintf("%q", shorten(value))
	}
	return &FieldError{Field: field, Value: value, Err: err, Detail: detail}
}

// shorten keeps error messages bounded whatever the input.
func shorten(s string) string {
	const max = 120
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// A CellError reports a key whose cell cannot serve it.
type CellError struct {
	Key  string
	Cell string
	Err  error // ErrCellDisabled
}

func (e *CellError) Error() string {
	return fmt.Sprintf("placement: key %q is homed on cell %q, which is disabled", shorten(e.Key), e.Cell)
}

func (e *CellError) Unwrap() error { return e.Err }
