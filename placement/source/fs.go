package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/cellkit/cellkit/placement"
)

// osFS is the operating system's file system, as the sources read it: paths
// are the system's, and files open without blocking (see openFile).
type osFS struct{}

func (osFS) Open(name string) (fs.File, error)     { return openFile(name) }
func (osFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// errChanged reports a file that changed while it was read.
var errChanged = errors.New("source: file changed while read")

// notRegular is the error for a path that names something else than a
// regular file.
func notRegular(mode fs.FileMode) error {
	what := "mode " + mode.String()
	switch t := mode.Type(); {
	case t&fs.ModeDir != 0:
		what = "a directory"
	case t&fs.ModeNamedPipe != 0:
		what = "a FIFO"
	case t&fs.ModeSocket != 0:
		what = "a socket"
	case t&fs.ModeDevice != 0, t&fs.ModeCharDevice != 0:
		what = "a device"
	}
	return fmt.Errorf("%w: %s", ErrNotRegular, what)
}

// statRegular returns the FileInfo of name, which must be a regular file
// (after symbolic links).
func statRegular(fsys fs.FS, name string) (fs.FileInfo, error) {
	fi, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(fi.Mode())
	}
	return fi, nil
}

// readRegular reads name, a regular file of at most max bytes: it refuses
// anything else, even if the path changed since a stat, and it reads at
// most max+1 bytes even if the file grows meanwhile. It returns the open
// file's FileInfo, and errChanged if that changed during the read; same
// compares FileInfos. A file too large gives a *placement.FieldError
// matching placement.ErrLimit, named field.
func readRegular(fsys fs.FS, name string, max int, field string, same func(a, b fs.FileInfo) bool) ([]byte, fs.FileInfo, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, notRegular(fi.Mode())
	}
	if fi.Size() > int64(max) {
		return nil, fi, fieldErr(placement.ErrLimit, field, "%d bytes, more than %d", fi.Size(), max)
	}
	data, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > max {
		return nil, fi, fieldErr(placement.ErrLimit, field, "more than %d bytes", max)
	}
	now, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !same(now, fi) {
		return nil, nil, errChanged
	}
	return data, fi, nil
}
