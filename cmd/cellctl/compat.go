package main

// The few placement and source calls the subcommands share.

import (
	"context"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// errNoKey is the error of locating the empty key.
var errNoKey = placement.ErrNoKey

// signatureHeader is the HTTP header of a document's signature.
const signatureHeader = source.SignatureHeader

// locate is AppendLocate: the read set and the shard appended to dst[:0].
func locate(m *placement.Map, dst []string, key string) (placement.Assignment, error) {
	return m.AppendLocate(dst[:0], key)
}

// newBuilder starts the next version of m, or a first map when m is nil.
func newBuilder(m *placement.Map) (*placement.Builder, error) {
	return placement.NewBuilder(m), nil
}

func setZone(b *placement.Builder, id, zone string) error { return b.SetZone(id, zone) }
func setSeed(b *placement.Builder, seed uint64) error {
	b.SetSeed(seed)
	return nil
}
func setBuckets(b *placement.Builder, n int) error   { return b.SetBuckets(n) }
func setShardSize(b *placement.Builder, k int) error { return b.SetShardSize(k) }

// fetchHTTP gets the map in force at url through the HTTP source.
func fetchHTTP(ctx context.Context, url string, opt placement.Options) (*placement.Map, error) {
	s, err := source.NewHTTP(url, source.HTTPConfig{Options: opt, Jitter: -1})
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return s.Next(ctx)
}
