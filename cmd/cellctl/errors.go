package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/etcdsource"
	"github.com/cellkit/cellkit/placement/source"
)

// Errors of cellctl itself, beside placement's.
var (
	// errLostRace: the target changed between the read of its version and
	// the publish (or does not hold the version given with --expect).
	errLostRace = errors.New("cellctl: lost the race")
	// errLocked: another publish holds the target's lock.
	errLocked = errors.New("cellctl: target is locked")
	// errSymlink: a file to write is a symbolic link that cannot be
	// followed (its target does not exist, or a loop).
	errSymlink = errors.New("cellctl: symbolic link cannot be followed")
	// errNoMap: the target holds no map yet.
	errNoMap = errors.New("no map is published")
	// errKey: a key file is malformed or of the wrong kind.
	errKey = errors.New("cellctl: bad key file")
)

// sentinels names the errors a script may branch on, in the order they are
// tried; the name is printed with the error and in --json output. Every
// exported Err variable of placement, placement/source and
// placement/etcdsource has its entry, named after it: TestSentinelsComplete
// reads those packages' source and fails on one that is missing, so a new
// sentinel cannot go without a kind.
var sentinels = []struct {
	err  error
	name string
}{
	{placement.ErrSyntax, "placement.ErrSyntax"},
	{placement.ErrUnknownField, "placement.ErrUnknownField"},
	{placement.ErrDuplicateKey, "placement.ErrDuplicateKey"},
	{placement.ErrType, "placement.ErrType"},
	{placement.ErrUTF8, "placement.ErrUTF8"},
	{placement.ErrVersion, "placement.ErrVersion"},
	{placement.ErrSeed, "placement.ErrSeed"},
	{placement.ErrBuckets, "placement.ErrBuckets"},
	{placement.ErrShardSize, "placement.ErrShardSize"},
	{placement.ErrCellID, "placement.ErrCellID"},
	{placement.ErrDuplicateCell, "placement.ErrDuplicateCell"},
	{placement.ErrState, "placement.ErrState"},
	{placement.ErrWeight, "placement.ErrWeight"},
	{placement.ErrNoEligible, "placement.ErrNoEligible"},
	{placement.ErrEndpoint, "placement.ErrEndpoint"},
	{placement.ErrTable, "placement.ErrTable"},
	{placement.ErrUnknownCell, "placement.ErrUnknownCell"},
	{placement.ErrCellUse, "placement.ErrCellUse"},
	{placement.ErrKey, "placement.ErrKey"},
	{placement.ErrSpace, "placement.ErrSpace"},
	{placement.ErrConflict, "placement.ErrConflict"},
	{placement.ErrMigration, "placement.ErrMigration"},
	{placement.ErrLimit, "placement.ErrLimit"},
	{placement.ErrSignature, "placement.ErrSignature"},
	{source.ErrStaleVersion, "source.ErrStaleVersion"},
	{placement.ErrCellDisabled, "placement.ErrCellDisabled"},
	{placement.ErrNotFound, "placement.ErrNotFound"},
	{placement.ErrEdit, "placement.ErrEdit"},
	{source.ErrRedirect, "source.ErrRedirect"},
	{source.ErrNotRegular, "source.ErrNotRegular"},
	{source.ErrConfig, "source.ErrConfig"},
	{source.ErrIntegrity, "source.ErrIntegrity"},
	{source.ErrNotConfirmed, "source.ErrNotConfirmed"},
	{source.ErrRunning, "source.ErrRunning"},
	{source.ErrStopped, "source.ErrStopped"},
	{etcdsource.ErrConflict, "etcdsource.ErrConflict"},
	{etcdsource.ErrVersion, "etcdsource.ErrVersion"},
	{etcdsource.ErrLayout, "etcdsource.ErrLayout"},
	{etcdsource.ErrTooLarge, "etcdsource.ErrTooLarge"},
	{etcdsource.ErrUnavailable, "etcdsource.ErrUnavailable"},
	{etcdsource.ErrConfig, "etcdsource.ErrConfig"},
	{source.ErrFetch, "source.ErrFetch"},
	{placement.ErrNoKey, "placement.ErrNoKey"},
	{placement.ErrNoMap, "placement.ErrNoMap"},
	{errLostRace, "lost-race"},
	{errLocked, "locked"},
	{errKey, "bad-key"},
	{errSymlink, "bad-symlink"},
	{errNoMap, "no-map"},
}

// kind returns the name of the sentinel err matches, or "".
func kind(err error) string {
	for _, s := range sentinels {
		if s.err != nil && errors.Is(err, s.err) {
			return s.name
		}
	}
	return ""
}

// errorInfo is an error as --json prints it.
type errorInfo struct {
	Error string `json:"error"`
	Kind  string `json:"kind,omitempty"`  // the sentinel matched, e.g. placement.ErrWeight
	Field string `json:"field,omitempty"` // of a *placement.FieldError
	Value string `json:"value,omitempty"` // the offending value, quoted
	Key   string `json:"key,omitempty"`   // of a *placement.CellError
	Cell  string `json:"cell,omitempty"`  // of a *placement.CellError
}

func describe(err error) *errorInfo {
	if err == nil {
		return nil
	}
	info := &errorInfo{Error: err.Error(), Kind: kind(err)}
	var fe *placement.FieldError
	if errors.As(err, &fe) {
		info.Field, info.Value = fe.Field, fe.Value
	}
	var ce *placement.CellError
	if errors.As(err, &ce) {
		info.Key, info.Cell = ce.Key, ce.Cell
	}
	return info
}

// printError prints a refusal: the message, then the typed error's field,
// value and sentinel on a line of their own, for people and for grep.
func printError(w io.Writer, prefix string, err error) {
	if prefix != "" {
		fmt.Fprintf(w, "%s: ", prefix)
	}
	// "cellctl edit: cellctl: …" says the same thing twice.
	msg := err.Error()
	if prefix != "" {
		msg = strings.TrimPrefix(msg, "cellctl: ")
	}
	fmt.Fprintf(w, "%s\n", msg)
	info := describe(err)
	var parts []string
	if info.Field != "" {
		parts = append(parts, "field "+info.Field)
	}
	if info.Value != "" {
		parts = append(parts, "value "+info.Value)
	}
	if info.Key != "" {
		parts = append(parts, fmt.Sprintf("key %q", info.Key))
	}
	if info.Cell != "" {
		parts = append(parts, fmt.Sprintf("cell %q", info.Cell))
	}
	if info.Kind != "" {
		parts = append(parts, info.Kind)
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "\t(%s)\n", strings.Join(parts, ", "))
	}
}
