package placement

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// FileConfig configures a FileSource. The zero value is valid.
type FileConfig struct {
	// Interval is the time between two polls; default 1s.
	Interval time.Duration
	// Options are the parse options: limits and trusted keys.
	// Options.Signature must be empty; signatures come from SignaturePath.
	Options Options
	// SignaturePath is the signature file, in the sidecar format of
	// LoadFile, read when Options.PublicKeys is set; default path + ".sig".
	SignaturePath string
}

// A FileSource is a Source that polls a document file, and its signature
// file when keys are trusted. Writers should replace the file by renaming a
// complete new one over it (as SaveFile does); a reader then never sees a
// torn document.
//
// A poll costs a stat while the files keep their identity, size and
// modification time; when those change, the files are read and hashed, and
// only new content is parsed. A file that cannot be read is reported once
// until the error changes; a bad document, once until its content changes.
// Files modified in place are supported on a best-effort basis: a poll that
// sees one change while reading it skips it, and a file modified within the
// last seconds is hashed again at each poll, since its modification time may
// not yet reflect every write.
//
// Next is not for concurrent use; Refresh is safe from any goroutine.
type FileSource struct {
	path, sigPath string
	opt           Options
	max           int
	pace          pacer
	gate          gate
	doc, sig      os.FileInfo // as last judged; sig is nil when absent
	trusted       bool        // doc and sig are too old to change unseen
	failed        string      // the fetch error last reported
}

// racyWindow bounds the granularity of file modification times: a file
// modified less than this before a poll may change again without its
// modification time changing.
const racyWindow = 2 * time.Second

// NewFileSource returns a source that polls the document at path. It does
// not touch the file: the first Next does.
func NewFileSource(path string, cfg FileConfig) (*FileSource, error) {
	if path == "" {
		return nil, errors.New("placement: file source: empty path")
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("placement: file source: negative interval %v", cfg.Interval)
	}
	if len(cfg.Options.Signature) > 0 {
		return nil, errors.New("placement: file source: Options.Signature must be empty; signatures come from SignaturePath")
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	s := &FileSource{
		path: path,
		opt:  cfg.Options,
		max:  cfg.Options.Limits.withDefaults().MaxBytes,
		pace: newPacer(cfg.Interval, 0, 0),
	}
	if len(cfg.Options.PublicKeys) > 0 {
		s.sigPath = cfg.SignaturePath
		if s.sigPath == "" {
			s.sigPath = path + ".sig"
		}
	}
	return s, nil
}

// Next returns the next map newer than the last it returned; see Source.
// The first call polls at once; each later poll comes an interval after the
// end of the previous one, or sooner on Refresh.
func (s *FileSource) Next(ctx context.Context) (*Map, error) {
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

// Refresh asks for a poll now: a Next waiting for the interval to pass polls
// at once, and without one the next call of Next does not wait. It does not
// block, is safe from any goroutine, and calls coalesce.
func (s *FileSource) Refresh() { s.pace.wake() }

// poll reads the files if they changed and judges new content. It returns
// nil, nil when there is nothing new to deliver or report.
func (s *FileSource) poll() (*Map, error) {
	start := time.Now()
	df, dfi, err := openStat(s.path)
	if err != nil {
		return nil, s.fetchFailed(err)
	}
	defer df.Close()
	var sf *os.File
	var sfi os.FileInfo
	if s.sigPath != "" {
		sf, sfi, err = openStat(s.sigPath)
		switch {
		case err == nil:
			defer sf.Close()
		case errors.Is(err, fs.ErrNotExist):
			// Not signed: the parse says so.
		default:
			return nil, s.fetchFailed(err)
		}
	}
	s.failed = ""
	if s.trusted && sameFile(dfi, s.doc) && sameFile(sfi, s.sig) {
		return nil, nil
	}

	doc, err := readLimit(df, dfi.Size(), s.max, "document")
	src, sig := s.path, []byte(nil)
	if err == nil && sf != nil {
		src = s.sigPath
		sig, err = readLimit(sf, sfi.Size(), maxSidecarBytes, "signature")
	}
	if fe := (*FieldError)(nil); errors.As(err, &fe) {
		// Too large: the size says so, and will until it changes.
		s.doc, s.sig, s.trusted = dfi, sfi, true
		s.gate.forget()
		return nil, &SourceError{Source: src, Err: err}
	}
	if err != nil {
		return nil, s.fetchFailed(err)
	}
	if changed(df, dfi) || (sf != nil && changed(sf, sfi)) {
		return nil, nil // written while read: read it again at the next poll
	}

	s.doc, s.sig = dfi, sfi
	s.trusted = start.Sub(dfi.ModTime()) > racyWindow && (sfi == nil || start.Sub(sfi.ModTime()) > racyWindow)
	k := keyOf(doc, sig)
	if s.gate.seen(k) {
		return nil, nil
	}
	var sigs [][]byte
	if sf != nil {
		if sigs, err = parseSidecar(sig); err != nil {
			return nil, &SourceError{Source: s.sigPath, Err: err}
		}
	}
	m, err := s.gate.admit(doc, k, sigs, s.opt)
	if err != nil {
		return nil, &SourceError{Source: s.path, Err: err}
	}
	return m, nil
}

// fetchFailed reports err unless it is the error last reported.
func (s *FileSource) fetchFailed(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == s.path {
		err = pe.Err // SourceError names the path
	}
	if err.Error() == s.failed {
		return nil
	}
	s.failed = err.Error()
	s.doc, s.sig, s.trusted = nil, nil, false
	s.gate.forget()
	return &SourceError{Source: s.path, Err: fmt.Errorf("%w: %w", ErrFetch, err)}
}

func openStat(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// sameFile reports whether a and b are the same file with the same size and
// modification time, or both absent.
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// changed reports whether an open file changed since its stat gave fi.
func changed(f *os.File, fi os.FileInfo) bool {
	now, err := f.Stat()
	return err != nil || !sameFile(now, fi)
}
