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
// Every attempt reports to its cell's breaker, judged by one rule,
// breaker.Blame, which the breaker package's ClassifyContext applies too:
//
//   - nil is a Success;
//   - the caller's own faults are never the cell's: a key or header no
//     request can carry (refused before any routing, with ErrBadKey or
//     ErrBadHeader), a request body that fails to read (ErrBody), a body
//     that cannot be sent again (ErrNotReplayable). Each is a *RequestError
//     matching ErrCaller, returned at once, with no failover;
//   - the caller's cancellation or deadline is Ignored, judged from the
//     caller's context rather than from the error (a cell cannot make its
//     failure look like the caller's by returning context.Canceled, and a
//     cancelled call's error, whatever it is, says nothing of the cell);
//   - except that an attempt the caller's deadline cut after it ran longer
//     than twice the cell's slowest success of the last 10 to 20 seconds
//     (any cut, when the cell answered nothing in that time; at most
//     breaker.Config.SlowCall when set) is a Failure: the cell is slower
//     than it is when healthy;
//   - an attempt that ran out of its own deadline is a Failure, and so is
//     fn's context.Canceled or DeadlineExceeded while the caller's context
//     is alive: the cell or the path to it ended the call;
//   - a moved or refused reply is not a failure: the cell answered;
//   - any other error is what Config.Classify says.
//
// A cell that accepts connections and never answers is thus found whatever
// the callers' deadlines: a Write's attempt runs under the caller's
// deadline (splitting a single attempt's time would shorten every slow call
// for no gain), and when that deadline cuts it after twice the cell's
// healthy latency it counts, so five such Writes in a row open the breaker
// (breaker.Config.ConsecutiveFailures) and the cell's tenants then fail
// fast. A healthy cell merely slower than some callers' deadlines is not
// opened: the callers that wait long enough keep its healthy latency known,
// and the impatient callers' cuts come before twice that. A call that may
// fail over has its attempts split the caller's remaining time, so a silent
// cell costs its tenants one share of their deadline; Config.AttemptTimeout
// bounds every attempt further.
//
// # The Transport's replies and errors
//
// Through the Transport the same condition has the same result whether the
// client or the cell noticed it. Refusals and moves are routing, so they
// are typed errors; a cell's own failure after every attempt failed is its
// last reply, per HTTP convention:
//
//	condition                                RoundTrip returns                   counts
//	no key, or several values of its header  error matching ErrNoKey             no (not sent)
//	key or header that no request can carry  *RequestError: ErrBadKey/BadHeader  no (not sent)
//	the request body fails to read           *RequestError: ErrBody              no
//	a redirect needs a body already sent     *RequestError: ErrNotReplayable     no
//	frozen, by the client's map or the cell  *RefusedError: ErrFrozen            no
//	the cell's map is behind (a Write)       *RefusedError: ErrCellBehind        no
//	moved, and not followed (see below)      error matching ErrMoved             no
//	no cell could be called                  *UnavailableError                   -
//	5xx or gRPC UNAVAILABLE, every attempt   the last reply, nil error           yes
//	no reply (transport error), last attempt error (*CallError)                  yes
//	any other reply (2xx, 3xx, 4xx)          the reply, nil error                no
//
// A refusal (frozen or behind) also asks the source for a newer map,
// coalesced like the wait of a moved reply, since the client's map may be
// the one behind; RefusedError.RetryAfter carries the cell's Retry-After.
// A Read or Stateless call refused by a cell whose map is behind tries the
// next cell it may use (during a flipped migration, the old owner), as
// routing: no failure is counted and no retry budget is spent.
//
// A gRPC reply (HTTP 200, Content-Type application/grpc…) is judged by its
// grpc-status: from its headers for a trailers-only reply, else from its
// trailers, for which the Transport reads the reply (up to 4 MiB) into
// memory before returning it; a longer reply is passed on unjudged.
// UNAVAILABLE (14) is the cell's failure and fails over where the class
// allows; every other code is the application's answer. Replies judged
// this way suit unary calls; a long-lived stream is read to its end first.
//
// Reply headers are checked before they are followed or quoted: a moved
// reply's Cell-Owner must be a valid cell ID (placement.CheckCellID) and
// its Cell-Map-Version a decimal version, or the reply is an ordinary 421;
// Retry-After is bounded to an hour. protocol.go's WriteMoved,
// WriteRefused and DecodeReply are the protocol's one encoder and decoder.
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
// # Observability
//
// Stats is a snapshot for metrics and health checks: the map in force, the
// retry budget, the counts of healthy cells (not disabled, breaker closed)
// and unhealthy ones, and per cell its counters, breaker state, zone, state,
// labels and two latency distributions (Latency), of its attempts judged a
// Success and a Failure. The histograms have fixed log buckets (four per
// doubling, 1 µs to 137 s; a quantile is within about 12%), cost two atomic
// adds per attempt of the latency the attempt measured anyway, and never
// allocate. Since fixed bounds add and subtract, SLIs come from snapshots:
// Stats.ByLabel, ByState, GroupBy and Split sum cells into Groups (error
// ratio over judged attempts, p99 of successes), and s.Since(&old) is what
// happened between two snapshots, to judge "the last N seconds" from a ring
// of snapshots the caller keeps (see examples/bakegate, a rollout gated per
// wave).
//
// Observer.Call hears every Do once when it returns (class, CallOutcome,
// duration, attempts, CallInfo.Cells); Observer.Attempt every call of fn.
// The key in both is for traces and logs only: a metric attributed by key
// has one series per tenant. The nested modules
// github.com/cellkit/cellkit/cellotel (OpenTelemetry) and
// github.com/cellkit/cellkit/cellprom (Prometheus) build on these two.
//
// # Costs
//
// Resolve at shard size 1 does not allocate; above, the shard is allocated
// unless AppendResolve is given room. Do computes a key's shard only for a
// Stateless call: a Write places the home only and a Read its read set
// (placement.Map.AppendLocateHome), so that a Write at 10,000 cells and
// shard size 64 costs what it costs at 100 cells and shard size 1. Do on success allocates nothing,
// unless an attempt needs a deadline earlier than the caller's (a Stateless
// call that may fail over, under a caller's deadline, or any call with
// Config.AttemptTimeout), which costs a context. Hedged calls allocate their
// attempts and goroutines.
package cell
