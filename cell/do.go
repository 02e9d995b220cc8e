package cell

import (
	"context"
	"fmt"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/placement"
)

// Do calls fn for key, at the cells class allows, through each cell's breaker
// and bulkhead, and returns nil as soon as one call of fn returns nil.
//
//   - Write (the zero Class) calls the key's home cell only. While the key's
//     migration is frozen it returns a *RefusedError matching ErrFrozen
//     without calling fn.
//   - Read calls the key's read cells in order (during a flipped migration
//     the new cell, then the old one), failing over only within them.
//   - Stateless calls the cells of the key's shuffle shard in order, failing
//     over at most Config.Hops times, and hedges when Config.Hedge says so.
//
// Cells that cannot be called (a disabled cell, an open breaker, a full
// bulkhead) are skipped, which is not a failover. When no cell could be
// called, Do returns an *UnavailableError matching ErrCellUnavailable at
// once, without calling fn. A failover (any attempt after the first, hedges
// included) also needs a token of the retry budget; without one the call
// ends with its last error, matching ErrBudget.
//
// Every attempt runs under its own deadline (see Config.AttemptTimeout) and
// its outcome is told to its cell's breaker with its latency, judged by
// breaker.Blame (see "Outcomes" in the package documentation): the caller's
// faults and cancellation are Ignored, fn's context errors while the caller
// waits, an attempt's own deadline and a silent cell cut by the caller's
// deadline are Failures, other errors go through Config.Classify. Only a
// Failure fails over: any other error, a 4xx that Classify calls a Success
// say, is the call's answer. When fn was called and the call failed, Do
// returns a *CallError that names the cells tried and wraps fn's last
// error, except for a *RefusedError and a *RequestError (the caller's
// fault), which are returned as they are, in the same shape as the client's
// own refusals. A refusal also asks the source for a newer map (coalesced),
// and a Read or Stateless call refused by a cell whose map is behind tries
// its next cell, as routing. Do with a nil fn returns ErrNoFunc.
//
// When fn returns a *MovedError, Do waits (at most until ctx is done) for a
// map of at least the reply's version, asking the source to poll at once,
// and retries once at the cell the newer map names. It follows one moved
// reply per call: a second one, one that names a cell already tried, and one
// made on a map older than the client's are returned as errors.
//
// fn is given the attempt's context and Route; it must honour the context.
// Do returns only once every attempt it started has returned. Hedged calls
// run fn on goroutines of their own; otherwise fn runs in the caller's
// goroutine, and a successful call allocates nothing unless an attempt
// deadline shorter than ctx's must be set.
func (c *Client) Do(ctx context.Context, key string, class Class, fn func(ctx context.Context, r Route) error) error {
	return c.do(ctx, key, class, fn, nil)
}

// doOptions are the Transport's extras.
type doOptions struct {
	// noRetry allows a single attempt (plus the redirect): the request's
	// body cannot be replayed.
	noRetry bool
	// keep is told which attempt won, and takes over the cancel func of
	// its context (nil when it had none) instead of Do calling it, so that
	// a response body can still be read after fn returned.
	keep func(attempt int, cancel context.CancelFunc)
}

// call is the state of one Do. It lives on Do's stack.
type call struct {
	c     *Client
	ctx   context.Context
	key   string
	class Class
	fn    func(context.Context, Route) error
	keep  func(int, context.CancelFunc)
	t     *routeTable

	// From the key's Assignment.
	home     string
	bucket   int
	reason   placement.Reason
	phase    placement.Phase
	writable bool

	clock      time.Duration // the last reading of the client's clock: the next attempt's start
	attempts   int
	hops       int // the sequential attempts allowed after the first
	tried      [4]string
	triedMore  []string
	lastErr    error
	redirected bool
	noBudget   bool

	// The first cell that could not be called, for *UnavailableError.
	unavail       bool
	unavailCell   string
	unavailReason Rejection
	unavailErr    error
	// The last one.
	lastReason    Rejection
	lastReasonErr error
}

