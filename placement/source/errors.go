package source

import (
	"errors"
	"fmt"

	"github.com/cellkit/cellkit/placement"
)

// Errors a caller branches on. Reports of a source and errors of LoadFile
// are *SourceError values naming the file or URL; these sentinels match them
// with errors.Is, beside the sentinels of package placement that refuse a
// document.
var (
	// ErrConfig is matched by the errors of NewFile and NewHTTP for a
	// configuration they refuse, and of SaveFile for a map it cannot save.
	ErrConfig = errors.New("source: invalid configuration")
	// ErrNotRegular is matched, with ErrFetch, when a path names
	// a directory, a FIFO, a device or anything else than a regular file.
	ErrNotRegular = errors.New("source: not a regular file")
	// ErrRedirect is matched, with ErrFetch, when an HTTP source
	// refused to follow a redirect: to another origin, or past
	// HTTPConfig.MaxRedirects.
	ErrRedirect = errors.New("source: redirect not followed")
	// ErrIntegrity is matched by LoadFile when the integrity record that
	// SaveFile wrote is missing, malformed, or does not match the document.
	ErrIntegrity = errors.New("source: integrity check failed")
	// ErrFetch is wrapped by the reports of a Source that could not read a
	// document at all: a file it cannot open or read, a failed or timed-out
	// request, an HTTP status other than 200 and 304. A document that was
	// read but refused is reported with the error that refused it instead.
	ErrFetch = errors.New("source: cannot fetch the map")
	// ErrStaleVersion is matched by the reports of a Follower that refused a
	// map: a version lower than the one in force, or another document under
	// the version in force.
	ErrStaleVersion = errors.New("source: map version does not increase")
	// ErrNotConfirmed is matched by a *NotConfirmedError: cells had not
	// confirmed a map version when the wait ended.
	ErrNotConfirmed = errors.New("source: map version not confirmed")
	// ErrRunning is returned by Follower.Run when it was called before.
	ErrRunning = errors.New("source: the follower runs once")
	// ErrStopped is matched by Follower.Await once Run has returned.
	ErrStopped = errors.New("source: the follower has stopped")
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
	return &SourceError{Source: src, Err: fmt.Errorf("%w: %w", ErrFetch, err)}
}
