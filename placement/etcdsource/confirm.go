package etcdsource

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ConfirmedVersions is what a cell confirms: the newest map version such
// that no request it judged on an older map is still running. A
// *source.Follower is one; AwaitConfirmed returns the confirmed version
// once it is above after, or ctx's error.
type ConfirmedVersions interface {
	AwaitConfirmed(ctx context.Context, after uint64) (uint64, error)
}

// ConfirmWriterConfig configures a ConfirmWriter. Cell is required; every other
// field's zero value is valid.
type ConfirmWriterConfig struct {
	// Cell is the ID of the cell that confirms, as in the map; required.
	Cell string
	// TTL is the lifetime of the lease that holds the confirmation: a
	// cell that stops renewing it (a dead process, a partitioned host)
	// loses its confirmation after TTL. Default 10s; etcd counts whole
	// seconds, and at least 1.
	TTL time.Duration
	// MinBackoff and MaxBackoff pace the retries after a failed write or a
	// lost lease, doubling from MinBackoff up to MaxBackoff, with a jitter
	// of ±20%. Defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
}

// A ConfirmWriter writes a cell's confirmed version under the map's prefix, at
// P+"cells/"+Cell, in decimal ASCII, bound to a lease of the ConfirmWriter's
// that Run keeps alive: when the cell dies its confirmation disappears
// within the lease's TTL, and a control plane waiting for it
// (Publisher.AwaitConfirmed, a source.Confirmer) waits for a live cell
// instead of trusting a dead one. The keys sort before the chunk directory, outside the range a
// Source watches, so that confirmations wake no client.
type ConfirmWriter struct {
	client *clientv3.Client
	key    string
	ttl    int64 // seconds
	retry  backoff
}

// NewConfirmWriter returns a ConfirmWriter of cfg.Cell under prefix, which must end
// with "/". It makes no request: Run does.
func NewConfirmWriter(client *clientv3.Client, prefix string, cfg ConfirmWriterConfig) (*ConfirmWriter, error) {
	if client == nil {
		return nil, configError("client", "is nil")
	}
	k, err := newKeys(prefix)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Cell == "":
		return nil, configError("ConfirmWriterConfig.Cell", "is required")
	case cfg.TTL < 0, cfg.MinBackoff < 0, cfg.MaxBackoff < 0:
		return nil, configError("ConfirmWriterConfig", "has a negative duration")
	}
	ttl := max(int64(cmp.Or(cfg.TTL, 10*time.Second)/time.Second), 1)
	lo := cmp.Or(cfg.MinBackoff, 100*time.Millisecond)
	return &ConfirmWriter{
		client: client,
		key:    k.confirmation(cfg.Cell),
		ttl:    ttl,
		retry:  backoff{min: lo, max: max(cmp.Or(cfg.MaxBackoff, 5*time.Second), lo), jitter: 0.2, rnd: rand.Float64},
	}, nil
}

