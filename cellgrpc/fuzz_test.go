package cellgrpc

import (
	"context"
	"testing"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type fixedMap struct{ m *placement.Map }

func (f fixedMap) Map() *placement.Map { return f.m }

// FuzzGuard: whatever the metadata of a call, the Guard answers with one of
// the protocol's answers and never panics; whatever a reply's status and
// trailers, the client's decoding never panics and a moved reply it decodes
// names a cell.
func FuzzGuard(f *testing.F) {
	m, err := placement.Parse([]byte(`{"version": 3, "seed": "1", "cells": [{"id": "a"}, {"id": "b"}],
		"overrides": {"k": "a"},
		"migrations": [{"key": "k", "from": "a", "to": "b", "phase": "frozen"}]}`))
	if err != nil {
		f.Fatal(err)
	}
	g, err := NewGuard(GuardConfig{Cell: "a", Map: fixedMap{m}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("k", "3", "/s.S/PutX", "b", "behind", "1")
	f.Add("", "x", "", "", "", "")
	f.Add("tenant", "18446744073709551616", "GetX", "a", "frozen", "-1")
	f.Fuzz(func(t *testing.T, key, version, method, owner, refused, retry string) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(MDKey, key, MDMapVersion, version))
		tr, err := g.check(ctx, g.cfg.Map.Map(), method)
		switch code := status.Code(err); code {
		case codes.OK, codes.InvalidArgument, codes.FailedPrecondition, codes.Unavailable:
		default:
			t.Fatalf("check(%q, %q, %q) = %v", key, version, method, err)
		}
		if err != nil && status.Code(err) != codes.InvalidArgument && tr == nil {
			t.Fatalf("check(%q, %q, %q) = %v without trailers", key, version, method, err)
		}
		md := metadata.Pairs(MDOwner, owner, MDMapVersion, version, MDRefused, refused, MDRetryAfter, retry)
		for _, c := range []codes.Code{codes.FailedPrecondition, codes.Unavailable} {
			o := judgeReply(context.Background(), cell.Route{Key: key, Cell: "a"}, status.Error(c, "x"), md)
			if me, ok := o.err.(*cell.MovedError); ok && me.Cell == "" {
				t.Fatalf("moved to no cell from %v", md)
			}
		}
		if err != nil {
			// The Guard's own answer decodes to what it says.
			o := judgeReply(context.Background(), cell.Route{Key: key, Cell: "a"}, err, nil)
			switch status.Code(err) {
			case codes.FailedPrecondition:
				if me, ok := o.err.(*cell.MovedError); !ok || me.Version != 3 {
					t.Fatalf("the Guard's moved reply %v decodes to %v", err, o.err)
				}
			case codes.Unavailable:
				if _, ok := o.err.(*cell.RefusedError); !ok {
					t.Fatalf("the Guard's refusal %v decodes to %v", err, o.err)
				}
			}
		}
	})
}
