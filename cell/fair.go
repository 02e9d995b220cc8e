package cell

import (
	"cmp"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"time"
)

// Fairness caps each key's share of a cell at its Guard, so that one tenant
// cannot take all of its cell's capacity: every key has a token bucket of
// Rate requests a second and Burst requests at once, and a request over its
// key's share is answered 429 Too Many Requests with Retry-After (the time
// until the key has a token again) and Cell-Refused: throttled, while every
// other key is served.
//
// Memory is bounded whatever the number of keys: the Guard tracks at most
// MaxKeys keys (about 120 bytes each plus the key). A key not tracked starts
// with a full bucket, so a full bucket can be forgotten without changing any
// answer; when the table is full, a new key takes the place of the fullest of
// a few tracked keys (the least busy among equally full ones). A key over its
// share has an empty bucket and a high rate, and is not forgotten while most
// tracked keys are under theirs; past that, a forgotten key may get up to
// Burst more requests through each time it is forgotten.
type Fairness struct {
	// Rate is each key's share, in requests a second. Default 0: no cap
	// (the Guard does not track keys).
	Rate float64
	// Burst is how many requests a key may make at once. Default Rate (one
	// second's worth), at least 1.
	Burst float64
	// MaxKeys is the number of keys tracked at once. Default 10,000.
	MaxKeys int
	// Limit, when set, gives a key its own rate and burst (a dedicated or a
	// premium tenant); ok false, or a rate that is not a finite number
	// above 0, means the defaults. It is called when the key enters the
	// table, never under a lock, not on every request, and must be safe
	// for concurrent use. To take the shares from the map, read the cell's
	// labels in the map in force, for example with labels
	// "share.<key>" = "<rate>":
	//
	//	Limit: func(key string) (float64, float64, bool) {
	//		c, ok := follower.Map().Cell(self)
	//		r, err := strconv.ParseFloat(c.Labels["share."+key], 64)
	//		return r, r, ok && err == nil
	//	}
	//
	// A key keeps the share it entered with until it leaves the table, so
	// a new share applies to the keys entered after the map changed.
	Limit func(key string) (rate, burst float64, ok bool)
}

// KeyRate is a key's request rate at a Guard, as reported by Guard.Heavy.
type KeyRate struct {
	Key string
	// Rate is the key's recent request rate, in requests a second, throttled
	// requests included (an exponentially weighted average over about
	// 10 s).
	Rate float64
	// Throttled is the number of the key's requests answered 429 since it was
	// last entered in the table.
	Throttled uint64
	// Share is the key's share, in requests a second (Fairness.Rate, or
	// its own from Fairness.Limit): Rate/Share is how full the key's
	// share is, for alerting before it is throttled (AWS's guidance: at
	// 80 %).
	Share float64
}

const (
	fairShards  = 16
	fairSamples = 8                // tracked keys compared when one must go
	fairTau     = 10 * time.Second // the rate estimate's time constant
)

// A fairTable holds the token buckets of the keys a Guard tracks, split in
// shards by the key's hash so that requests of different keys rarely wait
// for one lock.
type fairTable struct {
	rate, burst float64
	limit       func(string) (float64, float64, bool)
	perShard    int
	seed        maphash.Seed
	shards      [fairShards]fairShard
}

type fairShard struct {
	mu    sync.Mutex
	index map[string]int32
	keys  []fairKey
	rng   uint64 // xorshift state for eviction samples
	_     [40]byte
}

type fairKey struct {
	key         string
	rate, burst float64
	tokens      float64
	last        int64   // ns, the bucket's last refill
	ewma        float64 // requests a second
	seen        int64   // ns, the estimate's last update
	throttled   uint64
}

func (f Fairness) normalize() (*fairTable, error) {
	bad := func(field string, v any, why string) (*fairTable, error) {
		return nil, &ConfigError{Field: "GuardConfig.Fairness." + field, Value: v, Reason: why}
	}
	switch r := f.Rate; {
	case math.IsNaN(r) || math.IsInf(r, 0) || r < 0:
		return bad("Rate", r, "must be a finite number ≥ 0 (0 is no cap)")
	case r == 0:
		return nil, nil
	}
	t := &fairTable{rate: f.Rate, burst: max(f.Rate, 1), limit: f.Limit, seed: maphash.MakeSeed()}
	switch b := f.Burst; {
	case math.IsNaN(b) || math.IsInf(b, 0) || b < 0:
		return bad("Burst", b, "must be a finite number ≥ 0 (0 is the default)")
	case b > 0 && b < 1:
		return bad("Burst", b, "must be at least 1")
	case b > 0:
		t.burst = b
	}
	n := 10000
	switch {
	case f.MaxKeys < 0:
		return bad("MaxKeys", f.MaxKeys, "must not be negative")
	case f.MaxKeys > 0:
		n = f.MaxKeys
	}
	t.perShard = max(1, (n+fairShards-1)/fairShards)
	for i := range t.shards {
		t.shards[i].index = make(map[string]int32)
		t.shards[i].rng = uint64(i)*0x9e3779b97f4a7c15 | 1
	}
	return t, nil
}

