package cellgrpc_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cellgrpc"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Check is a read: by its name it would be a write.
var classes = cellgrpc.Classes{"/grpc.health.v1.Health/Check": cell.Read}

// mapOf holds a cell's map; a real cell runs a source.Follower.
type mapOf struct{ m *placement.Map }

func (f mapOf) Map() *placement.Map { return f.m }

// runCell is a cell service: gRPC's health service behind the Guard, which
// turns away the keys the cell does not own.
func runCell(lis net.Listener, id string, m *placement.Map) (*grpc.Server, error) {
	g, err := cellgrpc.NewGuard(cellgrpc.GuardConfig{Cell: id, Map: mapOf{m}, Classes: classes})
	if err != nil {
		return nil, err
	}
	s := grpc.NewServer(grpc.ChainUnaryInterceptor(g.Unary()), grpc.ChainStreamInterceptor(g.Stream()))
	healthpb.RegisterHealthServer(s, health.NewServer())
	go s.Serve(lis)
	return s, nil
}

// callCell is a client: a cell-aware channel on a cell.Client, and a call
// routed by its key.
func callCell(ctx context.Context, src source.Source, key string) (string, error) {
	c, err := cell.NewClient(cell.Config{Source: src})
	if err != nil {
		return "", err
	}
	go c.Run(ctx)
	<-c.Ready()
	rt, err := cellgrpc.NewRouter(cellgrpc.RouterConfig{Client: c, Classes: classes})
	if err != nil {
		return "", err
	}
	conn, err := rt.NewClient(grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(cellgrpc.WithKey(ctx, key), &healthpb.HealthCheckRequest{})
	if err != nil {
		return "", err
	}
	return resp.GetStatus().String(), nil
}

// A cell service and a client, in gRPC: the client's call for tenant-42
// goes to the cell that owns it.
func Example() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	m, err := placement.Parse(fmt.Appendf(nil, `{"version": 1, "seed": "7",
		"cells": [{"id": "c1", "endpoints": [{"url": "http://%s"}]}]}`, lis.Addr()))
	if err != nil {
		log.Fatal(err)
	}
	srv, err := runCell(lis, "c1", m)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	status, err := callCell(ctx, source.NewStatic(m), "tenant-42")
	fmt.Println(status, err)
	// Output: SERVING <nil>
}
