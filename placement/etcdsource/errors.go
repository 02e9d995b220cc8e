package etcdsource

import (
	"errors"
	"fmt"

	"github.com/cellkit/cellkit/placement/etcdsource/internal/layout"
)

// Errors a caller branches on, matched with errors.Is.
var (
	// ErrConflict is matched by the error of a Publish whose base version
	// is not the stored one: another publisher got there first. The error
	// is a *ConflictError when the stored version is known.
	ErrConflict = errors.New("etcdsource: the stored version is not the base of the publish")

	// ErrVersion is matched by the error of a Publish whose map's version
	// is not above its base version.
	ErrVersion = errors.New("etcdsource: the version does not increase")

	// ErrLayout is matched by the reports of a Source, and by errors of a
	// Publisher, that found keys under the prefix that do not follow the
	// layout of the package documentation: a manifest that does not parse,
	// a missing or extra chunk, a document whose size or SHA-256 differs
	// from its manifest, a version key that is not a number. A Source's
	// report also matches source.ErrFetch: no document could be read.
	// (It is layout.ErrLayout, defined with the rules it guards.)
	ErrLayout = layout.ErrLayout

	// ErrUnavailable is matched by the error of a Publisher's request that
	// etcd did not answer: no leader, no quorum, no member reachable, or
	// the context ended. A Publish that fails so may still be applied
	// later (a proposal the cluster commits once it has a quorum again):
	// publish the same version on the same base again, and a
	// *ConflictError whose Stored is that version says it was.
	ErrUnavailable = errors.New("etcdsource: etcd did not answer")

	// ErrConfig is matched by the error of NewSource, NewPublisher or
	// NewConfirmWriter (and of ConfirmWriter.Run) given a configuration it
	// cannot work with; the message names the field.
	ErrConfig = errors.New("etcdsource: invalid configuration")

	// ErrTooLarge is matched by the error of a Publish whose document needs
	// more chunks than one transaction may compare (PublisherConfig.MaxTxnOps).
	ErrTooLarge = errors.New("etcdsource: the document needs more chunks than a transaction allows")
)

// A ConflictError reports a Publish that lost: the stored version was not
// the base the publisher built on. Stored is 0 when nothing is stored.
type ConflictError struct {
	Base   uint64 // the version the publisher built on
	Stored uint64 // the version stored when the publish was refused
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("etcdsource: publish conflict: built on version %d, but version %d is stored", e.Base, e.Stored)
}

// Unwrap returns ErrConflict.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// layoutErr is an ErrLayout with a detail.
func layoutErr(format string, args ...any) error { return layout.Errorf(format, args...) }

// configError reports a configuration field that cannot work, matching
// ErrConfig.
func configError(field, why string) error {
	return fmt.Errorf("%w: %s %s", ErrConfig, field, why)
}
