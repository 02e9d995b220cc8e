package cell

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"
)

func mustFair(t *testing.T, f Fairness) *fairTable {
	t.Helper()
	ft, err := f.normalize()
	if err != nil || ft == nil {
		t.Fatalf("Fairness%+v.normalize() = %v, %v", f, ft, err)
	}
	return ft
}

func TestFairnessConfig(t *testing.T) {
	for _, c := range []struct {
		f     Fairness
		field string
	}{
		{Fairness{Rate: -1}, "Rate"},
		{Fairness{Rate: math.NaN()}, "Rate"},
		{Fairness{Rate: math.Inf(1)}, "Rate"},
		{Fairness{Rate: 1, Burst: 0.5}, "Burst"},
		{Fairness{Rate: 1, Burst: math.Inf(1)}, "Burst"},
		{Fairness{Rate: 1, MaxKeys: -1}, "MaxKeys"},
	} {
		_, err := c.f.normalize()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "GuardConfig.Fairness."+c.field {
			t.Errorf("Fairness%+v.normalize() = %v; want a *ConfigError naming %s", c.f, err, c.field)
		}
	}
	if ft, err := (Fairness{}).normalize(); ft != nil || err != nil {
		t.Errorf("Fairness{} = %v, %v; want no table", ft, err)
	}
	ft := mustFair(t, Fairness{Rate: 0.5})
	if ft.burst != 1 || ft.perShard*fairShards < 10000 {
		t.Errorf("Fairness{Rate: 0.5}: burst %v, room for %d keys; want 1 and ≥ 10,000", ft.burst, ft.perShard*fairShards)
	}
}

// A key gets Burst at once, then Rate a second; the wait it is told is the
// time until its next token.
func TestFairnessBucket(t *testing.T) {
	ft := mustFair(t, Fairness{Rate: 10, Burst: 5})
	now := int64(0)
	for i := range 5 {
		if ok, _ := ft.allow("k", now); !ok {
			t.Fatalf("request %d of a burst of 5 refused", i)
		}
	}
	ok, wait := ft.allow("k", now)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("6th request = %v, wait %v; want refused, 100ms", ok, wait)
	}
	now += int64(100 * time.Millisecond)
	if ok, _ := ft.allow("k", now); !ok {
		t.Fatalf("request after the wait refused")
	}
	// Over a long run a key gets its rate and no more.
	got := 0
	for i := range 10000 { // 10 s at 1 kHz
		if ok, _ := ft.allow("k", now+int64(i)*int64(time.Millisecond)); ok {
			got++
		}
	}
	if got < 99 || got > 101 {
		t.Errorf("a key offering 1,000/s for 10 s at a share of 10/s got %d; want ≈ 100", got)
	}
}

// One key floods at 10× its share among quiet keys: it alone is throttled.
func TestFairnessFlood(t *testing.T) {
	ft := mustFair(t, Fairness{Rate: 100, MaxKeys: 64})
	var floodOK, floodN, quietOK, quietN int
	for ms := range 10000 {
		now := int64(ms) * int64(time.Millisecond)
		for range 1 { // the flood: 1,000 a second
			floodN++
			if ok, _ := ft.allow("flood", now); ok {
				floodOK++
			}
		}
		if ms%20 == 0 { // 50 quiet keys at 50 a second each, in turn
			for q := range 50 {
				quietN++
				if ok, _ := ft.allow(fmt.Sprintf("quiet-%d", q), now); ok {
					quietOK++
				}
			}
		}
	}
	if r := float64(floodOK) / 10; r < 95 || r > 115 {
		t.Errorf("the flooding key got %.0f/s; want ≈ its share of 100/s", r)
	}
	if quietOK != quietN {
		t.Errorf("quiet keys: %d of %d served; want all", quietOK, quietN)
	}
	top := ft.heavy(3, 10*int64(time.Second))
	if len(top) != 3 || top[0].Key != "flood" || top[0].Rate < 550 || top[0].Throttled == 0 {
		t.Fatalf("heavy(3) = %+v; want flood first (1,000/s for one time constant reads ≈ 632/s) with throttled requests", top)
	}
	if top[1].Rate > top[0].Rate || top[1].Rate > 40 {
		t.Errorf("heavy(3) = %+v; want the rest at ≈ 50/s (≈ 32 after one time constant), in order", top)
	}
}

// Memory stays bounded under a stream of distinct keys, and a flooding key
// keeps its empty bucket while the table churns.
func TestFairnessBounded(t *testing.T) {
	ft := mustFair(t, Fairness{Rate: 1, Burst: 1, MaxKeys: 1000})
	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	flooded := 0
	for i := range 200000 {
		now := int64(i) * int64(time.Microsecond)
		ft.allow(fmt.Sprintf("tenant-%d", i), now)
		if ok, _ := ft.allow("flood", now); ok {
			flooded++
		}
	}
	n := 0
	for i := range ft.shards {
		n += len(ft.shards[i].keys)
		if len(ft.shards[i].keys) != len(ft.shards[i].index) {
			t.Fatalf("shard %d: %d keys, %d in its index", i, len(ft.shards[i].keys), len(ft.shards[i].index))
		}
	}
	if n > ft.perShard*fairShards || ft.perShard*fairShards > 1000+fairShards {
		t.Errorf("%d keys tracked; want at most about MaxKeys (1,000)", n)
	}
	var ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	if grew := int64(ms1.HeapAlloc) - int64(ms0.HeapAlloc); grew > 1<<20 {
		t.Errorf("heap grew by %d bytes for 1,000 tracked keys", grew)
	}
	// 0.2 s at a share of 1/s with a burst of 1: about 1 request; eviction
	// by fullest keeps the flooder's empty bucket.
	if flooded > 3 {
		t.Errorf("the flooding key got %d requests through in 0.2 s at 1/s while 200,000 keys passed", flooded)
	}
}

func TestFairnessOverride(t *testing.T) {
	ft := mustFair(t, Fairness{Rate: 1, Burst: 1, Limit: func(key string) (float64, float64, bool) {
		if key == "premium" {
			return 100, 100, true
		}
		return 0, 0, false
	}})
	got := map[string]int{}
	for _, k := range []string{"premium", "basic"} {
		for range 200 {
			if ok, _ := ft.allow(k, 0); ok {
				got[k]++
			}
		}
	}
	if got["premium"] != 100 || got["basic"] != 1 {
		t.Errorf("served %v; want premium 100 (its burst), basic 1", got)
	}
}

func TestFairnessAllocs(t *testing.T) {
	ft := mustFair(t, Fairness{Rate: 1000})
	ft.allow("tenant-1", 0)
	if n := testing.AllocsPerRun(1000, func() { ft.allow("tenant-1", 1) }); n != 0 {
		t.Errorf("allow of a tracked key allocates %v times", n)
	}
}
