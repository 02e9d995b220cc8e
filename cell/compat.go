package cell

// This file adapts the placement and breaker APIs of today to the ones agreed
// in BRIEF.md (AppendLocate, ErrNoKey, OwnsShard, placement/source). It is
// deleted once those land in main.

import (
	"errors"

	"github.com/cellkit/cellkit/placement"
)

// placementErrNoKey stands in for placement.ErrNoKey.
var placementErrNoKey = errors.New("placement: empty key")

// appendLocate stands in for m.AppendLocate(dst, key).
func appendLocate(m *placement.Map, dst []string, key string) (placement.Assignment, error) {
	if key == "" {
		return placement.Assignment{}, placementErrNoKey
	}
	// Today's LocateWith leaks its buffer to the heap; AppendLocate will
	// not. Until then, shards above size 1 allocate.
	if m.ShardSize() == 1 {
		return m.Locate(key)
	}
	return m.LocateWith(key, make([]string, 0, m.ShardSize()))
}

// ownsShard stands in for m.OwnsShard(cell, key).
func ownsShard(m *placement.Map, cell, key string) bool {
	var buf [16]string
	a, err := appendLocate(m, buf[:0], key)
	if a.Cell == cell && err == nil {
		return true
	}
	for _, c := range a.Shard {
		if c == cell {
			return true
		}
	}
	return m.Owns(cell, key)
}
