package etcdsource

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Config configures a Source. The zero value is valid.
type Config struct {
	// Options are the parse options (placement.ParseSigned). When
	// Options.PublicKeys is set, a document is accepted only if one of the
	// signatures of the sig key verifies.
	Options placement.Options
	// After is the version the caller already holds, typically that of its
	// last-known-good map: the source never delivers a map of version After
	// or lower. A lower one is reported as source.ErrStaleVersion, one of
	// version After is not news. Default 0: any version is news.
	After uint64
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

// A Source is a source.Refresher that follows the map stored under a
// prefix of etcd. The first Next reads the stored map at one revision; later
// calls watch the prefix from the revision after the last one read, so no
// change is missed and none is read twice. When the watch fails (an error,
// a cancellation by the server, a lost leader, a compaction past its
// revision), Next reads again at the current revision and watches from
// there, after a jittered exponential backoff for failures (none after a
// compaction, which is routine). While the client is disconnected, the
// client's own watch resumes at the same revision once it reconnects.
//
// Next never delivers a map whose version is lower than the last it
// delivered (or than Config.After), nor a different document under the same
// version: it reports them as a *source.SourceError matching
// source.ErrStaleVersion. An invalid document is reported as a
// *source.SourceError whose Err is the parse error; keys that break the
// layout as one matching ErrLayout and source.ErrFetch; a failed read or
// watch as one matching source.ErrFetch. Each state is reported once: a
// document when it is first seen, a failure when it begins or its cause
// changes. Until something is published under the prefix, Next waits.
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
	name     string // for reports
	opt      placement.Options
	maxBytes int
	timeout  time.Duration
	retry    backoff
	refresh  chan struct{}

	// Next's state: what the keys under the prefix hold at revision rev,
	// and the watch from the revision after it.
	w        *watcher
	rev      int64 // 0: read at the next Next
	st       state
	dirty    bool   // st changed since the last judgement
	gate     gate   // judged content, delivered versions
	lastFail string // cause of the failure last reported, until a read succeeds
}

// state holds the keys of the layout at one revision. It is exact for every
// key it holds: chunks holds every chunk key (with its value once fetched).
type state struct {
	doc, sig, manifest value
	dir                string // chunk directory of a valid manifest, or ""
	chunks             map[string]value
}

// A value is a key's value; ok is false for an absent key (or a chunk whose
// value has not been fetched).
type value struct {
	v  []byte
	ok bool
}

