package etcdsource

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/etcdsource/internal/layout"
	"github.com/cellkit/cellkit/placement/source"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Config configures a Source. The zero value is valid.
type Config struct {
	// Timeout bounds each request of a read: the transaction that reads
	// the keys, and each page of chunks; default 5s.
	Timeout time.Duration
	// MinBackoff is the wait before the read that follows a failed read or
	// watch; each further failure in a row doubles it, up to MaxBackoff.
	// A watch that the server accepts ends the series. Default 100ms.
	MinBackoff time.Duration
	// MaxBackoff bounds the wait between retries; default 5s, and at least
	// MinBackoff.
	MaxBackoff time.Duration
	// Jitter spreads the retries of many clients: each wait is drawn
	// uniformly from its duration × (1 ± Jitter). Default 0.2; it must be
	// below 1, and a negative value means none.
	Jitter float64
}

// A Source is a source.Refresher and source.Parser that follows the map
// stored under a prefix of etcd. The first Next reads the stored map at one
// revision; later calls watch the prefix from the revision after the last
// one read, so no change is missed and none is read twice. When the watch
// fails (an error, a cancellation by the server, a lost leader), Next
// watches again from the revision after the last one it applied, after a
// jittered exponential backoff, so that every version still in etcd's
// history is delivered in order; after a compaction past that revision it
// reads the current state at once. While the client is disconnected, the
// client's own watch resumes at the same revision once it reconnects.
//
// Like every source.Source, it does not order versions: it delivers each
// document it has not delivered last, older or not, and the
// source.Follower that runs it is the one version gate. It parses with the
// options SetParse gives (the Follower's limits and trusted keys; until
// then placement's defaults, trusting no key): when keys are trusted, a
// document is accepted only if one of the signatures of the sig key, in
// the signature-file format of placement/source (source.ParseSignatures),
// verifies. An invalid document is reported as a *source.SourceError whose
// Err is the parse error (a signature file that does not parse, the error
// of source.ParseSignatures); keys that break the layout as one matching
// ErrLayout and source.ErrFetch; a failed read or watch as one matching
// source.ErrFetch. Each state is reported once: a document when it is
// first seen, a failure when it begins or its cause changes. Until
// something is published under the prefix, Next waits.
//
// Between calls made with the same context the source keeps its watch open,
// so a change published between two calls is delivered by the second at
// once; the watch is closed when a call comes with another context, when
// the source reads again, or when the context ends (Next then returns its
// error). Next is not for concurrent use. Refresh is safe from any
// goroutine: it makes a Next in progress, or the next one, read again.
type Source struct {
	client   *clientv3.Client
	keys     keys
	name     string                // for reports
	opt      placement.Options     // from SetParse
	current  func() *placement.Map // from SetParse: the map a new document replaces
	maxBytes int                   // opt's MaxBytes
	timeout  time.Duration
	retry    backoff
	refresh  chan struct{}

	// Next's state: what the keys under the prefix hold at revision rev,
	// and the watch from the revision after it.
	w        *watcher
	rev      int64             // 0: read at the next Next
	pause    bool              // a request failed: back off before the next
	pending  []*clientv3.Event // received from the watch, of revisions after rev
	st       state
	dirty    bool   // st changed since the last judgement
	seen     seen   // judged content, the document delivered
	lastFail string // cause of the failure last reported, until a read succeeds
}

// state holds the keys of the layout that name a document, at one
// revision. It holds no chunk: the chunks of a manifest are read when the
// manifest is judged, and dropped once the document they make is judged, so
// that a source holds at most one document's chunks, whatever is written
// under the chunk directory.
type state struct {
	doc, sig, manifest value
}

// A value is a key's value; ok is false for an absent key.
type value struct {
	v  []byte
	ok bool
}

// New returns a source of the map stored under prefix, which must end with
// "/". It makes no request: the first Next does. TLS, authentication and
// endpoints are the client's (clientv3.Config).
func New(client *clientv3.Client, prefix string, cfg Config) (*Source, error) {
	if client == nil {
		return nil, configError("client", "is nil")
	}
	k, err := newKeys(prefix)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Timeout < 0, cfg.MinBackoff < 0, cfg.MaxBackoff < 0:
		return nil, configError("Config", "has a negative duration")
	case !(cfg.Jitter < 1): // NaN too
		return nil, configError("Config.Jitter", fmt.Sprintf("%v is not below 1", cfg.Jitter))
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, 5*time.Second)
	cfg.MinBackoff = cmp.Or(cfg.MinBackoff, 100*time.Millisecond)
	cfg.MaxBackoff = max(cmp.Or(cfg.MaxBackoff, 5*time.Second), cfg.MinBackoff)
	switch {
	case cfg.Jitter == 0:
		cfg.Jitter = 0.2
	case cfg.Jitter < 0:
		cfg.Jitter = 0
	}
	return &Source{
		client:   client,
		keys:     k,
		name:     "etcd:" + prefix,
		maxBytes: placement.Limits{}.WithDefaults().MaxBytes,
		timeout:  cfg.Timeout,
		retry:    backoff{min: cfg.MinBackoff, max: cfg.MaxBackoff, jitter: cfg.Jitter, rnd: rand.Float64},
		refresh:  make(chan struct{}, 1),
	}, nil
}

