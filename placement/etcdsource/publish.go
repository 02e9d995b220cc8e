package etcdsource

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/etcdsource/internal/layout"
	"github.com/cellkit/cellkit/placement/source"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// PublisherConfig configures a Publisher. The zero value is valid for an
// etcd server with the default limits.
type PublisherConfig struct {
	// ChunkBytes is the largest value the publisher writes: a larger
	// document is stored in chunks of this size. Default 1 MiB, which fits
	// etcd's default request limit (--max-request-bytes, 1.5 MiB) with room
	// for the key and the signature; it must stay below the server's limit.
	ChunkBytes int
	// MaxTxnOps is the server's --max-txn-ops (default 128). The
	// transaction that commits a chunked document compares every chunk, so
	// a document may have at most MaxTxnOps−1 chunks (ErrTooLarge).
	MaxTxnOps int
}

// A Publisher writes maps under a prefix of etcd for Sources to follow,
// with compare-and-swap on the stored version: each Publish names the
// version it builds on, and fails with a *ConflictError if another
// publisher stored a different one since. Of publishers racing from the
// same base, exactly one wins. A Publisher is safe for concurrent use.
type Publisher struct {
	client *clientv3.Client
	keys   keys
	chunk  int
	maxOps int
}

// NewPublisher returns a publisher under prefix, which must end with "/".
// It makes no request.
func NewPublisher(client *clientv3.Client, prefix string, cfg PublisherConfig) (*Publisher, error) {
	if client == nil {
		return nil, configError("client", "is nil")
	}
	k, err := newKeys(prefix)
	if err != nil {
		return nil, err
	}
	if cfg.ChunkBytes < 0 || cfg.MaxTxnOps < 0 {
		return nil, configError("PublisherConfig", "has a negative field")
	}
	maxOps := cmp.Or(cfg.MaxTxnOps, 128)
	if maxOps < 8 {
		return nil, configError("PublisherConfig.MaxTxnOps", fmt.Sprintf("%d is below 8, the operations of one publish", maxOps))
	}
	return &Publisher{client: client, keys: k, chunk: cmp.Or(cfg.ChunkBytes, 1<<20), maxOps: maxOps}, nil
}

// Version returns the version stored under the prefix, or 0 when nothing
// is: the base of the next Publish.
func (p *Publisher) Version(ctx context.Context) (uint64, error) {
	resp, err := p.client.Get(ctx, p.keys.version)
	if err != nil {
		return 0, fmt.Errorf("%w: read the version: %w", ErrUnavailable, err)
	}
	return storedVersion(resp.Kvs)
}

func storedVersion(kvs []*mvccpb.KeyValue) (uint64, error) {
	if len(kvs) == 0 {
		return 0, nil
	}
	return layout.ParseVersion(kvs[0].Value)
}

// Publish stores m, with its detached signature sig (nil for none; see
// placement.Sign), if the stored version is base (0: nothing stored).
// m's version must be above base (ErrVersion). When another version is
// stored, Publish fails with a *ConflictError and changes nothing.
//
// A document of at most ChunkBytes is written with its version and
// signature in one transaction. A larger one is first written in chunks
// under a directory of its own, which no reader looks at yet; then one
// transaction, if the version is still base and the chunks are untouched,
// writes the manifest that names them, the version and the signature, and
// deletes the previous document and every other chunk. A reader sees the
// old map or the new one, never a mix. A publish that is refused deletes its
// chunks; one that fails or is interrupted may leave chunks that no manifest
// names, and the next publish deletes them. A request etcd does not answer
// (no quorum, no leader, ctx's end) gives an error matching ErrUnavailable;
// see there for why and how to publish again.
func (p *Publisher) Publish(ctx context.Context, base uint64, m *placement.Map, sig []byte) error {
	if m == nil {
		return errors.New("etcdsource: publish of a nil map")
	}
	if sig != nil {
		if err := checkSig(sig); err != nil {
			return err
		}
	}
	return p.publish(ctx, base, m.Version(), m.Bytes(), sig)
}

