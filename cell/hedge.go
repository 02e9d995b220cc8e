package cell

import (
	"context"
	"time"

	"github.com/cellkit/cellkit/breaker"
)

// A hedgeAttempt is one attempt of a hedged call, run on a goroutine of its
// own. The goroutine writes err and lat, then sends the attempt back; the
// call's goroutine does all the rest.
type hedgeAttempt struct {
	cr     *cellRoute
	tk     breaker.Ticket
	r      Route
	actx   context.Context
	cancel context.CancelFunc
	own    bool // actx has a deadline of its own
	hedge  bool
	lost   bool // cancelled because another attempt answered
	done   bool
	lat    time.Duration
	end    time.Duration // the reading of the client's clock that ended it
	err    error
}

// hedged runs a Stateless call with hedges: each attempt on a goroutine, a
// new one when the last has not answered after Hedge.Delay (a hedge) or when
// one failed (a failover), the first success winning. It returns when every
// attempt has returned.
func (cl *call) hedged(cands []string) error {
	c := cl.c
	delay := c.cfg.Hedge.Delay
	results := make(chan *hedgeAttempt, len(cands))
	var live []*hedgeAttempt
	next, launched, running, failovers, hedges := 0, 0, 0, 0, 0
	noMore := false

	oldest := func() string {
		for _, h := range live {
			if !h.done {
				return h.cr.id
			}
		}
		return cl.tried[0]
	}
	// start launches an attempt at the next callable candidate, which at
	// most more sequential attempts may follow.
	start := func(hedge bool, from string, more int) bool {
		for !noMore && next < len(cands) {
			id := cands[next]
			cr := cl.cellRoute(cands, next)
			next++
			tk, ok := cl.admit(cr, id)
			if !ok {
				continue
			}
			if launched > 0 {
				if !c.budget.withdraw(c.now()) {
					cl.release(cr, tk)
					cl.noBudget, noMore = true, true
					cl.unavailable(cr, id, RejectBudget, nil)
					return false
				}
				info := FailoverInfo{Key: cl.key, Class: cl.class, From: from, To: id, Attempt: launched}
				if h := c.cfg.Observer.Hedge; hedge && h != nil {
					h(info)
				} else if h := c.cfg.Observer.Failover; !hedge && h != nil {
					h(info)
				}
			}
			ha := &hedgeAttempt{cr: cr, tk: tk, hedge: hedge}
			ha.r = cl.route(cr)
			ha.r.Attempt = launched
			if d, ok := cl.attemptDeadline(cands[next:], more); ok {
				ha.actx, ha.cancel = context.WithDeadline(cl.ctx, d)
				ha.own = true
			} else {
				ha.actx, ha.cancel = context.WithCancel(cl.ctx)
			}
			live = append(live, ha)
			launched++
			running++
			go runAttempt(c, cl.x, ha, results)
			return true
		}
		return false
	}
	stopOthers := func() {
		for _, h := range live {
			if !h.done {
				h.lost = true
				h.cancel()
			}
		}
	}

	if !start(false, "", cl.hops) {
		return cl.fail()
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	tick := timer.C
	won, final := false, false
	var moved *MovedError
	movedFrom := ""
	for running > 0 {
		select {
		case ha := <-results:
			running--
			ha.done = true
			cl.clock = max(cl.clock, ha.end)
			outcome := cl.judge(ha.actx, ha.own, ha.lost, ha.err, ha.lat, ha.cr.st)
			if ha.err == nil && !won && !final {
				cl.x.keep(ha.r.Attempt, ha.cancel)
			} else {
				ha.cancel()
			}
			cl.finish(ha.cr, ha.tk, ha.r.Attempt, ha.hedge, outcome, ha.lat, ha.err)
			if won || final {
				break // a loser
			}
			if ha.err == nil {
				won = true
				stopOthers()
				break
			}
			cl.lastErr = ha.err
			if me, ok := as[*MovedError](ha.err); ok {
				if moved == nil {
					moved, movedFrom = me, ha.cr.id
				}
				break
			}
			if re, ok := as[*RefusedError](ha.err); ok {
				c.refresh(re.Version)
				if re.Err == ErrCellBehind && cl.ctx.Err() == nil && start(false, ha.cr.id, cl.hops-failovers) {
					break // a cell behind the client's map: routing, not a failure
				}
			}
			if !cl.failsOver(outcome, ha.err) || cl.ctx.Err() != nil {
				final = true
				stopOthers()
				break
			}
			if failovers < cl.hops && start(false, ha.cr.id, cl.hops-failovers-1) {
				failovers++
			}
		case <-tick:
			if !won && !final && hedges < c.cfg.hedges && start(true, oldest(), cl.hops-failovers) {
				hedges++
				timer.Reset(delay)
			} else {
				tick = nil
			}
		}
	}
	switch {
	case won:
		return nil
	case moved != nil && !final:
		return cl.redirect(moved, movedFrom)
	}
	return cl.fail()
}

// runAttempt runs one hedged attempt. It is a function of its own, and not a
// closure over the call, so that the call stays on Do's stack.
func runAttempt(c *Client, x attempter, ha *hedgeAttempt, results chan<- *hedgeAttempt) {
	ha.cr.st.started.Add(1)
	start := c.now()
	ha.err = x.attempt(ha.actx, ha.r)
	ha.end = c.now()
	ha.lat = ha.end - start
	results <- ha
}
