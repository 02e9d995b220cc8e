package etcdsource

import (
	"context"
	"testing"
)

func TestSmoke(t *testing.T) {
	te := startEtcd(t)
	p := newPublisher(t, te.client, "/cellkit/", PublisherConfig{})
	src := newSource(t, te.client, "/cellkit/", Config{})
	ctx := context.Background()
	if err := p.Publish(ctx, 0, testMap(t, 1), nil); err != nil {
		t.Fatal(err)
	}
	mustNext(t, src, 1)
	if err := p.Publish(ctx, 1, testMap(t, 2), nil); err != nil {
		t.Fatal(err)
	}
	mustNext(t, src, 2)
}