func (c *Client) do(ctx context.Context, key string, class Class, fn func(context.Context, Route) error, opt *doOptions) (err error) {
	var cl call
	if c != nil && c.cfg.Observer.Call != nil {
		start := c.now()
		defer func() { cl.called(c, ctx, key, class, start, err) }()
	}
	if class > Stateless {
		return fmt.Errorf("%w: %d", ErrClass, class)
	}
	if fn == nil {
		return ErrNoFunc
	}
	if c == nil {
		return ErrNotReady
	}
	t := c.table.Load()
	if t == nil {
		return ErrNotReady
	}
	var buf [8]string
	cl = call{c: c, ctx: ctx, key: key, class: class, fn: fn, t: t}
	a, err := cl.locate(t.m, buf[:0])
	if err != nil && a.Cell == "" {
		return err
	}
	cl.assign(&a)
	var one [1]string
	var cands []string
	switch class {
	case Write:
		if err != nil {
			return cl.disabledHome(err)
		}
		if !a.Writable {
			c.refresh(0) // the flip may be published already
			return &RefusedError{Key: key, Cell: cl.home, Err: ErrFrozen}
		}
		one[0] = cl.home
		cands = one[:]
	case Read:
		if err != nil {
			return cl.disabledHome(err)
		}
		cands = a.Read
		cl.hops = len(cands) - 1
	case Stateless:
		cands = a.Shard
		if len(cands) == 0 {
			if err != nil {
				return cl.disabledHome(err)
			}
			one[0] = cl.home
			cands = one[:]
		}
		cl.hops = min(len(cands)-1, c.cfg.hops)
	}
	noRetry := false
	if opt != nil {
		noRetry, cl.keep = opt.noRetry, opt.keep
		if noRetry {
			cl.hops = 0
		}
	}
	cl.clock = c.now()
	c.budget.deposit(cl.clock, cl.bucket)
	if class == Stateless && c.cfg.hedges > 0 && !noRetry && len(cands) > 1 {
		return cl.hedged(cands)
	}
	return cl.sequential(cands)
}

// locate places the call's key in m with dst as scratch: the shard only
// for a Stateless call, since Write and Read use the home and read cells
// only, and in a large map with large shards the shard costs the most.
func (cl *call) locate(m *placement.Map, dst []string) (placement.Assignment, error) {
	if cl.class == Stateless {
		return m.AppendLocate(dst, cl.key)
	}
	return m.AppendLocateHome(dst, cl.key)
}

// assign takes what the call needs from the key's Assignment, whose Read
// and Shard point into Do's stack and must not escape. The home is taken as
// a.Read[0], which is always a.Cell: escape analysis does not tell a's fields
// apart, so copying a.Cell would send the buffer that a.Read and a.Shard
// alias to the heap, where an element of a.Read is only the buffer's content.
func (cl *call) assign(a *placement.Assignment) {
	cl.home, cl.bucket, cl.reason, cl.phase, cl.writable = a.Read[0], a.Bucket, a.Reason, a.Phase, a.Writable
}

func (cl *call) disabledHome(err error) error {
	cl.unavailable(cl.t.lookup(cl.home), cl.home, RejectDisabled, err)
	return cl.fail()
}

