package etcdsource_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/url"
	"os"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/etcdsource"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Example publishes a map to an etcd and follows it with a source. The etcd
// here is embedded, on a loopback port; a real one is only an endpoint.
func Example() {
	endpoint, stop := startEtcd()
	defer stop()
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Logger: zap.NewNop()})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()

	pub, err := etcdsource.NewPublisher(client, "/cellkit/prod/", etcdsource.PublisherConfig{})
	if err != nil {
		log.Fatal(err)
	}
	m, err := placement.Parse([]byte(`{"version":1,"cells":[{"id":"c1"},{"id":"c2"}]}`))
	if err != nil {
		log.Fatal(err)
	}
	if err := pub.Publish(ctx, 0, m, nil); err != nil {
		log.Fatal(err)
	}

	src, err := etcdsource.New(client, "/cellkit/prod/", etcdsource.Config{})
	if err != nil {
		log.Fatal(err)
	}
	cur, err := src.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("source has version", cur.Version())

	// The control plane edits the map it read and publishes on its version.
	b := placement.NewBuilder(cur)
	if err := b.SetWeight("c2", 2); err != nil {
		log.Fatal(err)
	}
	next, err := b.Build()
	if err != nil {
		log.Fatal(err)
	}
	if err := pub.Publish(ctx, cur.Version(), next, nil); err != nil {
		log.Fatal(err)
	}
	cur, err = src.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("source has version", cur.Version())

	// Another publisher, still on version 1, loses.
	err = pub.Publish(ctx, 1, next, nil)
	var ce *etcdsource.ConflictError
	if errors.As(err, &ce) {
		fmt.Println("conflict: base", ce.Base, "stored", ce.Stored)
	}

	// Output:
	// source has version 1
	// source has version 2
	// conflict: base 1 stored 2
}

// startEtcd starts a one-member etcd in a temporary directory.
func startEtcd() (endpoint string, stop func()) {
	dir, err := os.MkdirTemp("", "etcdsource-example-")
	if err != nil {
		log.Fatal(err)
	}
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	lo := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{lo}, []url.URL{lo}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{lo}, []url.URL{lo}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatal(err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		log.Fatal("etcd did not start")
	}
	return "http://" + e.Clients[0].Addr().String(), func() {
		e.Close()
		os.RemoveAll(dir)
	}
}
