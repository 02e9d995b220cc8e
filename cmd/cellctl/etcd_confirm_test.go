package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/etcdsource"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// versionFeed is a cell's confirmed versions, as the test confirms them.
type versionFeed chan uint64

func (f versionFeed) AwaitConfirmed(ctx context.Context, after uint64) (uint64, error) {
	for {
		select {
		case v := <-f:
			if v > after {
				return v, nil
			}
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// TestAwaitConfirmedEtcd: publish --await-confirmed to an etcd target waits
// for the confirmations cells write under the prefix (etcdsource's
// ConfirmWriter), names the cell that has not confirmed when it times out,
// and publishes once it has.
func TestAwaitConfirmedEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd")
	}
	dir := t.TempDir()
	ep, stop, err := startEtcd(filepath.Join(dir, "etcd"))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	tgt := "etcd:" + ep + "/cellkit/test/"
	doc := func(v string) string { return filepath.Join(dir, v+".json") }
	if code, _, errOut := runCmd("new", "-o", doc("v1"), "add c1 zone=z1", "add c2 zone=z2", "add c3 zone=z3"); code != exitOK {
		t.Fatal(errOut)
	}
	v1, _, _, err := loadDoc(doc("v1"), placement.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := v1.Locate("tenant-7")
	home, to := a.Cell, "c1"
	if home == "c1" {
		to = "c2"
	}
	for _, step := range [][]string{
		{"edit", doc("v1"), "-o", doc("v2"), "migrate tenant-7 " + to},
		{"publish", "--to", tgt, doc("v2")},
		{"edit", doc("v2"), "-o", doc("v3"), "advance tenant-7"},
	} {
		if code, _, errOut := runCmd(step...); code != exitOK {
			t.Fatalf("%q: %s", step, errOut)
		}
	}

	client, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feeds := map[string]versionFeed{}
	for _, id := range []string{home, to} {
		w, err := etcdsource.NewConfirmWriter(client, "/cellkit/test/", etcdsource.ConfirmWriterConfig{Cell: id})
		if err != nil {
			t.Fatal(err)
		}
		feeds[id] = make(versionFeed, 4)
		go w.Run(ctx, feeds[id])
	}
	feeds[home] <- 2

	code, _, errOut := runCmd("publish", "--await-confirmed", "--confirm-timeout", "1s", "--to", tgt, doc("v3"))
	if code != exitRefused || !strings.Contains(errOut, "have not confirmed map version 2: "+to) || strings.Contains(errOut, home+" (") {
		t.Fatalf("publish with %s unconfirmed: exit %d, %s; want it named (and only it)", to, code, errOut)
	}
	feeds[to] <- 2
	code, out, errOut := runCmd("publish", "--await-confirmed", "--confirm-timeout", "30s", "--to", tgt, doc("v3"))
	if code != exitOK || !strings.Contains(out, "published v3") || !strings.Contains(errOut, "v2 confirmed by") || !strings.Contains(errOut, "at "+tgt) {
		t.Fatalf("publish after the confirmation: exit %d, %s %s", code, out, errOut)
	}
}
