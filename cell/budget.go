package cell

import (
	"sync"
	"sync/atomic"
	"time"
)

// The retry budget counts deposits (one per call) and withdrawals (one per
// extra attempt) in time slots: budgetSlots slots of TTL/budgetSlots each,
// reused round-robin, so that both expire after TTL without a timer or a
// queue. A call pays one atomic add into a slot of one of budgetShards
// shards, picked by the key's bucket, so that concurrent calls for different
// keys write different cache lines. Withdrawals are rare (a failover, a
// hedge) and take a lock, which makes them exact; deposits may lose a count
// when a slot turns over under a concurrent add, an error of one call in a
// slot's worth.
const (
	budgetSlots  = 10
	budgetShards = 8
)

type budget struct {
	slot    int64   // nanoseconds per slot
	ratio   float64 // tokens per deposit
	reserve float64 // PerSecond × TTL
	shards  [budgetShards]depositShard

	mu        sync.Mutex
	withdrawn [budgetSlots]struct{ tick, n int64 }
	total     atomic.Uint64 // withdrawals ever
	refused   atomic.Uint64 // withdrawals refused ever
}

// depositShard holds one slot word per time slot: the slot's tick in the
// high 32 bits and its count in the low 32. It fills a cache line of its own.
type depositShard struct {
	slots [budgetSlots]atomic.Uint64
	_     [128 - budgetSlots*8%128]byte
}

func newBudget(b Budget) *budget {
	return &budget{
		slot:    max(int64(b.TTL)/budgetSlots, 1),
		ratio:   b.Ratio,
		reserve: b.PerSecond * b.TTL.Seconds(),
	}
}

func (b *budget) tick(now time.Duration) int64 { return int64(now) / b.slot }

// deposit counts one call at now (time since the client's epoch).
func (b *budget) deposit(now time.Duration, shard int) {
	t := uint64(uint32(b.tick(now)))
	w := &b.shards[shard&(budgetShards-1)].slots[t%budgetSlots]
	for {
		v := w.Load()
		if v>>32 == t {
			w.Add(1)
			return
		}
		if w.CompareAndSwap(v, t<<32|1) {
			return
		}
	}
}

// balance returns the tokens left at tick t; b.mu must be held.
func (b *budget) balanceLocked(t int64) float64 {
	var deposits uint64
	for i := range b.shards {
		for j := range b.shards[i].slots {
			v := b.shards[i].slots[j].Load()
			if age := uint32(t) - uint32(v>>32); age < budgetSlots {
				deposits += v & 0xffffffff
			}
		}
	}
	var withdrawn int64
	for _, w := range b.withdrawn {
		if t-w.tick < budgetSlots {
			withdrawn += w.n
		}
	}
	return b.ratio*float64(deposits) + b.reserve - float64(withdrawn)
}

// withdraw takes a token for an extra attempt at now, if one is left.
func (b *budget) withdraw(now time.Duration) bool {
	t := b.tick(now)
	b.mu.Lock()
	ok := b.balanceLocked(t) >= 1
	if ok {
		w := &b.withdrawn[t%budgetSlots]
		if w.tick != t {
			w.tick, w.n = t, 0
		}
		w.n++
	}
	b.mu.Unlock()
	if ok {
		b.total.Add(1)
	} else {
		b.refused.Add(1)
	}
	return ok
}

// tokens returns the balance at now.
func (b *budget) tokens(now time.Duration) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.balanceLocked(b.tick(now))
}