// allow takes a token of key at now (ns), or returns how long until the key
// has one.
func (t *fairTable) allow(key string, now int64) (bool, time.Duration) {
	sh := &t.shards[maphash.String(t.seed, key)%fairShards]
	sh.mu.Lock()
	i, ok := sh.index[key]
	if !ok && t.limit != nil {
		// A key's own share comes from the user's function, never called
		// under the shard's lock; another request of the key may enter it
		// meanwhile, and then its entry stands.
		sh.mu.Unlock()
		rate, burst := t.share(key)
		sh.mu.Lock()
		if i, ok = sh.index[key]; !ok {
			i = sh.enter(t, key, rate, burst, now)
		}
	} else if !ok {
		i = sh.enter(t, key, t.rate, t.burst, now)
	}
	k := &sh.keys[i]
	k.observe(now)
	if el := now - k.last; el > 0 {
		k.tokens = min(k.burst, k.tokens+float64(el)*k.rate/1e9)
		k.last = now
	}
	if k.tokens >= 1 {
		k.tokens--
		sh.mu.Unlock()
		return true, 0
	}
	k.throttled++
	wait := time.Duration(math.Ceil((1 - k.tokens) / k.rate * 1e9))
	sh.mu.Unlock()
	return false, wait
}

// share returns key's rate and burst: Fairness.Limit's when it gives a
// valid one (a finite rate > 0, a finite burst; a burst under 1 is 1),
// else the defaults.
func (t *fairTable) share(key string) (float64, float64) {
	if r, b, ok := t.limit(key); ok && r > 0 && !math.IsInf(r, 0) && !math.IsNaN(r) && !math.IsNaN(b) && !math.IsInf(b, 0) {
		return r, max(b, 1)
	}
	return t.rate, t.burst
}

// enter enters key with its share and a full bucket, in place of the
// fullest of a few others when the shard is full, and returns its index.
func (sh *fairShard) enter(t *fairTable, key string, rate, burst float64, now int64) int32 {
	e := fairKey{key: key, rate: rate, burst: burst, tokens: burst, last: now, seen: now}
	if len(sh.keys) < t.perShard {
		sh.index[key] = int32(len(sh.keys))
		sh.keys = append(sh.keys, e)
		return int32(len(sh.keys) - 1)
	}
	// The victim is the fullest bucket of fairSamples consecutive entries
	// from a random place (entries sit in the order they came, so these are
	// a random few); among equally full ones, the least busy.
	sh.rng ^= sh.rng << 13
	sh.rng ^= sh.rng >> 7
	sh.rng ^= sh.rng << 17
	start := int(sh.rng % uint64(len(sh.keys)))
	victim, best := 0, math.Inf(-1)
	for j := range min(fairSamples, len(sh.keys)) {
		i := (start + j) % len(sh.keys)
		v := &sh.keys[i]
		full := min(v.burst, v.tokens+float64(now-v.last)*v.rate/1e9) / v.burst
		if score := full - v.decayed(now)/v.rate; score > best {
			victim, best = i, score
		}
	}
	delete(sh.index, sh.keys[victim].key)
	sh.index[key] = int32(victim)
	sh.keys[victim] = e
	return int32(victim)
}

// observe counts a request in the key's rate estimate.
func (k *fairKey) observe(now int64) {
	k.ewma = k.decayed(now) + 1/fairTau.Seconds()
	k.seen = now
}

// decayed returns the rate estimate at now, without a new request.
func (k *fairKey) decayed(now int64) float64 {
	if el := now - k.seen; el > 0 {
		return k.ewma * math.Exp(-float64(el)/float64(fairTau))
	}
	return k.ewma
}

// heavy returns the n keys with the highest rates at now, highest first.
func (t *fairTable) heavy(n int, now int64) []KeyRate {
	if n <= 0 {
		return nil
	}
	var top []KeyRate
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for j := range sh.keys {
			k := &sh.keys[j]
			r := KeyRate{Key: k.key, Rate: k.decayed(now), Throttled: k.throttled, Share: k.rate}
			if len(top) == n && r.Rate <= top[n-1].Rate {
				continue
			}
			at, _ := slices.BinarySearchFunc(top, r.Rate, func(e KeyRate, rate float64) int { return cmp.Compare(rate, e.Rate) })
			top = slices.Insert(top, at, r)
			if len(top) > n {
				top = top[:n]
			}
		}
		sh.mu.Unlock()
	}
	return top
}
