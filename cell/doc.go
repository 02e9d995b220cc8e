// Package cell is cellkit's cell-aware client: it routes a service's own
// requests to the cell that owns their key, with no router in the path.
//
// A Client runs on a source.Follower, which owns the map's life cycle
// (last-known-good file, the version gate, saves, reports) and may be
// shared with other clients and the cell side of the process; or it builds
// one from Config.Source and runs it in Run. Before each map goes live the
// client builds its routing table from it and syncs its breakers. Resolve
// answers where a key goes in tens of nanoseconds; Do calls a function at
// the right cell, through that cell's circuit breaker (package breaker) and
// bulkhead, failing over only where the operation's Class allows it.
// Transport does the same for HTTP clients, and Guard is the cell side: it
// rejects the keys a cell does not own with replies that send a client to
// the owner, and on a Follower it holds each request's judgment until the
// request returns, so that the Follower confirms a version only once no
// request judged on an older map is still running (see source.Follower).
//
// The package does not make the calls: fn does, or the base RoundTripper.
// It does not decide placement (package placement does), nor keep breaker
// state (package breaker does).
//
// # Concurrency
//
// A Client is safe for concurrent use. NewClient starts nothing; the map's
// life cycle runs in its Follower's Run, which the caller owns (the client's
// own Run when it built the Follower). The breakers' open times end on
// timers (time.AfterFunc), so a breaker's state change, and the
// Observer.Breaker hook and Breakers.OnEvent that hear it, may run on a
// timer's goroutine; a stopped timer leaves nothing behind. The request path
// takes no lock: it reads an immutable routing table built when the map is
// swapped in (per cell: its state, its preferred endpoints, its counters) and
// writes only per-cell counters, each on cache lines of its own. Resolve at
// shard size 1 writes nothing at all, so it scales with cores. Do returns only
// once every attempt it started has returned; hedges run on goroutines of
// their own, every other attempt in the caller's goroutine.
//
// # Outcomes: who is to blame
//
// Every attempt reports to its cell's breaker. The caller's own cancellation
// or deadline never counts against a cell, judged from the caller's context
// rather than by matching error values (a cell cannot make its failure look
// like the caller's by returning context.Canceled). An attempt that ran out
// of its own deadline is the cell's failure. A moved or refused reply is not
// a failure: the cell answered.
//
// By default an attempt's deadline is the caller's remaining time divided by
// the attempts still allowed, so a cell that accepts connections and never
// answers costs its tenants one share of their deadline, after which they
// fail over, and it fails its attempts, so its breaker opens. A call with one
// attempt left (a Write, a Read outside migrations) runs under the caller's
// deadline: splitting it would shorten every slow call for no gain. Its
// silent cell is then judged only through Config.AttemptTimeout, which a
// service with stateful writes should set to its latency objective.
//
// # Moved replies and map versions
//
// A cell answers a key it does not own with the owner and the version of its
// map (HTTP 421 through Guard, or a *MovedError). The client follows such a
// reply at most once per call: it waits, at most until the caller's deadline,
// for a map at least that new (asking the source to poll at once; the wait is
// shared by every caller through singleflight, and runs detached from each of
// them), and retries at the cell the newer map names. A reply from a map
// older than the client's, or naming a cell already tried, is returned, not
// followed: a loop is impossible.
//
// A Guard whose map is older than the request's (Cell-Map-Version) never
// answers with a 421: the owner it would name comes from an older map than
// the client's, which the client would rightly refuse to follow, and the cell
// cannot accept either, because it does not yet know that it owns the key (a
// flipped migration's new owner must not take writes before its map says it
// is authoritative). The only safe answer is 503 with Retry-After: the cell
// catches up within a poll interval and the retry succeeds. For the same
// reason a write while a migration is frozen gets 503 (the key cannot be
// written anywhere yet), not 421.
//
// # Retry budget
//
// Failovers and hedges spend a retry budget shared by all calls of the
// client (Finagle's rule: 20% of the calls of the last 10 s plus 10 per
// second), so that a fleet-wide outage cannot multiply the load on the cells
// left. The one redirect of a moved reply is not charged: it is bounded to
// one per call and is routing, not a retry. The budget counts in time slots
// sharded by key, so that the success path pays one uncontended atomic add.
//
// # Endpoints
//
// A cell's endpoints in the client's zone are preferred (an endpoint without
// a zone is in its cell's); when none is, all are used. Among the preferred,
// the key's bucket, mixed, picks one, so a key always uses the same endpoint
// and keys spread evenly; a map with fewer than 1024 buckets hashes the key
// instead. The choice is made per map at swap time, except the final pick.
// Failing over between the endpoints of one cell is left to the transport.
//
// # Costs
//
// Resolve at shard size 1 does not allocate; above, the shard is allocated
// unless AppendResolve is given room. Do on success allocates nothing,
// unless an attempt needs a deadline earlier than the caller's (a Stateless
// call that may fail over, under a caller's deadline, or any call with
// Config.AttemptTimeout), which costs a context. Hedged calls allocate their
// attempts and goroutines.
package cell