// SetParse sets the parse options (limits, trusted keys) and the map in
// force that a new document replaces; see source.Parser. MaxBytes bounds
// what the source reads of a chunked document. A source.Follower calls it
// before the first Next; it is not for use during a Next.
func (s *Source) SetParse(opt placement.Options, current func() *placement.Map) {
	s.opt, s.current, s.maxBytes = opt, current, opt.Limits.WithDefaults().MaxBytes
}

// Refresh makes the source read the stored map again at once, without
// waiting for the watch: a Next in progress reads, or else the next one.
// Calls coalesce. It does not block.
func (s *Source) Refresh() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// Next returns the next map newer than the last it returned; see Source.
func (s *Source) Next(ctx context.Context) (*placement.Map, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if s.pause {
			s.pause = false
			if err := s.retry.wait(ctx); err != nil {
				return nil, err
			}
		}
		if s.rev == 0 {
			select { // this read answers every Refresh made until now
			case <-s.refresh:
			default:
			}
			if err := s.read(ctx, 0); err != nil {
				if rep := s.failed(ctx, err); rep != nil {
					return nil, rep
				}
				continue
			}
			s.lastFail = ""
		}
		if s.dirty {
			if m, err := s.judge(ctx); m != nil || err != nil {
				return m, err
			}
			if s.rev == 0 {
				continue // a compaction: read again
			}
		}
		if m, err := s.watch(ctx); m != nil || err != nil {
			return m, err
		}
	}
}

// failed handles a failed request: after a backoff, Next makes it again
// (a read when nothing was read; else a watch from the revision after the
// last one applied, so that no change is missed). It returns ctx's error
// when ctx is done, the report of the failure when its cause is new, and
// nil when the last failure had the same cause.
func (s *Source) failed(ctx context.Context, err error) error {
	s.closeWatch()
	s.pause = true
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.retry.failed()
	s.seen.forget() // judge again what is stored after the failure
	cause := err.Error()
	if cause == s.lastFail {
		return nil
	}
	s.lastFail = cause
	// %v, not %w: a timeout of one request must not look like the end of
	// the caller's ctx.
	return &source.SourceError{Source: s.name, Err: fmt.Errorf("%w: etcdsource: %v", source.ErrFetch, cause)}
}

// compacted reports whether err is a read below the compaction revision.
func compacted(err error) bool { return errors.Is(err, rpctypes.ErrCompacted) }

// read reads the keys of the layout at one revision, at (0: the current
// one): the document, the signature and the manifest. The chunks a manifest
// names are read at that revision when it is judged.
func (s *Source) read(ctx context.Context, at int64) error {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rev := clientv3.WithRev(at)
	resp, err := s.client.Txn(rctx).Then(
		clientv3.OpGet(s.keys.doc, rev),
		clientv3.OpGet(s.keys.sig, rev),
		clientv3.OpGet(s.keys.manifest, rev),
	).Commit()
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if len(resp.Responses) != 3 {
		return fmt.Errorf("read: %d responses to 3 gets", len(resp.Responses))
	}
	one := func(i int) value {
		kvs := resp.Responses[i].GetResponseRange().GetKvs()
		if len(kvs) == 0 {
			return value{}
		}
		return value{v: kvs[0].Value, ok: true}
	}
	s.st, s.rev, s.dirty = state{doc: one(0), sig: one(1), manifest: one(2)}, cmp.Or(at, resp.Header.Revision), true
	return nil
}

// A watcher is the watch of the prefix that a Source keeps open between
// calls to Next made with the same context.
type watcher struct {
	done   <-chan struct{} // of the context of the calls it serves
	ch     clientv3.WatchChan
	cancel context.CancelFunc
}

// reread makes Next read the current state again and watch from there.
func (s *Source) reread() {
	s.rev = 0
	s.closeWatch()
}

func (s *Source) closeWatch() {
	s.pending = nil // the next watch delivers them again
	if s.w != nil {
		s.w.cancel()
		s.w = nil
	}
}

