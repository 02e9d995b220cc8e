// Package cellgrpctest starts fleets of fake gRPC cells for tests, as
// cell/celltest does for HTTP: each cell a grpc.Server on loopback TCP (or
// grpc's bufconn) behind a cellgrpc.Guard, with knobs that inject faults
// (Fail, Slow, ErrorRate, Blackhole, MoveTo, Flap, PinMap) and take the
// server itself down and up (Stop, Start: connectivity failures), counters
// per cell, a control plane whose maps the test publishes and takes down,
// and a ready cell.Client with a cell-aware grpc.ClientConn on it.
//
// The knobs (celltest.Faults), the control plane and its Sources
// (celltest.ControlPlane) are celltest's, so they behave as they do for
// HTTP fleets.
//
// The cells serve the fleet's own service (ServiceName, with Get, Put,
// List and Chat to call it) unless Config.Register registers the test's.
// Fleets run on real time: grpc-go's goroutines and timers do not live in
// a testing/synctest bubble.
package cellgrpctest
