package cellgrpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cellgrpc"
	"github.com/cellkit/cellkit/placement"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// fixed is a map source of one map.
type fixed struct{ m *placement.Map }

func (f fixed) Map() *placement.Map { return f.m }

func testMap(t *testing.T, doc string) *placement.Map {
	t.Helper()
	m, err := placement.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const guardDoc = `{"version": 5, "seed": "1", "buckets": 64,
 "cells": [{"id": "a", "zone": "z"}, {"id": "b", "zone": "z"}],
 "table": [{"buckets": "0-31", "cell": "a"}, {"buckets": "32-63", "cell": "b"}],
 "migrations": [{"key": "frozen-key", "from": "a", "to": "b", "phase": "frozen"}]}`

// serverStream is the little of grpc.ServerStream the stream interceptor uses.
type serverStream struct {
	grpc.ServerStream
	ctx     context.Context
	trailer metadata.MD
}

func (s *serverStream) Context() context.Context  { return s.ctx }
func (s *serverStream) SetTrailer(md metadata.MD) { s.trailer = metadata.Join(s.trailer, md) }

// The Guard's answers, through its stream interceptor (which hands the
// trailer to the stream, where the test reads it), with the codes and
// trailers of the package documentation's wire format.
func TestGuardAnswers(t *testing.T) {
	m := testMap(t, guardDoc)
	ownedByA, ownedByB := "", ""
	for i := 0; ownedByA == "" || ownedByB == ""; i++ {
		k := "k" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if a, _ := m.Locate(k); a.Cell == "a" && ownedByA == "" {
			ownedByA = k
		} else if a.Cell == "b" && ownedByB == "" {
			ownedByB = k
		}
	}
	g, err := cellgrpc.NewGuard(cellgrpc.GuardConfig{Cell: "a", Map: fixed{m}, RetryAfter: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const put, get = "/svc.S/PutX", "/svc.S/GetX"
	cases := []struct {
		name    string
		method  string
		md      []string
		code    codes.Code
		trailer map[string]string
	}{
		{"owned", put, []string{"cell-key", ownedByA}, codes.OK, nil},
		{"no key", put, nil, codes.InvalidArgument, nil},
		{"bad version", put, []string{"cell-key", ownedByA, "cell-map-version", "x"}, codes.InvalidArgument, nil},
		{"moved", put, []string{"cell-key", ownedByB, "cell-map-version", "5"}, codes.FailedPrecondition,
			map[string]string{"cell-owner": "b", "cell-map-version": "5", "cell-id": "a"}},
		{"moved read", get, []string{"cell-key", ownedByB}, codes.FailedPrecondition,
			map[string]string{"cell-owner": "b", "cell-map-version": "5"}},
		{"behind", put, []string{"cell-key", ownedByB, "cell-map-version", "6"}, codes.Unavailable,
			map[string]string{"cell-refused": "behind", "retry-after": "2", "cell-id": "a"}},
		{"frozen", put, []string{"cell-key", "frozen-key"}, codes.Unavailable,
			map[string]string{"cell-refused": "frozen", "retry-after": "2"}},
		{"frozen read", get, []string{"cell-key", "frozen-key"}, codes.OK, nil},
	}
	for _, tc := range cases {
		md := metadata.Pairs(tc.md...)
		ss := &serverStream{ctx: metadata.NewIncomingContext(context.Background(), md)}
		called := false
		err := g.Stream()(nil, ss, &grpc.StreamServerInfo{FullMethod: tc.method}, func(any, grpc.ServerStream) error {
			called = true
			return nil
		})
		want := tc.code
		if status.Code(err) != want || called != (want == codes.OK) {
			t.Errorf("%s: %v (handler called %v); want %v", tc.name, err, called, want)
		}
		for k, v := range tc.trailer {
			if got := ss.trailer.Get(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s: trailer %s = %q; want %q", tc.name, k, got, v)
			}
		}
	}

	// No map yet: every call is refused as behind.
	g2, _ := cellgrpc.NewGuard(cellgrpc.GuardConfig{Cell: "a", Map: fixed{}})
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("cell-key", ownedByA))
	_, err = g2.Unary()(ctx, nil, &grpc.UnaryServerInfo{FullMethod: put}, func(context.Context, any) (any, error) { return nil, nil })
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("no map: %v; want UNAVAILABLE", err)
	}
}

// Bad configs are typed errors naming the field; nothing panics.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  cellgrpc.GuardConfig
		want error
	}{
		{cellgrpc.GuardConfig{Map: fixed{}}, cellgrpc.ErrNoCell},
		{cellgrpc.GuardConfig{Cell: "a"}, cellgrpc.ErrNoMap},
		{cellgrpc.GuardConfig{Cell: "a", Map: fixed{}, RetryAfter: -1}, cellgrpc.ErrConfig},
	} {
		if _, err := cellgrpc.NewGuard(tc.cfg); !errors.Is(err, tc.want) || !errors.Is(err, cellgrpc.ErrConfig) {
			t.Errorf("NewGuard(%+v) = %v; want %v", tc.cfg, err, tc.want)
		}
	}
	if _, err := cellgrpc.NewRouter(cellgrpc.RouterConfig{}); !errors.Is(err, cellgrpc.ErrNoClient) || !errors.Is(err, cellgrpc.ErrConfig) {
		t.Errorf("NewRouter without a client = %v; want ErrNoClient", err)
	}
}

// The metadata names are cell's HTTP header names in lower case: one
// protocol, two transports.
func TestMetadataNamesAreCellHeaders(t *testing.T) {
	for md, h := range map[string]string{
		cellgrpc.MDCell: cell.HeaderCell, cellgrpc.MDMapVersion: cell.HeaderMapVersion,
		cellgrpc.MDOwner: cell.HeaderOwner, cellgrpc.MDRefused: cell.HeaderRefused, cellgrpc.MDRetryAfter: cell.HeaderRetryAfter,
	} {
		if md != strings.ToLower(h) {
			t.Errorf("metadata %q; want %q", md, strings.ToLower(h))
		}
	}
}

func TestClasses(t *testing.T) {
	cs := cellgrpc.Classes{"/a.B/Check": cell.Read, "/a.S/": cell.Stateless}
	for m, want := range map[string]cell.Class{
		"/a.B/GetX": cell.Read, "/a.B/ListX": cell.Read, "/a.B/PutX": cell.Write, "/a.B/Check": cell.Read,
		"/a.S/PutX": cell.Stateless, "/a.B/Getaway": cell.Read, "": cell.Write, "GetX": cell.Read,
	} {
		if got := cs.Of(m); got != want {
			t.Errorf("Of(%q) = %v; want %v", m, got, want)
		}
	}
}
