package cell_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

const exampleMap = `{
  "version": 1,
  "seed": "42",
  "cells": [
    {"id": "c1", "zone": "az1", "endpoints": [{"url": "https://c1.internal:8443"}]},
    {"id": "c2", "zone": "az2", "endpoints": [{"url": "https://c2.internal:8443"}]},
    {"id": "c3", "zone": "az3", "endpoints": [{"url": "https://c3.internal:8443"}]}
  ]
}`

// A client on a map, calling the cell of a tenant's key through that cell's
// breaker. In production the Source is placement/source's HTTP or file
// source, and LastGood keeps the client serving with the control plane down.
func Example() {
	m, err := placement.Parse([]byte(exampleMap))
	if err != nil {
		log.Fatal(err)
	}
	c, err := cell.NewClient(cell.Config{Source: source.NewStatic(m), Zone: "az1"})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go c.Run(ctx) // owns all background work; returns when ctx ends
	<-c.Ready()

	err = c.Do(ctx, "tenant-42", cell.Write, func(ctx context.Context, r cell.Route) error {
		fmt.Println("write tenant-42 at", r.Cell, r.Endpoint)
		return nil // the call to r.Endpoint, under ctx
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// write tenant-42 at c2 https://c2.internal:8443
}

// The Transport routes an HTTP client's requests to the cell of their key.
// The cell's own server rejects keys it does not own with a Guard.
func ExampleClient_Transport() {
	var m *placement.Map
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	m, err := placement.Parse([]byte(strings.ReplaceAll(exampleMap, "https://c2.internal:8443", srv.URL)))
	if err != nil {
		log.Fatal(err)
	}
	key := cell.KeyFromPath(1) // /tenants/{key}/...
	guard, err := cell.NewGuard(cell.GuardConfig{
		Cell: "c2",
		Map:  source.HolderFunc(func() *placement.Map { return m }),
		Key:  key,
		Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "c2 serves %s (client on map v%s)", r.URL.Path, r.Header.Get(cell.HeaderMapVersion))
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("/", guard)

	c, err := cell.NewClient(cell.Config{Source: source.NewStatic(m)})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go c.Run(ctx)
	<-c.Ready()

	hc := &http.Client{Transport: c.Transport(nil, key)}
	resp, err := hc.Get("http://any-host/tenants/tenant-42/orders")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	_, err = hc.Get("http://any-host/")
	fmt.Println(errors.Is(err, cell.ErrNoKey))
	// Output:
	// 200 c2 serves /tenants/tenant-42/orders (client on map v1)
	// true
}
