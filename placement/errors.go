package placement

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Errors a caller branches on. Parse and the Builder return them wrapped in a
// *FieldError that names the field and the offending value; Locate wraps
// ErrCellDisabled in a *CellError. One cause has one sentinel wherever it
// occurs: a value over a Limits field is ErrLimit, a string that is not
// UTF-8 is ErrUTF8, a value of the wrong JSON type is the field's own
// sentinel when it has one (ErrVersion for a version given as a string) and
// ErrType otherwise.
var (
	ErrSyntax        = errors.New("placement: malformed JSON")
	ErrUnknownField  = errors.New("placement: unknown field")
	ErrDuplicateKey  = errors.New("placement: duplicate JSON key")
	ErrType          = errors.New("placement: value of the wrong type")
	ErrUTF8          = errors.New("placement: string is not valid UTF-8")
	ErrVersion       = errors.New("placement: version must be at least 1")
	ErrSeed          = errors.New("placement: seed must be a 64-bit decimal or 0x-hex string")
	ErrBuckets       = errors.New("placement: buckets out of range")
	ErrShardSize     = errors.New("placement: shardSize out of range")
	ErrCellID        = errors.New("placement: bad cell ID")
	ErrSpace         = errors.New("placement: identifier starts or ends with white space")
	ErrDuplicateCell = errors.New("placement: duplicate cell ID")
	ErrState         = errors.New("placement: unknown cell state")
	ErrWeight        = errors.New("placement: weight must be 0 or in [1e-6, 1e6]")
	ErrNoEligible    = errors.New("placement: no active cell with positive weight")
	ErrEndpoint      = errors.New("placement: endpoint must be an http or https URL of a host, an optional port and an optional path prefix")
	ErrTable         = errors.New("placement: bad bucket table")
	ErrUnknownCell   = errors.New("placement: cell is not defined")
	ErrCellUse       = errors.New("placement: cell state does not allow this use")
	ErrKey           = errors.New("placement: override and migration keys must not be empty")
	ErrConflict      = errors.New("placement: conflicting entries")
	ErrMigration     = errors.New("placement: bad migration")
	ErrLimit         = errors.New("placement: limit exceeded")
	ErrSignature     = errors.New("placement: missing or invalid signature")
	ErrCellDisabled  = errors.New("placement: cell is disabled")
	ErrNotFound      = errors.New("placement: no such entry")
	ErrEdit          = errors.New("placement: edit not allowed")

	// ErrNoKey is returned by Locate and AppendLocate for the empty key:
	// a request without a key has no cell, rather than all going to one.
	ErrNoKey = errors.New("placement: empty key")

	// ErrNoMap is returned by the methods of a nil or zero *Map that
	// return errors; the others give their documented zero answers.
	ErrNoMap = errors.New("placement: no map")
)

// MaxQuote is the most bytes of any one input value that an error message
// quotes (then followed by "…"), so that messages stay short whatever the
// input: a field name, a key, a number or a string of a megabyte is quoted
// by its first MaxQuote bytes. Paths quote keys the same way.
const MaxQuote = 64

// A FieldError reports one bad value in a document or an edit. Field is a
// path into the document, such as cells[3].weight or overrides["tenant-9"].
type FieldError struct {
	Field  string
	Value  string // the offending value as written (JSON text, or a quoted string), at most MaxQuote bytes of it
	Err    error  // one of the sentinels above
	Detail string // what is wrong and what is expected, when the sentinel does not say it all
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

// fieldErr builds a FieldError; value is a Go string, quoted when not empty.
func fieldErr(err error, field, value, detail string, args ...any) *FieldError {
	if len(args) > 0 {
		detail = fmt.Sprintf(detail, args...)
	}
	if value != "" {
		value = quote(value)
	}
	return &FieldError{Field: field, Value: value, Err: err, Detail: detail}
}

// quote writes s for an error message: its first MaxQuote bytes, quoted.
func quote(s string) string { return fmt.Sprintf("%q", shorten(s)) }

// shorten keeps at most MaxQuote bytes of s, cut at a character boundary,
// and marks the cut with "…".
func shorten(s string) string {
	if len(s) <= MaxQuote {
		return s
	}
	n := MaxQuote
	for n > MaxQuote-utf8.UTFMax && n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// A CellError reports a key whose cell cannot serve it.
type CellError struct {
	Key  string
	Cell string
	Err  error // ErrCellDisabled
}

func (e *CellError) Error() string {
	return fmt.Sprintf("placement: key %s is homed on cell %q, which is disabled", quote(e.Key), e.Cell)
}

func (e *CellError) Unwrap() error { return e.Err }
