package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/cellkit/cellkit/placement"
)

// FileConfig configures a File source. The zero value is valid.
type FileConfig struct {
	// Interval is the time from the end of a poll to the start of the
	// next; default 1s. It must not be negative.
	Interval time.Duration
	// SignaturePath is the signature file, in the format SaveFile writes
	// (see LoadFile), read when the parse options (see SetParse) trust
	// keys; default path + ".sig".
	SignaturePath string
	// FS is the file system that path and SignaturePath name files of.
	// Default nil: the operating system's, with paths of the system, files
	// identified as os.SameFile does, and opened with O_NONBLOCK on unix so
	// that a FIFO cannot block Next. With FS set, paths are fs.FS names
	// (fs.ValidPath) and a file's identity is its size, mode and
	// modification time. An FS that does not implement fs.StatFS is stated
	// by opening the file (fs.Stat).
	FS fs.FS
}

// A File is a source that polls a document file, and its signature file
// when keys are trusted. Writers should replace the file by renaming a
// complete new one over it (as SaveFile does); a reader then never sees a
// torn document. It reads regular files only: a directory, a FIFO or a
// device at the path is reported (ErrFetch and ErrNotRegular),
// never opened for reading.
//
// A poll costs a stat per file while the files keep their identity, size
// and modification time; when those change, the files are read and hashed,
// and only new content is parsed. Each state is reported once: a file that
// cannot be read, until the cause changes or the file can be read again; a
// bad document, until its content changes. Files modified in place are
// supported on a best-effort basis: a poll that sees a file change while
// reading it skips it, and a file modified within the last seconds is read
// and hashed again at each poll, since its modification time may not yet
// reflect every write.
//
// Next is not for concurrent use; Refresh is safe from any goroutine.
type File struct {
	path, sigPath string
	fsys          fs.FS
	isOS          bool
	parse         parsing
	pace          pacer
	rep           reporter
	doc, sig      fs.FileInfo // as last judged; sig is nil when absent
	trusted       bool        // doc and sig are too old to change unseen
}

// racyWindow bounds the granularity of file modification times: a file
// modified less than this before a poll may change again without its
// modification time changing.
const racyWindow = 2 * time.Second

// NewFile returns a source that polls the document at path. It does not
// touch the file: the first Next does. Errors match ErrConfig.
func NewFile(path string, cfg FileConfig) (*File, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: file source with an empty path", ErrConfig)
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("%w: file source: negative Interval %v", ErrConfig, cfg.Interval)
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	s := &File{
		path:    path,
		sigPath: cfg.SignaturePath,
		fsys:    cfg.FS,
		parse:   newParsing(),
		pace:    newPacer(cfg.Interval, 0, 0),
	}
	if s.fsys == nil {
		s.fsys, s.isOS = osFS{}, true
	}
	if s.sigPath == "" {
		s.sigPath = path + ".sig"
	}
	if !s.isOS {
		for _, p := range []string{s.path, s.sigPath} {
			if p != "" && !fs.ValidPath(p) {
				return nil, fmt.Errorf("%w: file source: %q is not a valid fs.FS name", ErrConfig, shorten(p))
			}
		}
	}
	return s, nil
}

// Next returns the next map newer than the last it returned; see
// Source. The first call polls at once; each later poll comes an
// interval after the end of the previous one, or sooner on Refresh.
func (s *File) Next(ctx context.Context) (*placement.Map, error) {
	for {
		if err := s.pace.wait(ctx); err != nil {
			return nil, err
		}
		m, err := s.poll()
		s.pace.done()
		if m != nil || err != nil {
			return m, err
		}
	}
}

// SetParse sets the parse options (limits, trusted keys) and the map in
// force that a new document replaces; see Parser. Options.Limits.MaxBytes
// also bounds the bytes read. It must not run concurrently with Next.
func (s *File) SetParse(opt placement.Options, current func() *placement.Map) {
	s.parse.set(opt, current)
}

// Refresh asks for a poll now: a Next waiting for the interval to pass polls
// at once, and without one the next call of Next does not wait. It does not
// block, is safe from any goroutine, and calls coalesce.
func (s *File) Refresh() { s.pace.wake() }

// poll reads the files if they changed and judges new content. It returns
// nil, nil when there is nothing new to deliver or report.
func (s *File) poll() (*placement.Map, error) {
	start := time.Now()
	dfi, err := statRegular(s.fsys, s.path)
	if err != nil {
		return nil, s.failed(s.path, err)
	}
	var sfi fs.FileInfo
	if s.parse.signed() {
		sfi, err = statRegular(s.fsys, s.sigPath)
		if errors.Is(err, fs.ErrNotExist) {
			sfi, err = nil, nil // not signed: the parse says so
		}
		if err != nil {
			return nil, s.failed(s.sigPath, err)
		}
	}
	if s.trusted && s.same(dfi, s.doc) && s.same(sfi, s.sig) {
		return nil, nil
	}
	// A file too large is refused by its stat, unread.
	if dfi.Size() > int64(s.parse.max) {
		return nil, s.failed(s.path, fieldErr(placement.ErrLimit, "document", "%d bytes, more than %d", dfi.Size(), s.parse.max))
	}
	if sfi != nil && sfi.Size() > maxSidecarBytes {
		return nil, s.failed(s.sigPath, fieldErr(placement.ErrLimit, "signature", "%d bytes, more than %d", sfi.Size(), maxSidecarBytes))
	}

	doc, dfi, err := readRegular(s.fsys, s.path, s.parse.max, "document", s.same)
	if err != nil {
		return nil, s.failed(s.path, err)
	}
	var sig []byte
	if sfi != nil {
		sig, sfi, err = readRegular(s.fsys, s.sigPath, maxSidecarBytes, "signature", s.same)
		if err != nil {
			return nil, s.failed(s.sigPath, err)
		}
	}

	s.doc, s.sig = dfi, sfi
	s.trusted = start.Sub(dfi.ModTime()) > racyWindow && (sfi == nil || start.Sub(sfi.ModTime()) > racyWindow)
	k := keyOf(doc, sig)
	if s.rep.judged(k) {
		return nil, nil
	}
	var sigs [][]byte
	if sfi != nil {
		if sigs, err = parseSidecar(sig); err != nil {
			return nil, &SourceError{Source: s.sigPath, Err: err}
		}
	}
	m, err := s.parse.parse(doc, sigs)
	if err != nil {
		return nil, &SourceError{Source: s.path, Err: err}
	}
	if !s.rep.deliver(k) {
		return nil, nil
	}
	return m, nil
}

// failed reports the error of reading name, unless it is the state last
// reported. A file that changed while read is not a state: the next poll
// reads it again.
func (s *File) failed(name string, err error) error {
	s.doc, s.sig, s.trusted = nil, nil, false
	if errors.Is(err, errChanged) {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == name {
		err = pe.Err // the SourceError names the path
	}
	if errors.Is(err, placement.ErrLimit) {
		// One state, whatever the size.
		return s.rep.fail("too large: "+name, &SourceError{Source: name, Err: err})
	}
	err = fetchErr(name, err)
	return s.rep.fail(err.Error(), err)
}

// same reports whether a and b are the same file with the same size, mode
// and modification time, or both absent.
func (s *File) same(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if a.Size() != b.Size() || a.Mode() != b.Mode() || !a.ModTime().Equal(b.ModTime()) {
		return false
	}
	return !s.isOS || os.SameFile(a, b)
}