// sequential tries the candidates one after the other.
func (cl *call) sequential(cands []string) error {
	c := cl.c
	prev := ""
	free := false // the next attempt follows a refusal: routing, not a retry
	for i := 0; i < len(cands) && cl.attempts <= cl.hops; i++ {
		cr := cl.t.lookup(cands[i])
		tk, ok := cl.admit(cr, cands[i])
		if !ok {
			continue
		}
		if cl.attempts > 0 && !free {
			if !c.budget.withdraw(cl.clock) {
				cl.release(cr, tk)
				cl.noBudget = true
				cl.unavailable(cr, cr.id, RejectBudget, nil)
				break
			}
			if h := c.cfg.Observer.Failover; h != nil {
				h(FailoverInfo{Key: cl.key, Class: cl.class, From: prev, To: cr.id, Attempt: cl.attempts})
			}
		}
		outcome, err := cl.attempt(cr, tk, cands[i+1:])
		if err == nil {
			return nil
		}
		cl.lastErr = err
		if me, ok := as[*MovedError](err); ok {
			return cl.redirect(me, cr.id)
		}
		if re, ok := as[*RefusedError](err); ok {
			c.refresh(re.Version)
			if re.Err != ErrCellBehind || cl.class == Write || cl.ctx.Err() != nil {
				break
			}
			// A cell behind the client's map: the next cell of the read
			// set (the old owner, during a flipped migration) still serves.
			prev, free = cr.id, true
			continue
		}
		if outcome != breaker.Failure || cl.ctx.Err() != nil {
			break
		}
		prev, free = cr.id, false
	}
	return cl.fail()
}

// admit asks the cell's bulkhead and breaker for a call.
func (cl *call) admit(cr *cellRoute, id string) (breaker.Ticket, bool) {
	switch {
	case cr == nil: // not in the table: cannot happen with a valid map
		cl.unavailable(nil, id, RejectDisabled, nil)
		return breaker.Ticket{}, false
	case cr.state == placement.Disabled || cr.br == nil:
		cl.unavailable(cr, id, RejectDisabled, nil)
		return breaker.Ticket{}, false
	}
	if cr.st.sem != nil && !cr.st.sem.TryAcquire(1) {
		cl.unavailable(cr, id, RejectBulkhead, nil)
		return breaker.Ticket{}, false
	}
	// The breaker the call's table holds, not the Set's by name: a swap
	// that drops the cell must not fail a call routed before it.
	tk, err := cr.br.Allow()
	if err != nil {
		if cr.st.sem != nil {
			cr.st.sem.Release(1)
		}
		cl.unavailable(cr, id, RejectBreaker, err)
		return breaker.Ticket{}, false
	}
	return tk, true
}

// release gives back an admission that was not used.
func (cl *call) release(cr *cellRoute, tk breaker.Ticket) {
	tk.Done(breaker.Ignored, 0)
	if cr.st.sem != nil {
		cr.st.sem.Release(1)
	}
}

func (cl *call) unavailable(cr *cellRoute, id string, why Rejection, err error) {
	if cr != nil {
		cr.st.rejected[why].Add(1)
	}
	if !cl.unavail {
		if why == RejectDisabled && err == nil {
			err = &placement.CellError{Key: cl.key, Cell: id, Err: placement.ErrCellDisabled}
		}
		cl.unavail, cl.unavailCell, cl.unavailReason, cl.unavailErr = true, id, why, err
	}
	cl.lastReason, cl.lastReasonErr = why, err
	if h := cl.c.cfg.Observer.Unavailable; h != nil {
		h(UnavailableInfo{Key: cl.key, Cell: id, Class: cl.class, Reason: why, Err: err})
	}
}

// route is the Route of an attempt at cr.
func (cl *call) route(cr *cellRoute) Route {
	r := Route{
		Key: cl.key, Cell: cr.id, Reason: cl.reason, Phase: cl.phase, Writable: cl.writable,
		Version: cl.t.version, Class: cl.class, Attempt: cl.attempts,
	}
	if ep := cl.t.endpoint(cr, cl.key, cl.bucket); ep != nil {
		r.Endpoint, r.ep = ep.url, ep
	}
	return r
}

