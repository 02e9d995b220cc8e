// Package celltest fakes a fleet of cells for the tests of code that uses
// package cell: a few lines start cells, their control plane and a ready
// client, turn a fault on in one cell, and check that only that cell's
// tenants saw it.
//
// A Fleet (NewFleet in a test, New elsewhere) starts Config.Cells cells,
// c01, c02, …, dealt in turn to Config.Zones zones z1, z2, …, each behind a
// cell.Guard on the fleet's map, on loopback HTTP servers or, with
// Config.InMemory, on an in-memory network that works inside a
// testing/synctest bubble. It publishes version 1 of the map and starts a
// client on it (Fleet.Client); Fleet.NewClient starts more, on the base of
// Config.Client.
//
// Code under test reaches the cells over HTTP (Fleet.Transport,
// Fleet.HTTPClient, or the raw Fleet.Base) or, when it is not HTTP, through
// Fleet.Call, a fake remote call to use as, or inside, cell.Client.Do's fn.
//
// Each Cell has knobs, safe to turn from any goroutine at any time: Fail,
// Slow, ErrorRate, Blackhole, MoveTo, Flap, PinMap, and Recover to clear
// them; and counters: Requests, Failures, Accepted, Refused. The control
// plane has its own: Publish, PublishMap and PublishDocument deliver maps,
// good or bad, to every client's Source at once (see Source), and
// ControlPlaneDown makes every poll fail until ControlPlaneUp.
//
// The parts that do not depend on HTTP are exported for other transports'
// fleets (cellgrpc's cellgrpctest builds on them), so that a knob or a
// publication means the same on every transport: Faults, one cell's knobs
// and what a request meets of them (Faults.Meet), and ControlPlane, the
// maps, Sources and generation of a fleet's control plane, with FirstMap,
// Layout and Keys.
//
// Cleanup (Fleet.Close, registered by NewFleet) stops the clients' Run, the
// cells and their connections, and ends the answers that Blackhole and Slow
// hold back, leaving no goroutine behind.
package celltest
