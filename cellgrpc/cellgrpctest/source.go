package cellgrpctest

import "github.com/cellkit/cellkit/cell/celltest"

// A Source is a placement source on the fleet's control plane; each client
// needs its own (Fleet.Source). It is celltest's: the fleets of both
// transports deliver maps by one rule (see celltest.Source).
type Source = celltest.Source
