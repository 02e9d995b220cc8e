package cell

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/placement"
)

// Do calls fn for key, at the cells class allows, through each cell's breaker
// and concurrency limit, and returns nil as soon as one call of fn returns
// nil.
//
//   - Write (the zero Class) calls the key's home cell only. While the key's
//     migration is frozen it returns a *RefusedError matching ErrFrozen
//     without calling fn.
//   - Read calls the key's read cells in order (during a flipped migration
//     the new cell, then the old one), failing over only within them.
//   - Stateless calls the cells of the key's shuffle shard in order, failing
//     over at most Config.Hops times, and hedges when Config.Hedge says so.
//
// Cells that cannot be called (a disabled cell, an open breaker, a cell at
// its limit or held by its pushback) are skipped, which is not a failover.
// When no cell could be called, Do returns an *UnavailableError matching
// ErrCellUnavailable at once, without calling fn. A failover (any attempt after the first, hedges
// included) also needs a token of the retry budget; without one the call
// ends with its last error, matching ErrBudget.
//
// Every attempt runs under its own deadline (see Config.AttemptTimeout) and
// its outcome is told to its cell's breaker with its latency, judged by
// breaker.Blame (see "Outcomes" in the package documentation): the caller's
// faults and cancellation are Ignored, fn's context errors while the caller
// waits, an attempt's own deadline and a silent cell cut by the caller's
// deadline are Failures, other errors go through Config.Classify. Only a
// Failure fails over, and a cell's pushback (an *OverloadedError) for a
// Read or Stateless call: any other error, a 4xx that Classify calls a
// Success say, or a *ThrottledError, is the call's answer. When fn was called and the call failed, Do
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
	var x attempter
	if fn != nil {
		x = fnAttempter(fn)
	}
	return c.do(ctx, key, class, x, nil)
}

// An attempter runs a call's attempts: Do's fn, or the Transport's
// exchange, held as an interface so that neither allocates a closure.
type attempter interface {
	// attempt runs one attempt at r, under ctx.
	attempt(ctx context.Context, r Route) error
	// keep is told which attempt won, and takes over the cancel func of
	// its context (nil when it had none), so that a response body can
	// still be read after the attempt returned.
	keep(attempt int, cancel context.CancelFunc)
}

// fnAttempter is Do's fn: nothing outlives the attempt.
type fnAttempter func(context.Context, Route) error

func (f fnAttempter) attempt(ctx context.Context, r Route) error { return f(ctx, r) }

func (fnAttempter) keep(_ int, cancel context.CancelFunc) {
	if cancel != nil {
		cancel()
	}
}

// doOptions are the Transport's extras.
type doOptions struct {
	// noRetry allows a single attempt (plus the redirect): the request's
	// body cannot be replayed.
	noRetry bool
}

