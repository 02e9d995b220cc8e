package cellgrpc_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cellgrpc"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// chanSource delivers the maps sent on it.
type chanSource chan *placement.Map

func (s chanSource) Next(ctx context.Context) (*placement.Map, error) {
	select {
	case m := <-s:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// On a Follower, a call holds the map it was judged on until it returns:
// the cell does not confirm a newer version while a call judged on an older
// one runs, as cell.Guard's requests do.
func TestGuardHoldsJudgment(t *testing.T) {
	src := make(chanSource)
	f, err := source.NewFollower(source.FollowerConfig{Source: src, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	doc := func(v int) *placement.Map {
		return testMap(t, fmt.Sprintf(`{"version": %d, "cells": [{"id": "a"}]}`, v))
	}
	src <- doc(1)
	if _, err := f.Await(ctx, 1); err != nil {
		t.Fatal(err)
	}
	g, err := cellgrpc.NewGuard(cellgrpc.GuardConfig{Cell: "a", Map: f})
	if err != nil {
		t.Fatal(err)
	}
	entered, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		cctx := metadata.NewIncomingContext(ctx, metadata.Pairs(cellgrpc.MDKey, "k"))
		_, err := g.Unary()(cctx, nil, &grpc.UnaryServerInfo{FullMethod: "/s.S/Put"}, func(context.Context, any) (any, error) {
			close(entered)
			<-release
			return nil, nil
		})
		done <- err
	}()
	<-entered
	src <- doc(2)
	if _, err := f.Await(ctx, 2); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // give a wrong confirmation the chance to show
	if got := f.Confirmed(); got != 1 {
		t.Fatalf("Confirmed() = %d while a call judged on version 1 runs; want 1", got)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if v, err := f.AwaitConfirmed(wctx, 1); err != nil || v < 2 {
		t.Fatalf("AwaitConfirmed(1) = %d, %v after the call returned; want 2", v, err)
	}
}
