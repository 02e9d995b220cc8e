package bench

import "github.com/cellkit/cellkit/placement"

// locateShard returns the shard of key in m, appended to dst[:0], without
// allocating when cap(dst) leaves room for the read set and the shard.
func locateShard(m *placement.Map, dst []string, key string) ([]string, error) {
	a, err := m.AppendLocate(dst[:0], key)
	return a.Shard, err
}