// attemptDeadline returns the deadline of an attempt that rest may follow,
// when it is earlier than the caller's.
func (cl *call) attemptDeadline(rest []string) (time.Time, bool) {
	if cl.c.cfg.AttemptTimeout != 0 {
		return cl.deadline(1)
	}
	if cl.attempts >= cl.hops || len(rest) == 0 {
		return time.Time{}, false
	}
	// The attempts still allowed: this one, and the later candidates that
	// could be called now, up to the hops left.
	left := 1
	for _, id := range rest {
		if cl.attempts+left > cl.hops {
			break
		}
		if cr := cl.t.lookup(id); cr != nil && cr.br != nil && cr.br.Available() {
			left++
		}
	}
	return cl.deadline(left)
}

// deadline returns the deadline of an attempt that shares the caller's
// remaining time with left-1 more, or that Config.AttemptTimeout bounds,
// when it is earlier than the caller's.
func (cl *call) deadline(left int) (time.Time, bool) {
	at := cl.c.cfg.AttemptTimeout
	if at < 0 || (at == 0 && left <= 1) {
		return time.Time{}, false
	}
	dl, ok := cl.ctx.Deadline()
	if at > 0 {
		d := time.Now().Add(at)
		if ok && !d.Before(dl) {
			return time.Time{}, false
		}
		return d, true
	}
	if !ok {
		return time.Time{}, false
	}
	now := time.Now()
	rem := dl.Sub(now)
	if rem <= 0 {
		return time.Time{}, false
	}
	return now.Add(rem / time.Duration(left)), true
}

// attempt calls fn at cr, tells the breaker and the counters, and returns
// the outcome and fn's error. rest are the candidates that may follow.
func (cl *call) attempt(cr *cellRoute, tk breaker.Ticket, rest []string) (breaker.Outcome, error) {
	c := cl.c
	actx := cl.ctx
	var cancel context.CancelFunc
	own := false
	if d, ok := cl.attemptDeadline(rest); ok {
		actx, cancel = context.WithDeadline(cl.ctx, d)
		own = true
	}
	r := cl.route(cr)
	cr.st.started.Add(1)
	start := cl.clock
	err := cl.fn(actx, r)
	cl.clock = c.now()
	lat := cl.clock - start
	outcome := cl.judge(actx, own, false, err, lat, cr.st)
	switch {
	case err == nil && cl.keep != nil:
		cl.keep(r.Attempt, cancel)
	case cancel != nil:
		cancel()
	}
	cl.finish(cr, tk, r.Attempt, false, outcome, lat, err)
	return outcome, err
}

// finish reports an attempt that returned.
func (cl *call) finish(cr *cellRoute, tk breaker.Ticket, attempt int, hedge bool, outcome breaker.Outcome, lat time.Duration, err error) {
	tk.Done(outcome, lat)
	st := cr.st
	st.lat.record(outcome, lat) // the latency the attempt measured: no clock read
	st.finished.Add(1)
	switch outcome {
	case breaker.Failure:
		st.failures.Add(1)
	case breaker.Success:
		st.noteSuccess(cl.clock, lat) // cl.clock: about now, read once per attempt already
	}
	if st.sem != nil {
		st.sem.Release(1)
	}
	if cl.attempts < len(cl.tried) {
		cl.tried[cl.attempts] = cr.id
	} else {
		cl.triedMore = append(cl.triedMore, cr.id)
	}
	cl.attempts++
	if h := cl.c.cfg.Observer.Attempt; h != nil {
		h(AttemptInfo{Key: cl.key, Cell: cr.id, Class: cl.class, Attempt: attempt, Hedge: hedge,
			Outcome: outcome, Latency: lat, Err: err})
	}
}

// judge decides an attempt's outcome by breaker.Blame, the one rule; see
// Do. lost says the call cancelled the attempt itself (a hedge that lost).
func (cl *call) judge(actx context.Context, own, lost bool, err error, lat time.Duration, st *cellState) breaker.Outcome {
	switch {
	case err == nil:
		return breaker.Success
	case lost:
		return breaker.Ignored
	}
	return breaker.Blame(breaker.Attempt{
		Ctx:     cl.ctx,
		Expired: own && actx.Err() != nil,
		Err:     err,
		Latency: lat,
		Slow:    st.slow(cl.c.now(), cl.c.cfg.Breakers.SlowCall),
	}, cl.c.answer)
}