// New returns a source of the map stored under prefix, which must end with
// "/". It makes no request: the first Next does. TLS, authentication and
// endpoints are the client's (clientv3.Config).
func New(client *clientv3.Client, prefix string, cfg Config) (*Source, error) {
	if client == nil {
		return nil, errors.New("etcdsource: nil client")
	}
	k, err := newKeys(prefix)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Timeout < 0, cfg.MinBackoff < 0, cfg.MaxBackoff < 0:
		return nil, errors.New("etcdsource: negative duration in Config")
	case !(cfg.Jitter < 1): // NaN too
		return nil, fmt.Errorf("etcdsource: jitter %v is not below 1", cfg.Jitter)
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
		opt:      cfg.Options,
		maxBytes: cfg.Options.Limits.WithDefaults().MaxBytes,
		timeout:  cfg.Timeout,
		retry:    backoff{min: cfg.MinBackoff, max: cfg.MaxBackoff, jitter: cfg.Jitter, rnd: rand.Float64},
		refresh:  make(chan struct{}, 1),
		gate:     gate{version: cfg.After},
	}, nil
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
		if s.rev == 0 {
			if err := s.retry.wait(ctx); err != nil {
				return nil, err
			}
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

// failed handles a failed read or watch: Next reads again after a backoff.
// It returns ctx's error when ctx is done, the report of the failure when
// its cause is new, and nil when the last failure had the same cause.
func (s *Source) failed(ctx context.Context, err error) error {
	s.reread()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.retry.failed()
	s.gate.forget() // judge again what is stored after the failure
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
// one): the document, the signature, the manifest and the names of the
// chunks. The values of the chunks are read at that revision when needed.
func (s *Source) read(ctx context.Context, at int64) error {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rev := clientv3.WithRev(at)
	resp, err := s.client.Txn(rctx).Then(
		clientv3.OpGet(s.keys.doc, rev),
		clientv3.OpGet(s.keys.sig, rev),
		clientv3.OpGet(s.keys.manifest, rev),
		clientv3.OpGet(s.keys.chunks, rev, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
	).Commit()
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if len(resp.Responses) != 4 {
		return fmt.Errorf("read: %d responses to 4 gets", len(resp.Responses))
	}
	one := func(i int) value {
		kvs := resp.Responses[i].GetResponseRange().GetKvs()
		if len(kvs) == 0 {
			return value{}
		}
		return value{v: kvs[0].Value, ok: true}
	}
	st := state{doc: one(0), sig: one(1), manifest: one(2), chunks: map[string]value{}}
	for _, kv := range resp.Responses[3].GetResponseRange().GetKvs() {
		st.chunks[string(kv.Key)] = value{}
	}
	st.dir = s.dirOf(st.manifest)
	s.st, s.rev, s.dirty = st, cmp.Or(at, resp.Header.Revision), true
	return nil
}

// dirOf is the chunk directory a manifest names, or "".
func (s *Source) dirOf(v value) string {
	if !v.ok {
		return ""
	}
	m, err := parseManifest(v.v, s.maxBytes)
	if err != nil {
		return ""
	}
	return s.keys.chunkDir(m.ID)
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
	if s.w != nil {
		s.w.cancel()
		s.w = nil
	}
}

// watch follows the prefix from the revision after rev until a change is
// worth a return. It returns nil, nil when Next must read again.
func (s *Source) watch(ctx context.Context) (*placement.Map, error) {
	if s.w != nil && s.w.done != ctx.Done() {
		s.closeWatch() // it ends with another context than this call's
	}
	if s.w == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		s.w = &watcher{
			done:   ctx.Done(),
			ch:     s.client.Watch(wctx, s.keys.prefix, clientv3.WithPrefix(), clientv3.WithRev(s.rev+1), clientv3.WithCreatedNotify()),
			cancel: cancel,
		}
	}
	for {
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
				continue
			}
			s.apply(resp.Events)
			if !s.dirty {
				continue
			}
			m, err := s.judge(ctx)
			if m != nil || err != nil || s.rev == 0 {
				return m, err
			}
		}
	}
}

// apply brings the state to the revision of the last of events.
func (s *Source) apply(events []*clientv3.Event) {
	var touched []string // chunk keys
	meta := false
	for _, ev := range events {
		key := string(ev.Kv.Key)
		v := value{}
		if ev.Type == clientv3.EventTypePut {
			v = value{v: ev.Kv.Value, ok: true}
		}
		switch {
		case key == s.keys.doc:
			s.st.doc, meta = v, true
		case key == s.keys.sig:
			s.st.sig, meta = v, true
		case key == s.keys.manifest:
			s.st.manifest, meta = v, true
		case strings.HasPrefix(key, s.keys.chunks):
			if v.ok {
				s.st.chunks[key] = v
			} else {
				delete(s.st.chunks, key)
			}
			touched = append(touched, key)
		}
		s.rev = max(s.rev, ev.Kv.ModRevision)
	}
	if meta {
		s.st.dir = s.dirOf(s.st.manifest)
		s.dirty = true
	}
	for _, k := range touched {
		if s.st.dir != "" && strings.HasPrefix(k, s.st.dir) {
			s.dirty = true
		}
	}
}

// judge assembles the stored document and passes it through the gate. It
// returns nil, nil when there is nothing new to say, and leaves rev at 0
// when Next must read again.
func (s *Source) judge(ctx context.Context) (*placement.Map, error) {
	s.dirty = false
	doc, err := s.document(ctx)
	switch {
	case errors.Is(err, errFetchChunks):
		if compacted(err) {
			s.reread()
			return nil, nil
		}
		return nil, s.failed(ctx, err)
	case errors.Is(err, errNoDoc):
		if !s.gate.delivered || s.gate.seen(contentKey{}) {
			return nil, nil // waiting for the first map, or reported
		}
		return nil, s.report(fmt.Errorf("%w: %w", source.ErrFetch, err))
	case err != nil:
		if s.gate.seen(keyOf([]byte("layout\x00"+err.Error()), s.st.sig.v)) {
			return nil, nil
		}
		return nil, s.report(fmt.Errorf("%w: %w", source.ErrFetch, err))
	}
	k := keyOf(doc, s.st.sig.v)
	if s.gate.seen(k) {
		return nil, nil
	}
	var sigs [][]byte
	if len(s.opt.PublicKeys) > 0 {
		if sigs, err = parseSigs(s.st.sig.v); err != nil {
			return nil, s.report(fmt.Errorf("%w: %w", source.ErrFetch, err))
		}
	}
	m, err := s.gate.admit(doc, k, sigs, s.opt)
	if err != nil {
		return nil, s.report(err)
	}
	return m, nil
}

