package placement

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLocatePlaceAgrees: LocatePlace, CellID and AppendShard answer what
// AppendLocate answers, by index, on random maps (disabled cells, shard
// sizes 1 and 2, pins) with key migrations in every phase (fixed seeds).
func TestLocatePlaceAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 1))
	flipped, frozen := 0, 0
	for round := range 40 {
		m := randomMap(t, rng)
		b := NewBuilder(m)
		migrating := []string{"mig-0", "mig-1", "mig-2"}
		for i, key := range migrating {
			to := fmt.Sprintf("c%d", rng.IntN(3))
			if b.MigrateKey(key, to) != nil {
				continue // already there
			}
			for range i { // Copying, Frozen, Flipped
				if err := b.Advance(Migration{Key: key}); err != nil {
					t.Fatalf("round %d: Advance(%s): %v", round, key, err)
				}
			}
		}
		m = mustBuild(t, b)
		keys := migrating
		for i := range 500 {
			keys = append(keys, fmt.Sprintf("tenant-%d", i))
		}
		for _, key := range keys {
			a, aerr := m.AppendLocate(nil, key)
			p, perr := m.LocatePlace(key)
			read := []string{m.CellID(int(p.Home))}
			if p.Old >= 0 {
				read = append(read, m.CellID(int(p.Old)))
			}
			shard := m.AppendShard(nil, p)
			if p.Old >= 0 {
				flipped++
			}
			if !p.Writable {
				frozen++
			}
			if m.CellID(int(p.Home)) != a.Cell || !slices.Equal(read, a.Read) || !slices.Equal(shard, a.Shard) ||
				p.Bucket != a.Bucket || p.Reason != a.Reason || p.Phase != a.Phase || p.Writable != a.Writable ||
				errors.Is(perr, ErrCellDisabled) != errors.Is(aerr, ErrCellDisabled) || (perr == nil) != (aerr == nil) {
				t.Fatalf("round %d, key %q: LocatePlace = %+v (read %v, shard %v), %v; AppendLocate = %+v, %v",
					round, key, p, read, shard, perr, a, aerr)
			}
		}
	}
	if flipped == 0 || frozen == 0 {
		t.Fatalf("%d flipped and %d frozen keys placed; want some of each", flipped, frozen)
	}
	var m *Map
	if p, err := m.LocatePlace("k"); p.Home != -1 || !errors.Is(err, ErrNoMap) || m.CellID(0) != "" || m.AppendShard(nil, p) != nil {
		t.Fatalf("nil map: LocatePlace = %+v, %v", p, err)
	}
}
