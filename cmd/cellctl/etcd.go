package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/etcdsource"
	"github.com/cellkit/cellkit/placement/source"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// An etcdTarget publishes to etcd with placement/etcdsource's layout under a
// prefix, with compare-and-swap on the stored version, and reads through
// its watching source.
type etcdTarget struct {
	name      string
	endpoints []string
	prefix    string // ends with "/"
}

// parseEtcd reads ENDPOINTS/PREFIX: comma-separated host:port endpoints (or
// URLs, http://host:port), then the key prefix, which starts at the first
// "/" that is not part of a URL's "://". A missing final "/" is added.
func parseEtcd(name, s string) (*etcdTarget, error) {
	i := 0
	for {
		j := strings.IndexByte(s[i:], '/')
		if j < 0 {
			return nil, usagef("target %q: want etcd:HOST:PORT[,HOST:PORT...]/PREFIX/", name)
		}
		j += i
		if j > 0 && s[j-1] == ':' && strings.HasPrefix(s[j:], "//") {
			i = j + 2 // a scheme's "://"
			continue
		}
		i = j
		break
	}
	var eps []string
	for ep := range strings.SplitSeq(s[:i], ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	prefix := s[i:]
	if len(eps) == 0 || prefix == "/" {
		return nil, usagef("target %q: want etcd:HOST:PORT[,HOST:PORT...]/PREFIX/ with endpoints and a prefix", name)
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &etcdTarget{name: name, endpoints: eps, prefix: prefix}, nil
}

func (t *etcdTarget) String() string { return t.name }

func (t *etcdTarget) client(ctx context.Context) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   t.endpoints,
		DialTimeout: 5 * time.Second,
		Context:     ctx,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	return c, nil
}

// publish reads the stored version, lets check judge it, and publishes on
// that base: a publisher that got there in between makes the publish fail
// with both versions, as a lost race.
func (t *etcdTarget) publish(ctx context.Context, m *placement.Map, doc []byte, sigs [][]byte, lim placement.Limits, check func(uint64, bool, error) error) error {
	c, err := t.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := etcdsource.NewPublisher(c, t.prefix, etcdsource.PublisherConfig{})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cur, err := p.Version(rctx)
	if err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}
	if err := check(cur, cur > 0, nil); err != nil {
		return err
	}
	sig := m.Signature() // the one that verified, with --public-key
	if sig == nil && len(sigs) > 0 {
		sig = sigs[0]
	}
	err = p.Publish(rctx, cur, m, sig)
	var ce *etcdsource.ConflictError
	if errors.As(err, &ce) {
		return &raceError{target: t.name, expected: ce.Base, found: ce.Stored, publishing: m.Version()}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}
	return nil
}

func (t *etcdTarget) get(ctx context.Context, opt placement.Options) (*placement.Map, []byte, [][]byte, error) {
	c, err := t.client(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	defer c.Close()
	// The source waits for a first map; get says at once that there is none.
	p, err := etcdsource.NewPublisher(c, t.prefix, etcdsource.PublisherConfig{})
	if err != nil {
		return nil, nil, nil, err
	}
	if v, err := p.Version(ctx); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", t.name, err)
	} else if v == 0 {
		return nil, nil, nil, fmt.Errorf("%s: %w: %w under the prefix", t.name, source.ErrFetch, errNoMap)
	}
	src, err := etcdsource.New(c, t.prefix, etcdsource.Config{Jitter: -1})
	if err != nil {
		return nil, nil, nil, err
	}
	src.SetParse(opt, nil)
	m, err := src.Next(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", t.name, err)
	}
	var out [][]byte
	if s := m.Signature(); s != nil {
		out = [][]byte{s}
	}
	return m, m.Bytes(), out, nil
}

// confirmer returns the Publisher of the prefix, a source.Confirmer of the
// confirmations cells write there (etcdsource.ConfirmWriter), and the
// release of its client.
func (t *etcdTarget) confirmer(ctx context.Context) (source.Confirmer, func(), error) {
	c, err := t.client(ctx)
	if err != nil {
		return nil, nil, err
	}
	p, err := etcdsource.NewPublisher(c, t.prefix, etcdsource.PublisherConfig{})
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return p, func() { c.Close() }, nil
}
