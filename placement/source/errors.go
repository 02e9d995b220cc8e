package source

import (
	"errors"
	"fmt"

	"github.com/cellkit/cellkit/placement"
)

// Errors a caller branches on. Reports of a source and errors of LoadFile
// are *placement.SourceError values naming the file or URL; these sentinels
// match them with errors.Is, beside placement.ErrFetch and the sentinels of
// package placement that refuse a document.
var (
	// ErrConfig is matched by the errors of NewFile and NewHTTP for a
	// configuration they refuse, and of SaveFile for a map it cannot save.
	ErrConfig = errors.New("source: invalid configuration")
	// ErrNotRegular is matched, with placement.ErrFetch, when a path names
	// a directory, a FIFO, a device or anything else than a regular file.
	ErrNotRegular = errors.New("source: not a regular file")
	// ErrRedirect is matched, with placement.ErrFetch, when an HTTP source
	// refused to follow a redirect: to another origin, or past
	// HTTPConfig.MaxRedirects.
	ErrRedirect = errors.New("source: redirect not followed")
	// ErrIntegrity is matched by LoadFile when the integrity record that
	// SaveFile wrote is missing, malformed, or does not match the document.
	ErrIntegrity = errors.New("source: integrity check failed")
)

// maxQuote bounds the bytes of outside input (a URL, a status line) quoted
// in an error message.
const maxQuote = 120

// shorten keeps error messages bounded whatever the input.
func shorten(s string) string {
	if len(s) > maxQuote {
		return s[:maxQuote] + "…"
	}
	return s
}

// fieldErr reports a refused document or signature in the form of package
// placement.
func fieldErr(err error, field, detail string, args ...any) *placement.FieldError {
	return &placement.FieldError{Field: field, Err: err, Detail: fmt.Sprintf(detail, args...)}
}

// fetchErr reports a document that could not be read at all.
func fetchErr(src string, err error) error {
	return &placement.SourceError{Source: src, Err: fmt.Errorf("%w: %w", placement.ErrFetch, err)}
}