// publish stores doc, of version v, as Publish does.
func (p *Publisher) publish(ctx context.Context, base, v uint64, doc, sig []byte) error {
	if v <= base {
		return fmt.Errorf("%w: version %d is not above the base %d", ErrVersion, v, base)
	}
	cond := []clientv3.Cmp{p.versionIs(base)}
	then := []clientv3.Op{clientv3.OpPut(p.keys.version, strconv.FormatUint(v, 10))}
	if sig != nil {
		then = append(then, clientv3.OpPut(p.keys.sig, string(source.FormatSignatures([][]byte{sig}))))
	} else {
		then = append(then, clientv3.OpDelete(p.keys.sig))
	}
	if len(doc) <= p.chunk {
		then = append(then,
			clientv3.OpPut(p.keys.doc, string(doc)),
			clientv3.OpDelete(p.keys.manifest),
			clientv3.OpDelete(p.keys.chunks, clientv3.WithPrefix()))
		return p.commit(ctx, base, cond, then)
	}

	n := (len(doc) + p.chunk - 1) / p.chunk
	if n+1 > p.maxOps {
		return fmt.Errorf("%w: %d bytes make %d chunks of %d; at most %d fit MaxTxnOps %d",
			ErrTooLarge, len(doc), n, p.chunk, p.maxOps-1, p.maxOps)
	}
	// A publish that would lose uploads nothing.
	if stored, err := p.Version(ctx); err != nil {
		return err
	} else if stored != base {
		return &ConflictError{Base: base, Stored: stored}
	}
	sum := sha256.Sum256(doc)
	man := layout.Manifest{
		ID:     fmt.Sprintf("%020d-%016x", v, rand.Uint64()),
		Chunks: n,
		Bytes:  len(doc),
		SHA256: hex.EncodeToString(sum[:]),
	}
	dir := p.keys.chunkDir(man.ID)
	for i := range n {
		key := p.keys.chunkKey(man.ID, i)
		resp, err := p.client.Put(ctx, key, string(doc[i*p.chunk:min(len(doc), (i+1)*p.chunk)]))
		if err != nil {
			p.cleanup(ctx, dir)
			return fmt.Errorf("%w: publish: write chunk %d of %d: %w", ErrUnavailable, i, n, err)
		}
		cond = append(cond, clientv3.Compare(clientv3.ModRevision(key), "=", resp.Header.Revision))
	}
	then = append(then,
		clientv3.OpPut(p.keys.manifest, string(man.Encode())),
		clientv3.OpDelete(p.keys.doc),
		// Every chunk but this document's: the ranges on either side of dir.
		clientv3.OpDelete(p.keys.chunks, clientv3.WithRange(dir)),
		clientv3.OpDelete(rangeEnd(dir), clientv3.WithRange(rangeEnd(p.keys.chunks))))
	err := p.commit(ctx, base, cond, then)
	// Only a refusal is sure to have stored nothing: after a failed request
	// the transaction may have been applied, and its chunks are the map.
	if errors.Is(err, ErrConflict) {
		p.cleanup(ctx, dir)
	}
	return err
}

// versionIs compares the version key with base; base 0 means no key.
func (p *Publisher) versionIs(base uint64) clientv3.Cmp {
	if base == 0 {
		return clientv3.Compare(clientv3.CreateRevision(p.keys.version), "=", 0)
	}
	return clientv3.Compare(clientv3.Value(p.keys.version), "=", strconv.FormatUint(base, 10))
}

// commit runs the transaction that publishes, and explains a refusal.
func (p *Publisher) commit(ctx context.Context, base uint64, cond []clientv3.Cmp, then []clientv3.Op) error {
	resp, err := p.client.Txn(ctx).If(cond...).Then(then...).Else(clientv3.OpGet(p.keys.version)).Commit()
	if err != nil {
		return fmt.Errorf("%w: publish: %w", ErrUnavailable, err)
	}
	if resp.Succeeded {
		return nil
	}
	var kvs []*mvccpb.KeyValue
	if len(resp.Responses) > 0 {
		kvs = resp.Responses[0].GetResponseRange().GetKvs()
	}
	stored, err := storedVersion(kvs)
	switch {
	case err != nil:
		return fmt.Errorf("%w (publish refused: %w)", err, ErrConflict)
	case stored == base:
		return fmt.Errorf("%w: the chunks of the publish were changed by someone else", ErrConflict)
	}
	return &ConflictError{Base: base, Stored: stored}
}

// cleanup deletes the chunks of a publish that failed, even when ctx is
// done, within a few seconds; what it cannot delete the next publish does.
func (p *Publisher) cleanup(ctx context.Context, dir string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, _ = p.client.Delete(ctx, dir, clientv3.WithPrefix())
}
