package cell

import (
	"net/http"
	"strconv"
	"time"

	"github.com/cellkit/cellkit/placement/source"
)

// GuardConfig configures a Guard.
type GuardConfig struct {
	// Cell is the ID of the cell the Guard protects; required.
	Cell string
	// Map holds the cell's current map; required: a *source.Follower (then
	// the Guard counts each request, for the Follower's confirmations; see
	// source.Follower.Judge), a *Client, or source.Fixed. It is read once
	// per request and may hold nil before the cell has a map, when every
	// request is refused with 503.
	Map source.Holder
	// Key finds a request's key; required.
	Key KeyFunc
	// Stateless says the service keeps no per-key state: the cell accepts
	// every key whose shuffle shard it is in (failover traffic is
	// legitimate there), reads and writes alike, migrations or not.
	Stateless bool
	// RetryAfter is the Retry-After of 503 replies, rounded up to whole
	// seconds. Default 1 s.
	RetryAfter time.Duration
	// Next serves the requests the cell accepts; required.
	Next http.Handler
	// Fairness caps each key's share of the cell: a request the cell owns
	// whose key is over its share gets 429 with Retry-After and
	// Cell-Refused: throttled (a *ThrottledError at the client, which
	// neither fails over nor counts against the cell), and every other key
	// is served. Default: no cap. See Fairness and Guard.Heavy.
	Fairness Fairness
}

// A Guard is the cell side of the protocol: an http.Handler that passes to
// Next only the requests whose key the cell owns in its map, and answers the
// others so that a cell-aware client finds the owner:
//
//   - a request without a key (Key reports false) gets 400, and so does one
//     with several values of the header KeyFromHeader reads, which client
//     and cell could each read differently;
//   - a request the cell does not own (Map.Owns for GET, HEAD and OPTIONS,
//     Map.OwnsWrite for other methods; shard membership when Stateless)
//     gets 421 Misdirected Request with Cell-Owner (the owner in the cell's
//     map: the first read cell, or the home) and Cell-Map-Version;
//   - a write while the key's migration is frozen gets 503 with
//     Retry-After and Cell-Refused: frozen;
//   - a request not owned whose Cell-Map-Version is newer than the cell's map
//     gets 503 with Retry-After and Cell-Refused: behind, never a 421 (see the
//     package documentation);
//   - a malformed Cell-Map-Version gets 400;
//   - a request the cell owns whose key is over its share
//     (GuardConfig.Fairness) gets 429 with Retry-After and Cell-Refused:
//     throttled.
//
// Every reply of the Guard carries Cell-Id. A Guard is safe for concurrent
// use.
type Guard struct {
	cfg   GuardConfig
	fair  *fairTable // nil without Fairness
	epoch time.Time  // the origin of fair's clock
}

// NewGuard returns a Guard, or a *ConfigError naming a missing field.
func NewGuard(cfg GuardConfig) (*Guard, error) {
	switch {
	case cfg.Cell == "":
		return nil, &ConfigError{Field: "GuardConfig.Cell", Value: `""`, Reason: "is required"}
	case cfg.Map == nil:
		return nil, &ConfigError{Field: "GuardConfig.Map", Value: nil, Reason: "is required"}
	case cfg.Key == nil:
		return nil, &ConfigError{Field: "GuardConfig.Key", Value: nil, Reason: "is required"}
	case cfg.Next == nil:
		return nil, &ConfigError{Field: "GuardConfig.Next", Value: nil, Reason: "is required"}
	case cfg.RetryAfter < 0:
		return nil, &ConfigError{Field: "GuardConfig.RetryAfter", Value: cfg.RetryAfter, Reason: "must not be negative"}
	case cfg.RetryAfter == 0:
		cfg.RetryAfter = time.Second
	}
	fair, err := cfg.Fairness.normalize()
	if err != nil {
		return nil, err
	}
	g := &Guard{cfg: cfg, fair: fair, epoch: time.Now()}
	return g, nil
}

// Heavy returns the n keys with the highest request rates at the cell,
// highest first (throttled requests included), with how many of their
// requests were throttled: who is flooding the cell. It is nil without
// GuardConfig.Fairness, which tracks the keys (at most Fairness.MaxKeys; a
// key forgotten to make room has a full bucket and a low rate). It locks
// each of the table's shards in turn, briefly: it is for an operator's
// page or a metric scraped every few seconds, not for every request.
func (g *Guard) Heavy(n int) []KeyRate {
	if g == nil || g.fair == nil {
		return nil
	}
	return g.fair.heavy(n, int64(time.Since(g.epoch)))
}

func isRead(method string) bool {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cell := g.cfg.Cell
	w.Header().Set(HeaderCell, cell)
	// The request runs judged on m until it returns: a Follower does not
	// confirm a newer version meanwhile.
	j := source.JudgeOn(g.cfg.Map)
	defer j.Done()
	m := j.Map()
	if m == nil {
		WriteRefused(w, ErrCellBehind, g.cfg.RetryAfter, 0)
		return
	}
	key, ok := g.cfg.Key(r)
	if !ok || key == "" {
		http.Error(w, "cell: the request has no key, or more than one", http.StatusBadRequest)
		return
	}
	var theirs uint64
	if v := r.Header.Get(HeaderMapVersion); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			http.Error(w, "cell: malformed "+HeaderMapVersion+" header", http.StatusBadRequest)
			return
		}
		theirs = n
	}
	switch v := Judge(m, cell, key, !isRead(r.Method), g.cfg.Stateless, theirs); {
	case v.Owned:
		if g.fair != nil {
			// Only the requests the cell serves spend their key's
			// tokens: a 421 or 503 costs the cell nothing.
			if ok, wait := g.fair.allow(key, int64(time.Since(g.epoch))); !ok {
				WriteThrottled(w, wait)
				return
			}
		}
		g.cfg.Next.ServeHTTP(w, r)
	case v.Refused != nil:
		WriteRefused(w, v.Refused, g.cfg.RetryAfter, v.Version)
	default:
		WriteMoved(w, v.Owner, v.Version)
	}
}
