// Command failuretest prints the blast radius of one failed cell, measured
// with package celltest the way failure_test.go asserts it in a unit test:
// at shard size 1 the failed cell's tenants, and only they, get errors; at
// shard size 2 stateless calls fail over and nobody does.
//
// The tests in failure_test.go are the point of this folder: copy them into
// a service's own tests.
package main
