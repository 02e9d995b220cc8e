package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement/source"
)

func main() {
	id := flag.String("cell", "c1", "the cell's ID in the map")
	mapURL := flag.String("map", "http://127.0.0.1:8000/map", "the control plane's map URL")
	addr := flag.String("addr", ":8080", "the address to serve on")
	lastGood := flag.String("last-good", "", "the last-known-good file; empty for none")
	poll := flag.Duration("poll", 10*time.Second, "the interval between two polls of the map")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err == nil {
		err = serve(ctx, ln, *id, *mapURL, *lastGood, *poll)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// serve runs cell id on ln until ctx ends: the whole cell side.
func serve(ctx context.Context, ln net.Listener, id, mapURL, lastGood string, poll time.Duration) error {
	src, err := source.NewHTTP(mapURL, source.HTTPConfig{Interval: poll})
	if err != nil {
		return err
	}
	f, err := source.NewFollower(source.FollowerConfig{Source: src, LastGood: lastGood})
	if err != nil {
		return err
	}
	ran := make(chan error, 1)
	go func() { ran <- f.Run(ctx) }()
	defer func() { <-ran }() // the Follower's last save is done before serve returns

	guard, err := cell.NewGuard(cell.GuardConfig{Cell: id, Map: f, Key: cell.KeyFromPath(1), // /tenants/{tenant}/...
		Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "%s serves %s\n", id, r.URL.Path) })})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/tenants/", guard)
	mux.Handle(source.ConfirmedPath, source.ConfirmHandler(id, f))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
