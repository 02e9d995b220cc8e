// Package breaker keeps one circuit breaker per cell, so that a failing cell
// is cut off without cutting off the service.
//
// A Set holds the breakers, keyed by cell ID. Sync tells it which cells
// exist, when the placement map changes; it knows no others. Before calling
// a cell, a client asks Allow, which returns a Ticket or a typed error; after
// the call it reports the Outcome and the latency with Ticket.Done, once
// (a Ticket is single-use). The routing hot path asks Available, which takes
// no lock, does not allocate, and is true exactly when Allow would admit a
// call at that instant. Force lets an operator override a breaker; Snapshot
// and Config.OnEvent feed metrics. FromGobreaker converts gobreaker
// settings.
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
// breaker closes. A half-open breaker lets HalfOpenProbes probes through
// (an Ignored probe gives its place back) and closes after that many
// successes; one failed or slow probe, or one unreported for
// HalfOpenMaxWait, opens it again, so it never latches half-open. Every
// state change resets the counts and realigns the window's buckets on the
// change; a Ticket admitted before a change is not judged after it.
// Time-driven changes are made by a timer, so they happen (and are
// reported) on time even without traffic. Config.ReadyToTrip replaces the
// failure rules with gobreaker's: a function of the counts, asked after
// each failure.
//
// Force(cell, ForcedOpen) rejects every call to the cell; ForcedClosed
// admits every call, in every panic mode. Both pause the state machine: it
// keeps counting but neither trips nor times out, however many windows go
// by, until Force(cell, Auto) resumes it.
//
// # Defaults
//
// The zero Config is valid; each field's comment gives its default and why.
// In short: a 10 s window in 10 buckets; trip on half of at least 20 calls
// failing (or slow, if SlowCall is set), or on 5 failures in a row; stay open
// 5 s, then 10, 20, 40 and 60 s on re-opens, ±50%; close after 3 probes
// succeed, giving up on a probe after 10 s; eject at most half of the cells;
// panic, failing open, when fewer than half of them are closed. As in the
// rest of the module, a negative value means "none" where a field says so:
// Jitter -1 is no jitter, Window -1 no window (counts kept until the state
// changes), HalfOpenMaxWait -1 no limit.
//
// # Ejection cap and panic mode
//
// Both are judged over the known cells, exactly those named by the last
// Sync. Any other name is refused rather than added: Allow and Force return
// a *CellError matching ErrUnknownCell (which does not match ErrOpen: the
// caller is wrong, the cell is not down) and Available reports false. So a
// mistyped cell ID can neither be called nor change how many real cells may
// be ejected or how many must be closed; a client Syncs the map's cell IDs
// before routing to them.
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
// mode Allow returns ErrPanic, and Available false, for every cell except
// those forced closed and half-open cells with a probe free: a router that
// asks Available before Allow still sends the probes that heal the breakers
// and end the panic. PanicOff disables panic. Entering and leaving panic are
// reported as events, and Snapshot shows Panicking.
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
// unless Config.Classify replaces it) maps nil to Success, an error whose
// chain holds context.Canceled to Ignored, because a caller giving up says
// nothing about the cell, and everything else to Failure. Pass your own
// classification to count, say, a 4xx reply as a Success (the cell is fine,
// the request was not). Latency is measured by the caller and passed to
// Done.
//
// An error alone cannot always say whose the end of a call was: net/http
// returns the cause given to context.WithCancelCause, which need not wrap
// context.Canceled, and context.DeadlineExceeded is the same error whether
// the caller's budget ran out or the cell was too slow. Only the caller
// knows, and Blame is the one rule that decides with what it knows (the
// caller's context, the attempt's own deadline, its latency): the caller's
// own faults (errors matching ErrCaller) and its cancellation never count
// against a cell; an attempt's own deadline, and a cancellation the caller
// did not make, always do. Set.ClassifyContext(ctx, err) applies it given
// the caller's context; package cell applies it to every attempt. A client
// may equally decide the Outcome itself and pass it to Done.
//
// # Concurrency
//
// A Set is safe for concurrent use. Available and State are lock-free
// reads of immutable snapshots and atomics; Allow on a closed breaker is
// lock-free too (two atomic adds), and Done takes the cell's lock once.
// Config.ReadyToTrip and Config.Classify are called without any lock held. State changes are
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
// The breakers do not run on github.com/sony/gobreaker/v2: the state
// machine is this package's own. What the two share is this:
//
//   - Error identities: ErrOpen (and so ErrForcedOpen and ErrPanic) matches
//     gobreaker.ErrOpenState and ErrTooManyProbes matches
//     gobreaker.ErrTooManyRequests under errors.Is.
//   - States: Closed, HalfOpen and Open have gobreaker's names and values
//     (0, 1, 2); ToGobreakerState and FromGobreakerState convert them.
//   - Counts: ToGobreakerCounts converts a breaker's Counts to
//     gobreaker.Counts, which is what Config.ReadyToTrip is given.
//   - Settings: FromGobreaker converts a gobreaker.Settings to a Config
//     under which each breaker trips, opens, turns half-open and closes at
//     the same points as a gobreaker.CircuitBreaker from the same settings,
//     which a differential test against gobreaker itself checks; its
//     documentation gives the meaning of each field and the few residual
//     differences, and why.
//
// The state machine is not gobreaker's, because gobreaker's cannot be
// extended to what a cell client needs: its open time is fixed at
// construction (no growing open time, no jitter), a half-open breaker
// whose probes never report stays half-open for ever, it has no slow
// calls, no overrides and no view of the other cells (no ejection cap, no
// panic), its Allow reads the clock and takes a lock, and it reports
// changes under its lock after resetting the counts. Wrapping it would
// also cost its two clock reads, two lock acquisitions and one allocation
// per call on top of this package's own bookkeeping.
package breaker