// watch follows the prefix from the revision after rev until a change is
// worth a return. It returns nil, nil when Next must read again.
//
// The watch leaves out the chunk directory: a watch delivers the value of
// every put, and chunks under ids that no manifest names (a failed publish,
// or any writer to the prefix) would pass through every client. A
// publisher never changes the chunks of a manifest once it names them (each
// publish writes a fresh id, and its transaction puts the manifest), so a
// change of the document is a change of the doc or manifest key; chunks
// changed under a manifest in force by someone else are seen at the next
// read (a Refresh, a failed watch).
func (s *Source) watch(ctx context.Context) (*placement.Map, error) {
	if s.w != nil && s.w.done != ctx.Done() {
		s.closeWatch() // it ends with another context than this call's
	}
	if s.w == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		s.w = &watcher{
			done: ctx.Done(),
			ch: s.client.Watch(wctx, s.keys.watchFrom(), clientv3.WithRange(rangeEnd(s.keys.prefix)),
				clientv3.WithRev(s.rev+1), clientv3.WithCreatedNotify()),
			cancel: cancel,
		}
	}
	for {
		// One revision at a time, so that each version published is
		// judged, however many a watch response carries.
		for len(s.pending) > 0 {
			s.apply()
			if !s.dirty {
				continue
			}
			m, err := s.judge(ctx)
			if m != nil || err != nil || s.rev == 0 {
				return m, err
			}
		}
		select {
		case <-ctx.Done():
			s.closeWatch()
			return nil, ctx.Err()
		case <-s.refresh:
			s.reread()
			return nil, nil
		case resp, ok := <-s.w.ch:
			switch {
			case !ok:
				return nil, s.failed(ctx, errors.New("watch: closed"))
			case resp.CompactRevision != 0:
				s.reread() // compacted past rev: read the current state
				return nil, nil
			case resp.Err() != nil:
				return nil, s.failed(ctx, fmt.Errorf("watch: %w", resp.Err()))
			case resp.Created:
				s.retry.reset()
				s.lastFail = ""
				continue
			}
			s.pending = resp.Events
		}
	}
}

// apply brings the state to the revision of the first pending event,
// applying the pending events of that revision.
func (s *Source) apply() {
	rev := s.pending[0].Kv.ModRevision
	for len(s.pending) > 0 && s.pending[0].Kv.ModRevision == rev {
		ev := s.pending[0]
		s.pending[0] = nil
		s.pending = s.pending[1:]
		key := string(ev.Kv.Key)
		v := value{}
		if ev.Type == clientv3.EventTypePut {
			v = value{v: ev.Kv.Value, ok: true}
		}
		switch key {
		case s.keys.doc:
			s.st.doc, s.dirty = v, true
		case s.keys.sig:
			s.st.sig, s.dirty = v, true
		case s.keys.manifest:
			s.st.manifest, s.dirty = v, true
		}
		s.rev = max(s.rev, ev.Kv.ModRevision)
	}
}

// judge assembles the stored document and parses it unless it was judged
// last or delivered last. It returns nil, nil when there is nothing new to
// say, and leaves rev at 0 when Next must read again.
func (s *Source) judge(ctx context.Context) (*placement.Map, error) {
	s.dirty = false
	doc, err := s.document(ctx)
	switch {
	case errors.Is(err, errFetchChunks):
		if compacted(err) {
			s.reread()
			return nil, nil
		}
		s.dirty = true // judge the same revision again
		return nil, s.failed(ctx, err)
	case errors.Is(err, errNoDoc):
		if !s.seen.hasDoc || s.seen.judged(contentKey{}) {
			return nil, nil // waiting for the first map, or reported
		}
		return nil, s.report(fmt.Errorf("%w: %w", source.ErrFetch, err))
	case err != nil:
		if s.seen.judged(keyOf([]byte("layout\x00"+err.Error()), s.st.sig.v)) {
			return nil, nil
		}
		return nil, s.report(fmt.Errorf("%w: %w", source.ErrFetch, err))
	}
	k := keyOf(doc, s.st.sig.v)
	if s.seen.judged(k) || s.seen.hasDoc && s.seen.doc == k.doc {
		return nil, nil // judged, or delivered with another signature file
	}
	var sigs [][]byte
	if len(s.opt.PublicKeys) > 0 {
		if sigs, err = source.ParseSignatures(s.st.sig.v); err != nil {
			return nil, s.report(err)
		}
	}
	m, err := s.parse(doc, sigs)
	if err != nil {
		return nil, s.report(err)
	}
	s.seen.doc, s.seen.hasDoc = k.doc, true
	return m, nil
}

