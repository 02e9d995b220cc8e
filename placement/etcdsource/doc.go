// Package etcdsource keeps the placement map in etcd.
package etcdsource
