package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

func main() {
	if err := run(os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer) error {
	key := cell.KeyFromPath(1) // the tenant is the second segment: /tenants/{tenant}/orders
	var m *placement.Map       // the cells' map, set before any request
	var cells, urls []string
	for _, id := range []string{"c1", "c2"} {
		guard, err := cell.NewGuard(cell.GuardConfig{Cell: id, Key: key,
			Map: source.HolderFunc(func() *placement.Map { return m }),
			Next: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(rw, "%s serves %s", id, r.URL.Path)
			})})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: guard}
		go srv.Serve(ln)
		defer srv.Close()
		urls = append(urls, "http://"+ln.Addr().String())
		cells = append(cells, fmt.Sprintf(`{"id": %q, "endpoints": [{"url": %q}]}`, id, urls[len(urls)-1]))
	}
	m, err := placement.Parse([]byte(`{"version": 1, "seed": "1", "cells": [` + strings.Join(cells, ", ") + `]}`))
	if err != nil {
		return err
	}

	// The client service: in production its Source is source.NewHTTP or
	// source.NewFile on the control plane's map.
	client, err := cell.NewClient(cell.Config{Source: source.NewStatic(m), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go client.Run(ctx)
	<-client.Ready()
	hc := &http.Client{Transport: client.Transport(nil, key)}
	for _, tenant := range []string{"acme", "globex", "initech", "umbrella"} {
		resp, err := hc.Post("http://orders.internal/tenants/"+tenant+"/orders", "text/plain", strings.NewReader("1 widget"))
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(w, "%-8s → %s %s\n", tenant, resp.Status, body)
	}
	// Sent straight to the wrong cell, around the client, a request is
	// refused by the guard, which names the owner.
	resp, err := http.Post(urls[1]+"/tenants/acme/orders", "text/plain", strings.NewReader("1 widget"))
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Fprintf(w, "acme at c2 → %s, owner %s\n", resp.Status, resp.Header.Get(cell.HeaderOwner))
	return nil
}