func (cl *call) hasTried(id string) bool {
	for i := 0; i < min(cl.attempts, len(cl.tried)); i++ {
		if cl.tried[i] == id {
			return true
		}
	}
	for _, t := range cl.triedMore {
		if t == id {
			return true
		}
	}
	return false
}

// fail returns the error of a call that did not succeed.
func (cl *call) fail() error {
	if cl.attempts == 0 {
		if !cl.unavail {
			return &UnavailableError{Key: cl.key, Cell: cl.home, Reason: RejectDisabled}
		}
		return &UnavailableError{Key: cl.key, Cell: cl.unavailCell, Reason: cl.unavailReason, Err: cl.unavailErr}
	}
	switch err := cl.lastErr.(type) {
	case *RefusedError:
		return err // the same shape as the client's own refusal
	case *RequestError:
		return err // the caller's fault, not the call's
	}
	tried := make([]string, 0, cl.attempts)
	tried = append(tried, cl.tried[:min(cl.attempts, len(cl.tried))]...)
	tried = append(tried, cl.triedMore...)
	return &CallError{Key: cl.key, Class: cl.class, Tried: tried, Err: cl.lastErr, Budget: cl.noBudget}
}

// redirect follows a moved reply from cell from, once.
func (cl *call) redirect(me *MovedError, from string) error {
	c := cl.c
	if cl.redirected || cl.hasTried(me.Cell) || me.Version < cl.t.version {
		return cl.fail()
	}
	cl.redirected = true
	t, err := c.awaitVersion(cl.ctx, me.Version)
	if err != nil {
		cl.lastErr = fmt.Errorf("%w; %w", me, err)
		return cl.fail()
	}
	var buf [8]string
	a, err := cl.locate(t.m, buf[:0])
	if err != nil && a.Cell == "" {
		cl.lastErr = err
		return cl.fail()
	}
	cl.t = t
	cl.assign(&a)
	var one [1]string
	var cands []string
	switch cl.class {
	case Write:
		if err == nil && !a.Writable {
			c.refresh(0)
			cl.lastErr = &RefusedError{Key: cl.key, Cell: cl.home, Err: ErrFrozen}
			return cl.fail()
		}
		one[0] = cl.home
		cands = one[:]
	case Read:
		cands = a.Read
	case Stateless:
		cands = a.Shard
		if len(cands) == 0 {
			one[0] = cl.home
			cands = one[:]
		}
	}
	for _, id := range cands {
		if cl.hasTried(id) {
			if cl.class == Write {
				break // the new map points back: not followed
			}
			continue
		}
		cr := t.lookup(id)
		tk, ok := cl.admit(cr, id)
		if !ok {
			cl.lastErr = &UnavailableError{Key: cl.key, Cell: id, Reason: cl.lastReason, Err: cl.lastReasonErr}
			if cl.class == Write {
				break
			}
			continue
		}
		if h := c.cfg.Observer.Redirect; h != nil {
			h(RedirectInfo{Key: cl.key, Class: cl.class, From: from, To: id, Version: t.version})
		}
		_, err := cl.attempt(cr, tk, nil)
		if err == nil {
			return nil
		}
		cl.lastErr = err
		return cl.fail()
	}
	return cl.fail()
}

// as finds the first error of type T in err's tree, like errors.As but
// without reflection or allocation.
func as[T error](err error) (T, bool) {
	for err != nil {
		if t, ok := err.(T); ok {
			return t, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if t, ok := as[T](e); ok {
					return t, true
				}
			}
			var zero T
			return zero, false
		default:
			var zero T
			return zero, false
		}
	}
	var zero T
	return zero, false
}
