// Package breaker keeps one circuit breaker per cell, so that a failing cell
// is cut off without cutting off the service.
//
// A Set holds the breakers, keyed by cell ID. Before calling a cell, a client
// asks Allow, which returns a Ticket or a typed error; after the call it
// reports the Outcome and the latency with Ticket.Done. The routing hot path
// asks Available, which takes no lock and does not allocate. Sync tells the
// Set which cells exist when the placement map changes; Force lets an
// operator override a breaker; Snapshot and Config.OnEvent feed metrics.
//
// The package does not make calls, retry, hedge or pick failover cells: it
// only says whether a cell may be called. It knows nothing of placement.
//
// # State machine
//
//	           trip: FailureRatio or SlowRatio reached
//	                 (after MinRequests), or ConsecutiveFailures
//	+--------+ --------------------------------------------> +------+
//	| Closed |                                                | Open |
//	+--------+ <-------+                    +---------------- +------+
//	                   |                    | open time over     ^
//	  HalfOpenProbes   |                    v                    | a probe failed, was slow,
//	  probes succeeded |              +----------+               | or went unreported for
//	                   +------------- | HalfOpen | --------------+ HalfOpenMaxWait
//	                                  +----------+
//
// A closed breaker judges the outcomes in a rolling window of Window cut
// into Buckets. It trips when ConsecutiveFailures failures in a row are in the
// window, or, once the window holds MinRequests successes and failures, when
// failures make up FailureRatio of them or (with SlowCall set) calls slower
// than SlowCall make up SlowRatio of them. An open breaker stays open for
// OpenBase, times OpenMultiplier for each consecutive re-open, capped at
// OpenMax, spread by ±Jitter; the count of consecutive opens resets when the
// breaker closes. A half-open breaker lets HalfOpenProbes probes through at
// once and closes after that many successes; one failed or slow probe, or one
// unreported for HalfOpenMaxWait, opens it again, so it never latches
// half-open. Every state change resets the counts; a Ticket admitted before a
// change is not judged after it. Time-driven changes are made by a timer, so
// they happen (and are reported) on time even without traffic.
//
// Force(cell, ForcedOpen) rejects every call to the cell; ForcedClosed
// admits every call. Both pause the state machine: it keeps counting but
// neither trips nor times out, however many windows go by, until
// Force(cell, Auto) resumes it.
//
// # Defaults
//
// The zero Config is valid; each field's comment gives its default and why.
// In short: a 10 s window in 10 buckets; trip on half of at least 20 calls
// failing (or slow, if SlowCall is set), or on 5 failures in a row; stay open
// 5 s, then 10, 20, 40 and 60 s on re-opens, ±50%; close after 3 probes
// succeed, giving up on a probe after 10 s; eject at most half of the cells;
// panic, failing open, when fewer than half of them are closed.
//
// # Ejection cap and panic mode
//
// Both are judged over the known cells: those passed to the last Sync and
// those first named by Allow or Force since. A cell the Set does not know
// is available.
//
// MaxEjected bounds how many cells open breakers may make unavailable at
// once: the fraction MaxEjected of the known cells, rounded down, but at least
// one. Cells forced open always count first. When more breakers are open than
// the cap allows, the ones that opened first are ejected: Allow rejects their
// calls with ErrOpen and Available reports false. The others are tracked:
// State reports Open and Snapshot shows Ejected false, but they stay available
// and their calls are admitted without being judged. A tracked breaker is
// ejected as soon as room frees, and its open time counts from when it opened,
// ejected or not. A breaker that re-opens goes to the back of the queue, so
// when the cap binds the open cells take turns.
//
// The Set panics when the fraction of known cells (not counting those forced
// open, which an operator chose) whose breaker is closed falls below
// PanicThreshold: with most cells looking down, this client is the likelier
// culprit. Panic is judged on breaker states, before and regardless of the
// cap. In FailOpen mode (the default) a panicking Set stops enforcing: every
// cell not forced open is available and every call is admitted. In FailFast
// mode nothing is available and Allow returns ErrPanic, except to half-open
// probes, so breakers can still heal and end the panic. PanicOff disables
// panic. Entering and leaving panic are reported as events, and Snapshot
// shows Panicking.
//
// With the defaults the two meet exactly: of 10 cells, 5 open breakers are
// all ejected (the cap) and leave 5 of 10 closed (no panic); a 6th opening
// leaves 4 of 10 closed, and the Set panics and fails open. Note that a Set
// with a single known cell panics whenever that cell's breaker opens, so
// give it PanicOff.
//
// # Classifying outcomes
//
// Done takes an Outcome, not an error: Success and Failure feed the state
// machine, Ignored only the totals. DefaultClassify (used by Set.Classify
// unless Config.Classify replaces it) maps nil to Success,
// context.Canceled to Ignored, because a caller giving up says nothing
// about the cell, and everything else to Failure. Pass your own
// classification to count, say, a 4xx reply as a Success (the cell is
// fine, the request was not) or a deadline that the caller's own budget
// caused as Ignored. Latency is measured by the caller and passed to Done.
//
// # Concurrency
//
// A Set is safe for concurrent use. Available and State are lock-free
// reads of immutable snapshots and atomics; Allow on a closed breaker is
// lock-free too, and Done takes the cell's lock once. State changes are
// rare and take the Set's lock to rebalance the ejection cap and panic.
// Events are delivered outside every lock, in order, by a goroutine that
// runs only while events are queued; a handler may call back into the
// Set. New starts no goroutine, and a Set leaves none running once its
// events are delivered and its timers (each bounded by OpenMax or
// HalfOpenMaxWait) have fired, so a Set works inside testing/synctest
// bubbles.
//
// # Relation to gobreaker
//
// The states, their order, probes counted per half-open period and reports
// discarded across generations follow github.com/sony/gobreaker/v2, and
// ErrOpen and ErrTooManyProbes match its ErrOpenState and ErrTooManyRequests
// under errors.Is. The state machine itself is this package's, because
// gobreaker's cannot be extended to what a cell client needs: its open time
// is fixed at construction (no growing open time, no jitter), a half-open
// breaker whose probes never report stays half-open forever, it has no slow
// calls and no overrides, and it reports changes under its lock after
// resetting the counts. Wrapping it would also cost its two clock reads and
// one allocation per call on top of this package's own bookkeeping.
package breaker
