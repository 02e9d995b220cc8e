package bench

import "github.com/cellkit/cellkit/placement"

// locateShard returns the shard of key in m, appended to dst[:0], without
// allocating when cap(dst) ≥ m's shard size. It is the one place that names
// placement's allocation-free Locate, which is becoming
// AppendLocate(dst, key) (Assignment, error) with the shard appended to dst.
func locateShard(m *placement.Map, dst []string, key string) ([]string, error) {
	a, err := m.LocateWith(key, dst)
	return a.Shard, err
}
