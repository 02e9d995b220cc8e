package cell

import (
	"net/http"
	"strconv"
	"time"

	"github.com/cellkit/cellkit/placement"
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
}

// A Guard is the cell side of the protocol: an http.Handler that passes to
// Next only the requests whose key the cell owns in its map, and answers the
// others so that a cell-aware client finds the owner:
//
//   - a request without a key (Key reports false) gets 400;
//   - a request the cell does not own (Map.Owns for GET, HEAD and OPTIONS,
//     Map.OwnsWrite for other methods; shard membership when Stateless)
//     gets 421 Misdirected Request with Cell-Owner (the owner in the cell's
//     map: the first read cell, or the home) and Cell-Map-Version;
//   - a write while the key's migration is frozen gets 503 with
//     Retry-After and Cell-Refused: frozen;
//   - a request not owned whose Cell-Map-Version is newer than the cell's map
//     gets 503 with Retry-After and Cell-Refused: behind, never a 421 (see the
//     package documentation);
//   - a malformed Cell-Map-Version gets 400.
//
// Every reply of the Guard carries Cell-Id. A Guard is safe for concurrent
// use.
type Guard struct {
	cfg        GuardConfig
	judge      judger // cfg.Map, when it counts requests
	retryAfter string
}

// A judger counts the requests judged on each map: a *source.Follower.
type judger interface{ Judge() source.Judgment }

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
	secs := (cfg.RetryAfter + time.Second - 1) / time.Second
	g := &Guard{cfg: cfg, retryAfter: strconv.FormatInt(int64(secs), 10)}
	g.judge, _ = cfg.Map.(judger)
	return g, nil
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
	var m *placement.Map
	if g.judge != nil {
		// The request runs judged on m until it returns: the Follower
		// does not confirm a newer version meanwhile.
		j := g.judge.Judge()
		defer j.Done()
		m = j.Map()
	} else {
		m = g.cfg.Map.Map()
	}
	if m == nil {
		g.refuse(w, refusedBehind, "cell: this cell has no map yet")
		return
	}
	key, ok := g.cfg.Key(r)
	if !ok || key == "" {
		http.Error(w, "cell: the request has no key", http.StatusBadRequest)
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
	read := isRead(r.Method)
	var owned bool
	switch {
	case g.cfg.Stateless:
		owned = m.OwnsShard(cell, key)
	case read:
		owned = m.Owns(cell, key)
	default:
		owned = m.OwnsWrite(cell, key)
	}
	if owned {
		g.cfg.Next.ServeHTTP(w, r)
		return
	}
	var buf [8]string
	a, _ := m.AppendLocate(buf[:0], key)
	switch {
	case !g.cfg.Stateless && !read && !a.Writable:
		g.refuse(w, refusedFrozen, "cell: writes of this key are frozen by a migration")
		return
	case theirs > m.Version():
		g.refuse(w, refusedBehind, "cell: this cell's map is older than the request's")
		return
	}
	owner := a.Cell
	if read && len(a.Read) > 0 {
		owner = a.Read[0]
	}
	h := w.Header()
	h.Set(HeaderOwner, owner)
	h.Set(HeaderMapVersion, strconv.FormatUint(m.Version(), 10))
	http.Error(w, "cell: key is owned by cell "+strconv.Quote(owner), http.StatusMisdirectedRequest)
}

func (g *Guard) refuse(w http.ResponseWriter, why, msg string) {
	h := w.Header()
	h.Set("Retry-After", g.retryAfter)
	h.Set(HeaderRefused, why)
	http.Error(w, msg, http.StatusServiceUnavailable)
}
