package main

// Adapters over the placement API while it moves to the names of the API
// contract (AppendLocate, NewBuilder(nil) and its setters). Only this file
// names the old ones.

import (
	"context"
	"errors"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// errNoKey is placement.ErrNoKey once it lands.
var errNoKey error

// signatureHeader is the HTTP header of a document's signature.
const signatureHeader = source.SignatureHeader

// locate is Locate with the shard appended to dst[:0].
func locate(m *placement.Map, dst []string, key string) (placement.Assignment, error) {
	return m.LocateWith(key, dst)
}

// newBuilder starts the next version of m, or a first map when m is nil.
func newBuilder(m *placement.Map) (*placement.Builder, error) {
	if m == nil {
		return nil, errors.New("cellctl: building a map from nothing needs placement.NewBuilder(nil)")
	}
	return placement.NewBuilder(m), nil
}

var errNoSetter = errors.New("cellctl: this edit needs the Builder's document setters")

func setZone(b *placement.Builder, id, zone string) error { return errNoSetter }
func setSeed(b *placement.Builder, seed uint64) error     { return errNoSetter }
func setBuckets(b *placement.Builder, n int) error        { return errNoSetter }
func setShardSize(b *placement.Builder, k int) error      { return errNoSetter }

// fetchHTTP gets the map in force at url through the HTTP source.
func fetchHTTP(ctx context.Context, url string, opt placement.Options) (*placement.Map, error) {
	s, err := source.NewHTTP(url, source.HTTPConfig{Options: opt, Jitter: -1})
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return s.Next(ctx)
}