// Run writes each version from confirms as it is confirmed, until ctx ends;
// it then revokes its lease, so that the confirmation of a cell that stops
// disappears at once, and returns ctx's error. A write that fails is tried
// again after a backoff with the newest version; a lease that is lost (etcd
// unreachable for longer than the TTL, or revoked) is replaced by a new one
// and the confirmation written again. Run is for one goroutine at a time.
func (c *ConfirmWriter) Run(ctx context.Context, confirms ConfirmedVersions) error {
	if confirms == nil {
		return configError("ConfirmWriter.Run", "needs a ConfirmedVersions (a *source.Follower)")
	}
	// AwaitConfirmed blocks: a goroutine of Run's own turns it into a
	// channel, and ends with Run.
	actx, stop := context.WithCancel(ctx)
	versions := make(chan uint64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for v := uint64(0); ; {
			next, err := confirms.AwaitConfirmed(actx, v)
			if err != nil {
				return
			}
			v = next
			select {
			case versions <- v:
			case <-actx.Done():
				return
			}
		}
	}()
	defer func() { stop(); <-done }()

	var (
		want, wrote uint64 // the newest version confirmed, and the one stored
		lease       clientv3.LeaseID
		alive       <-chan *clientv3.LeaseKeepAliveResponse
		cancelAlive context.CancelFunc = func() {}
		retry       <-chan time.Time
	)
	defer func() {
		cancelAlive()
		if lease != 0 {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_, _ = c.client.Revoke(rctx, lease) // best effort: else the TTL ends it
			cancel()
		}
	}()
	// store brings the stored confirmation to want: a lease first, then
	// the put. It returns false when it must be tried again.
	store := func() bool {
		if lease == 0 {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			g, err := c.client.Grant(rctx, c.ttl)
			cancel()
			if err != nil {
				return false
			}
			kctx, kcancel := context.WithCancel(ctx)
			ch, err := c.client.KeepAlive(kctx, g.ID)
			if err != nil {
				kcancel()
				return false
			}
			lease, alive, cancelAlive, wrote = g.ID, ch, kcancel, 0
		}
		if want == 0 || want == wrote {
			return true
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.client.Put(rctx, c.key, strconv.FormatUint(want, 10), clientv3.WithLease(lease))
		cancel()
		if err != nil {
			return false
		}
		wrote = want
		return true
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		if retry == nil && !store() {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.retry.failed()
			timer.Reset(c.retry.delay())
			retry = timer.C
		} else if retry == nil {
			c.retry.reset()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case v := <-versions:
			want = v
		case <-retry:
			retry = nil
		case _, ok := <-alive:
			if !ok { // the lease is gone: a new one, and the put again
				cancelAlive()
				lease, alive = 0, nil
			}
		}
	}
}

// Confirmations returns the live confirmations under the prefix: each
// cell's confirmed version.
func (p *Publisher) Confirmations(ctx context.Context) (map[string]uint64, error) {
	got, _, err := p.confirmations(ctx)
	return got, err
}

func (p *Publisher) confirmations(ctx context.Context) (map[string]uint64, int64, error) {
	dir := p.keys.confirmation("")
	resp, err := p.client.Get(ctx, dir, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("etcdsource: read the confirmations: %w", err)
	}
	got := map[string]uint64{}
	for _, kv := range resp.Kvs {
		if v, err := strconv.ParseUint(string(kv.Value), 10, 64); err == nil {
			got[strings.TrimPrefix(string(kv.Key), dir)] = v
		}
	}
	return got, resp.Header.Revision, nil
}

// AwaitConfirmed returns nil once every cell of cells has a live
// confirmation of version v or a newer one (see ConfirmWriter); a nil cells
// means every cell that is not disabled in the map stored under the prefix
// when the call starts. It reads the confirmations, then watches them; a
// failed read or watch is tried again until ctx ends. When ctx ends first
// it returns a *source.NotConfirmedError naming the cells that have not
// confirmed, each with the version it is at or the absence of a live
// confirmation. The Publisher is a source.Confirmer.
func (p *Publisher) AwaitConfirmed(ctx context.Context, v uint64, cells []string) error {
	if cells == nil {
		m, err := p.stored(ctx)
		if err != nil {
			return &source.NotConfirmedError{Version: v, Err: err}
		}
		for _, c := range m.Cells() {
			if c.State != placement.Disabled {
				cells = append(cells, c.ID)
			}
		}
	}
	dir := p.keys.confirmation("")
	var got map[string]uint64
	missing := func() []string {
		var m []string
		for _, c := range cells {
			if got[c] < v {
				m = append(m, c)
			}
		}
		slices.Sort(m)
		return slices.Compact(m)
	}
	fail := func(cause error) error {
		e := &source.NotConfirmedError{Version: v, Cells: missing(), Causes: map[string]error{}, Err: cause}
		for _, c := range e.Cells {
			if at, ok := got[c]; ok {
				e.Causes[c] = fmt.Errorf("confirmed version %d", at)
			} else {
				e.Causes[c] = errNoConfirmation
			}
		}
		return e
	}
	retry := backoff{min: 50 * time.Millisecond, max: time.Second, jitter: 0.2, rnd: rand.Float64}
	for {
		if err := retry.wait(ctx); err != nil {
			return fail(err)
		}
		var rev int64
		var err error
		if got, rev, err = p.confirmations(ctx); err != nil {
			if ctx.Err() != nil {
				return fail(ctx.Err())
			}
			retry.failed()
			continue
		}
		if len(missing()) == 0 {
			return nil
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		ch := p.client.Watch(wctx, dir, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		err = func() error {
			for resp := range ch {
				if err := resp.Err(); err != nil {
					return err
				}
				retry.reset()
				for _, ev := range resp.Events {
					c := strings.TrimPrefix(string(ev.Kv.Key), dir)
					at, perr := strconv.ParseUint(string(ev.Kv.Value), 10, 64)
					if ev.Type == clientv3.EventTypeDelete || perr != nil {
						delete(got, c)
					} else {
						got[c] = at
					}
				}
				if len(missing()) == 0 {
					return nil
				}
			}
			return errors.New("watch closed")
		}()
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fail(ctx.Err())
		}
		retry.failed()
	}
}

// The seams with placement/source: a Follower's confirmations feed a
// ConfirmWriter, and a Publisher waits as a source.Confirmer.
var (
	_ ConfirmedVersions = (*source.Follower)(nil)
	_ source.Confirmer  = (*Publisher)(nil)
	_ source.Parser     = (*Source)(nil)
	_ source.Refresher  = (*Source)(nil)
)

// errNoConfirmation is the cause of a cell without a live confirmation.
var errNoConfirmation = errors.New("etcdsource: no live confirmation")

// stored reads the map stored under the prefix.
func (p *Publisher) stored(ctx context.Context) (*placement.Map, error) {
	if v, err := p.Version(ctx); err != nil {
		return nil, err
	} else if v == 0 {
		return nil, fmt.Errorf("%w: %w", source.ErrFetch, errNoDoc)
	}
	src, err := New(p.client, p.keys.prefix, Config{Jitter: -1})
	if err != nil {
		return nil, err
	}
	return src.Next(ctx)
}