func (s *Source) report(err error) error {
	return &source.SourceError{Source: s.name, Err: err}
}

var errFetchChunks = errors.New("read chunks")

// document returns the stored document: the doc key's value, or the chunks
// that the manifest names, read at rev when their values are not known.
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
	m, err := parseManifest(st.manifest.v, s.maxBytes)
	if err != nil {
		return nil, err
	}
	dir := s.keys.chunkDir(m.ID)
	var names []string
	complete := true
	for k, v := range st.chunks {
		if strings.HasPrefix(k, dir) {
			names = append(names, k)
			complete = complete && v.ok
		}
	}
	if len(names) > m.Chunks {
		return nil, layoutErr("manifest names %d chunks, %d are stored", m.Chunks, len(names))
	}
	if !complete {
		if err := s.fetchChunks(ctx, dir); err != nil {
			return nil, fmt.Errorf("%w: %w", errFetchChunks, err)
		}
		names = names[:0]
		for k := range st.chunks {
			if strings.HasPrefix(k, dir) {
				names = append(names, k)
			}
		}
	}
	slices.Sort(names)
	kvs := make([][2][]byte, len(names))
	for i, k := range names {
		kvs[i] = [2][]byte{[]byte(k), st.chunks[k].v}
	}
	return assemble(s.keys, m, kvs)
}

// chunkPage is the number of chunks one request reads.
const chunkPage = 8

// fetchChunks reads the chunks under dir at rev, a page at a time.
func (s *Source) fetchChunks(ctx context.Context, dir string) error {
	for k := range s.st.chunks {
		if strings.HasPrefix(k, dir) {
			delete(s.st.chunks, k)
		}
	}
	from, end := dir, rangeEnd(dir)
	for {
		rctx, cancel := context.WithTimeout(ctx, s.timeout)
		resp, err := s.client.Get(rctx, from, clientv3.WithRange(end), clientv3.WithRev(s.rev), clientv3.WithLimit(chunkPage))
		cancel()
		if err != nil {
			return err
		}
		for _, kv := range resp.Kvs {
			s.st.chunks[string(kv.Key)] = value{v: kv.Value, ok: true}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// A contentKey names what the source read: a document and its signature
// key. Each distinct key is judged once.
type contentKey struct{ doc, sig [sha256.Size]byte }

func keyOf(doc, sig []byte) contentKey {
	return contentKey{sha256.Sum256(doc), sha256.Sum256(sig)}
}

// gate keeps deliveries in version order and remembers what it judged.
type gate struct {
	judged    contentKey // the last content judged, delivered or not
	hasJudged bool
	delivered bool
	version   uint64            // of the last map delivered, or After
	doc       [sha256.Size]byte // of the last map delivered
}

// seen reports whether k was the last content judged, and records it.
func (g *gate) seen(k contentKey) bool {
	if g.hasJudged && g.judged == k {
		return true
	}
	g.judged, g.hasJudged = k, true
	return false
}

// forget makes the next content be judged even if it was the last judged.
func (g *gate) forget() { g.hasJudged = false }

// admit parses a document and checks its version against the last
// delivered (or After). It returns nil, nil for a document that is not
// news: the one last delivered, or one of version After.
func (g *gate) admit(doc []byte, k contentKey, sigs [][]byte, opt placement.Options) (*placement.Map, error) {
	m, err := placement.ParseSigned(doc, sigs, opt)
	if err != nil {
		return nil, err
	}
	switch v := m.Version(); {
	case v < g.version && g.delivered:
		return nil, staleErr("%d is lower than %d, the version last delivered", v, g.version)
	case v < g.version:
		return nil, staleErr("%d is lower than %d, the version the source started after", v, g.version)
	case v == g.version && (!g.delivered || k.doc == g.doc):
		return nil, nil
	case v == g.version:
		return nil, staleErr("%d did not increase, but the document changed", v)
	}
	g.delivered, g.version, g.doc = true, m.Version(), k.doc
	return m, nil
}

func staleErr(format string, args ...any) error {
	return &placement.FieldError{Field: "version", Err: source.ErrStaleVersion, Detail: fmt.Sprintf(format, args...)}
}

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
