package celltest

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"github.com/cellkit/cellkit/cell"
)

// Overload is a cell's overload model (Cell.Overload): the cell serves
// Capacity requests at once at Base latency; beyond that they share it, so
// that a request arriving with n requests in the cell (itself included)
// takes Base × n / Capacity; past Capacity + Queue requests in the cell it
// sheds the new ones with 503 and Retry-After (cell.WriteOverloaded): the
// pushback a cell-aware client backs off. The model applies to the requests
// the cell's guard accepts, after the faults of the other knobs: a request
// the guard refuses or throttles costs the cell nothing.
type Overload struct {
	// Capacity is the number of requests the cell serves at once at Base
	// latency; 0 ends the model.
	Capacity int
	// Base is the latency of a request within Capacity; default 10 ms.
	Base time.Duration
	// Queue is how many requests beyond Capacity the cell holds before it
	// sheds; default Capacity. Negative: it never sheds.
	Queue int
	// RetryAfter is the Retry-After of a shed request; default 1 s.
	RetryAfter time.Duration
}

// KeyCount is what a cell saw of one key (Cell.Keys), since the fleet
// started or the last ResetKeys.
type KeyCount struct {
	Key string
	// Requests counts the key's requests that reached the cell's guard;
	// Served those the cell served; Throttled those the guard answered
	// 429 for the key's share (cell.GuardConfig.Fairness); Shed those the
	// overload model shed.
	Requests, Served, Throttled, Shed uint64
}

// Overload sets the cell's overload model; Overload(Overload{}) ends it.
// Requests already in the cell keep the latency they were given.
func (c *Cell) Overload(o Overload) {
	if o.Base <= 0 {
		o.Base = 10 * time.Millisecond
	}
	if o.Queue == 0 {
		o.Queue = o.Capacity
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	c.set(func() { c.overload = o })
}

// InCell returns the number of requests the overload model is serving now.
func (c *Cell) InCell() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inCell
}

// Keys returns what the cell saw of each key, the most requests first (ties
// by key). Divided by the time since the fleet started or the last
// ResetKeys, the counts are the keys' request rates.
func (c *Cell) Keys() []KeyCount {
	c.mu.Lock()
	out := make([]KeyCount, 0, len(c.keys))
	for k, n := range c.keys {
		n.Key = k
		out = append(out, *n)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b KeyCount) int {
		if r := cmp.Compare(b.Requests, a.Requests); r != 0 {
			return r
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out
}

// ResetKeys clears the counts of Keys.
func (c *Cell) ResetKeys() { c.set(func() { c.keys = nil }) }

// Heavy returns the heaviest keys at the cell's guards (cell.Guard.Heavy),
// nil without Config.Fairness: the keys of Fleet.Call's requests, then
// those of HTTP requests (each kind has a guard of its own).
func (c *Cell) Heavy(n int) []cell.KeyRate {
	return append(c.callG.Heavy(n), c.httpG.Heavy(n)...)
}

// set runs f under c.mu.
func (c *Cell) set(f func()) {
	c.mu.Lock()
	f()
	c.mu.Unlock()
}

// count adds to key's counts under c.mu.
func (c *Cell) countLocked(key string, add func(*KeyCount)) {
	if key == "" {
		return
	}
	if c.keys == nil {
		c.keys = make(map[string]*KeyCount)
	}
	n := c.keys[key]
	if n == nil {
		n = &KeyCount{}
		c.keys[key] = n
	}
	add(n)
}

// admitLoad runs the overload model for a request the guard accepted: it
// returns false when the request was shed (the reply is written), else it
// waits the request's latency (or until ctx ends, then false) and the
// caller serves it; done must be called after.
func (c *Cell) admitLoad(w http.ResponseWriter, r *http.Request, key string) (ok bool, done func()) {
	c.mu.Lock()
	o := c.overload
	if o.Capacity <= 0 {
		c.countLocked(key, func(n *KeyCount) { n.Served++ })
		c.mu.Unlock()
		return true, func() {}
	}
	n := c.inCell + 1
	if o.Queue >= 0 && n > o.Capacity+o.Queue {
		c.countLocked(key, func(n *KeyCount) { n.Shed++ })
		c.mu.Unlock()
		w.Header().Set(cell.HeaderCell, c.id)
		cell.WriteOverloaded(w, o.RetryAfter)
		return false, nil
	}
	c.inCell = n
	c.countLocked(key, func(n *KeyCount) { n.Served++ })
	c.mu.Unlock()
	done = func() {
		c.mu.Lock()
		c.inCell--
		c.mu.Unlock()
	}
	lat := o.Base
	if n > o.Capacity {
		lat = o.Base * time.Duration(n) / time.Duration(o.Capacity)
	}
	t := time.NewTimer(lat)
	defer t.Stop()
	select {
	case <-t.C:
		return true, done
	case <-r.Context().Done():
	case <-c.f.closing:
	}
	done()
	return false, nil
}

// statusWriter remembers the status of a reply.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
