// Package bench compares package ring with the consistent-hashing libraries
// Go services use in its place, in one run on one machine: the cost of an
// owner lookup including the key hash (peers_test.go), and the balance and
// movement each one gives (quality_test.go). It is a separate module so that
// the peers never enter cellkit's own go.mod; it has no API. README.md holds
// the commands and the measured results.
package bench