// call is the state of one Do. It lives on Do's stack.
type call struct {
	c     *Client
	ctx   context.Context
	key   string
	class Class
	x     attempter
	t     *routeTable

	// From the key's Assignment.
	home     string
	homeCR   *cellRoute // the home's route, by the index locate answers: no lookup by ID
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

func (c *Client) do(ctx context.Context, key string, class Class, x attempter, opt *doOptions) (err error) {
	var cl call
	if c != nil && c.cfg.Observer.Call != nil {
		start := c.now()
		defer func() { cl.called(c, ctx, key, class, start, err) }()
	}
	if class > Stateless {
		return fmt.Errorf("%w: %d", ErrClass, class)
	}
	if x == nil {
		return ErrNoFunc
	}
	if c == nil {
		return ErrNotReady
	}
	t := c.table.Load()
	if t == nil {
		return ErrNotReady
	}
	cl = call{c: c, ctx: ctx, key: key, class: class, x: x, t: t}
	p, err := t.m.LocatePlace(key)
	if p.Home < 0 {
		return err
	}
	cl.assign(&p)
	var buf [8]string
	cands := cl.candidates(buf[:0], &p)
	if err != nil && (class != Stateless || len(cands) == 1) {
		return cl.disabledHome(err)
	}
	switch class {
	case Write:
		if !p.Writable {
			c.refresh(0) // the flip may be published already
			return &RefusedError{Key: key, Cell: cl.home, Err: ErrFrozen}
		}
	case Read:
		cl.hops = len(cands) - 1
	case Stateless:
		cl.hops = min(len(cands)-1, c.cfg.hops)
	}
	noRetry := false
	if opt != nil {
		noRetry = opt.noRetry
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

// assign takes what the call needs from the key's Place. The home's route
// is taken by its index, so that no attempt at the home looks its ID up.
func (cl *call) assign(p *placement.Place) {
	cl.homeCR = cl.t.cells[p.Home]
	cl.home, cl.bucket, cl.reason, cl.phase, cl.writable = cl.homeCR.id, p.Bucket, p.Reason, p.Phase, p.Writable
}

// candidates appends to dst the cells the call's class may call for a key
// placed at p, home first: the home for a Write, the read cells for a Read
// (during a flipped migration the new cell, then the old one), the shard for
// a Stateless call (the home alone at shard size 1). Write and Read never
// place the shard: in a large map with large shards it costs the most.
func (cl *call) candidates(dst []string, p *placement.Place) []string {
	switch cl.class {
	case Read:
		dst = append(dst, cl.home)
		if p.Old >= 0 {
			dst = append(dst, cl.t.cells[p.Old].id)
		}
		return dst
	case Stateless:
		if dst = cl.t.m.AppendShard(dst, *p); len(dst) > 0 {
			return dst
		}
	}
	return append(dst, cl.home)
}

// cellRoute returns the route of cands[i], where cands[0] is the home:
// Read and Shard both start with it.
func (cl *call) cellRoute(cands []string, i int) *cellRoute {
	if i == 0 && cl.homeCR != nil && cands[0] == cl.homeCR.id {
		return cl.homeCR
	}
	return cl.t.lookup(cands[i])
}

func (cl *call) disabledHome(err error) error {
	cl.unavailable(cl.homeCR, cl.home, RejectDisabled, err)
	return cl.fail()
}

// sequential tries the candidates one after the other.
func (cl *call) sequential(cands []string) error {
	c := cl.c
	prev := ""
	free := false // the next attempt follows a refusal: routing, not a retry
	for i := 0; i < len(cands) && cl.attempts <= cl.hops; i++ {
		cr := cl.cellRoute(cands, i)
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
		outcome, err := cl.attempt(cr, tk, cands[i+1:], cl.hops-cl.attempts)
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
		if !cl.failsOver(outcome, err) || cl.ctx.Err() != nil {
			break
		}
		prev, free = cr.id, false
	}
	return cl.fail()
}

// admit asks the cell's limit and breaker for a call.
func (cl *call) admit(cr *cellRoute, id string) (breaker.Ticket, bool) {
	switch {
	case cr == nil: // not in the table: cannot happen with a valid map
		cl.unavailable(nil, id, RejectDisabled, nil)
		return breaker.Ticket{}, false
	case cr.state == placement.Disabled || cr.br == nil:
		cl.unavailable(cr, id, RejectDisabled, nil)
		return breaker.Ticket{}, false
	}
	if why, ok := cr.st.lim.acquire(int64(cl.clock)); !ok {
		var err error
		if why == RejectOverloaded {
			err = &OverloadedError{Key: cl.key, Cell: id, RetryAfter: cr.st.lim.held(int64(cl.clock))}
		}
		cl.unavailable(cr, id, why, err)
		return breaker.Ticket{}, false
	}
	// The breaker the call's table holds, not the Set's by name: a swap
	// that drops the cell must not fail a call routed before it.
	tk, err := cr.br.Allow()
	if err != nil {
		cr.st.lim.release()
		cl.unavailable(cr, id, RejectBreaker, err)
		return breaker.Ticket{}, false
	}
	return tk, true
}

// release gives back an admission that was not used.
func (cl *call) release(cr *cellRoute, tk breaker.Ticket) {
	tk.Done(breaker.Ignored, 0)
	cr.st.lim.release()
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

// attemptDeadline returns the deadline of an attempt that at most more
// attempts may follow, at the candidates rest, when it is earlier than the
// caller's. It is the one rule of both loops, sequential and hedged: the
// caller's remaining time is shared by this attempt and the later
// candidates that could be called now (a disabled cell, an open breaker is
// skipped, not tried), up to more.
func (cl *call) attemptDeadline(rest []string, more int) (time.Time, bool) {
	if cl.c.cfg.AttemptTimeout != 0 {
		return cl.deadline(1)
	}
	if more <= 0 || len(rest) == 0 {
		return time.Time{}, false
	}
	left := 1
	for _, id := range rest {
		if left > more {
			break
		}
		if cr := cl.t.lookup(id); cr != nil && cr.br != nil && cr.state != placement.Disabled && cr.br.Available() {
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
// the outcome and fn's error. rest are the candidates that may follow, at
// most more of them.
func (cl *call) attempt(cr *cellRoute, tk breaker.Ticket, rest []string, more int) (breaker.Outcome, error) {
	c := cl.c
	actx := cl.ctx
	var cancel context.CancelFunc
	own := false
	if d, ok := cl.attemptDeadline(rest, more); ok {
		actx, cancel = context.WithDeadline(cl.ctx, d)
		own = true
	}
	r := cl.route(cr)
	cr.st.started.Add(1)
	start := cl.clock
	err := cl.x.attempt(actx, r)
	cl.clock = c.now() // the attempt's one reading: its latency, its breaker's and its cell's now
	lat := cl.clock - start
	outcome := cl.judge(actx, own, false, err, lat, cr.st)
	switch {
	case err == nil:
		cl.x.keep(r.Attempt, cancel)
	case cancel != nil:
		cancel()
	}
	cl.finish(cr, tk, r.Attempt, false, outcome, lat, err)
	return outcome, err
}

// finish reports an attempt that returned.
func (cl *call) finish(cr *cellRoute, tk breaker.Ticket, attempt int, hedge bool, outcome breaker.Outcome, lat time.Duration, err error) {
	tk.DoneAt(outcome, lat, cl.c.at(cl.clock))
	st := cr.st
	st.lat.record(outcome, lat) // the latency the attempt measured: no clock read
	st.finished.Add(1)
	switch outcome {
	case breaker.Failure:
		st.failures.Add(1)
	case breaker.Success:
		st.noteSuccess(cl.clock, lat) // cl.clock: about now, read once per attempt already
	}
	cl.settle(st, outcome, lat, err)
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

// settle gives back an attempt's place in its cell's limit: with a sample
// of its latency when the cell answered it (a Success), with a pushback when
// the cell said it is overloaded, and without either otherwise (a failure,
// a refusal, a throttled key, a cancellation: none measures the cell's
// latency under its load).
func (cl *call) settle(st *cellState, outcome breaker.Outcome, lat time.Duration, err error) {
	if outcome == breaker.Success {
		st.lim.sample(lat, int64(cl.clock))
		return
	}
	if oe, ok := as[*OverloadedError](err); ok {
		// The clock read now: a hedged call's cl.clock is its start.
		st.lim.pushback(int64(cl.c.now()), oe.RetryAfter, rand.Float64())
		return
	}
	st.lim.release()
}

// failsOver says whether an attempt's outcome lets the call try its next
// cell: a Failure, and a cell's pushback for a class that may use another
// cell (a Write has only its home).
func (cl *call) failsOver(outcome breaker.Outcome, err error) bool {
	if outcome == breaker.Failure {
		return true
	}
	if cl.class == Write || err == nil {
		return false
	}
	_, ok := as[*OverloadedError](err)
	return ok
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
	p, err := t.m.LocatePlace(cl.key)
	if p.Home < 0 {
		cl.lastErr = err
		return cl.fail()
	}
	cl.t = t
	cl.assign(&p)
	if cl.class == Write && err == nil && !p.Writable {
		c.refresh(0)
		cl.lastErr = &RefusedError{Key: cl.key, Cell: cl.home, Err: ErrFrozen}
		return cl.fail()
	}
	var buf [8]string
	cands := cl.candidates(buf[:0], &p)
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
		_, err := cl.attempt(cr, tk, nil, 0)
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