// parse parses doc with any of sigs, as the document that replaces the map
// in force: placement.ParseNext reuses that map's derived table when its
// inputs are unchanged, the common case of a new version.
func (s *Source) parse(doc []byte, sigs [][]byte) (*placement.Map, error) {
	var prev *placement.Map
	if s.current != nil {
		prev = s.current()
	}
	return placement.ParseNext(prev, doc, sigs, s.opt)
}

func (s *Source) report(err error) error {
	return &source.SourceError{Source: s.name, Err: err}
}

var errFetchChunks = errors.New("read chunks")

// document returns the stored document: the doc key's value, or the chunks
// that the manifest names, read at rev.
func (s *Source) document(ctx context.Context) ([]byte, error) {
	st := &s.st
	switch {
	case st.doc.ok && st.manifest.ok:
		return nil, layoutErr("both doc and manifest are stored")
	case st.doc.ok:
		return st.doc.v, nil
	case !st.manifest.ok:
		return nil, errNoDoc
	}
	m, err := layout.ParseManifest(st.manifest.v, s.maxBytes)
	if err != nil {
		return nil, err
	}
	return s.fetchChunks(ctx, m)
}

// fetchChunks reads the chunks of m at rev and joins them. Before it reads
// any value it has checked m's size against MaxBytes (layout.ParseManifest) and
// counted the chunks under m's directory; then it reads one chunk a request
// and stops at the first that does not fit the manifest, so that it holds
// at most m's declared bytes and one chunk, whatever the store holds.
func (s *Source) fetchChunks(ctx context.Context, m layout.Manifest) ([]byte, error) {
	dir := s.keys.chunkDir(m.ID)
	get := func(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
		rctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		resp, err := s.client.Get(rctx, key, append(opts, clientv3.WithRev(s.rev))...)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errFetchChunks, err)
		}
		return resp, nil
	}
	resp, err := get(dir, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return nil, err
	}
	if resp.Count != int64(m.Chunks) {
		return nil, layoutErr("manifest names %d chunks, %d are stored", m.Chunks, resp.Count)
	}
	doc := make([]byte, 0, m.Bytes)
	for i := range m.Chunks {
		resp, err := get(s.keys.chunkKey(m.ID, i))
		if err != nil {
			return nil, err
		}
		if len(resp.Kvs) == 0 {
			return nil, layoutErr("chunk %d of %s is missing", i, m.ID)
		}
		v := resp.Kvs[0].Value
		if len(v) == 0 || len(doc)+len(v) > m.Bytes {
			return nil, layoutErr("chunks of %s do not add up to %d bytes", m.ID, m.Bytes)
		}
		doc = append(doc, v...)
	}
	return doc, layout.CheckDoc(m, doc)
}

// A contentKey names what the source read: a document and its signature
// key. Each distinct key is judged once.
type contentKey struct{ doc, sig [sha256.Size]byte }

func keyOf(doc, sig []byte) contentKey {
	return contentKey{sha256.Sum256(doc), sha256.Sum256(sig)}
}

// seen remembers what the source judged, so that each state is reported
// once, and the document it delivered last, so that the same document is
// not delivered twice (after a failure, or with its signature rewritten).
type seen struct {
	last    contentKey // the last content judged, delivered or not
	hasLast bool
	doc     [sha256.Size]byte // of the last map delivered
	hasDoc  bool
}

// judged reports whether k was the last content judged, and records it.
func (g *seen) judged(k contentKey) bool {
	if g.hasLast && g.last == k {
		return true
	}
	g.last, g.hasLast = k, true
	return false
}

// forget makes the next content be judged even if it was the last judged.
func (g *seen) forget() { g.hasLast = false }

// backoff paces the reads that follow failures.
type backoff struct {
	min, max time.Duration
	jitter   float64
	rnd      func() float64 // in [0, 1)
	fails    int            // failures in a row
}

func (b *backoff) failed() { b.fails++ }
func (b *backoff) reset()  { b.fails = 0 }

// delay is the wait before the next read: 0 after no failure, else min
// doubled for each further failure, at most max, with jitter.
func (b *backoff) delay() time.Duration {
	if b.fails == 0 {
		return 0
	}
	d := float64(b.min) * math.Pow(2, float64(min(b.fails-1, 62)))
	d = min(d, float64(b.max))
	if b.jitter > 0 {
		d *= 1 + b.jitter*(2*b.rnd()-1)
	}
	return time.Duration(d)
}

// wait sleeps for the delay, or until ctx is done.
func (b *backoff) wait(ctx context.Context) error {
	d := b.delay()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
