package source

import (
	"context"
	"math/rand/v2"
	"time"
)

// pacer schedules a polling source's polls: the first at once, then one an
// interval (with jitter) after the end of the last, or sooner on Refresh.
type pacer struct {
	interval time.Duration
	jitter   float64       // fraction of interval, 0 for none
	minGap   time.Duration // shortest time from a poll's end to a refreshed poll
	refresh  chan struct{} // holds one pending Refresh
	end      time.Time     // of the last poll; zero before the first
	due      time.Time     // of the next poll without Refresh
}

func newPacer(interval, minGap time.Duration, jitter float64) pacer {
	return pacer{interval: interval, jitter: jitter, minGap: min(minGap, interval), refresh: make(chan struct{}, 1)}
}

func (p *pacer) wake() {
	select {
	case p.refresh <- struct{}{}:
	default:
	}
}

// wait blocks until the next poll may start or ctx is done.
func (p *pacer) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	at := p.due
	for !p.end.IsZero() {
		d := time.Until(at)
		if d <= 0 {
			break
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		case <-p.refresh:
			t.Stop()
			if soon := p.end.Add(p.minGap); soon.Before(at) {
				at = soon
			}
		}
	}
	// The poll about to start answers every Refresh made until now.
	select {
	case <-p.refresh:
	default:
	}
	return nil
}

// done records the end of a poll and schedules the next.
func (p *pacer) done() {
	p.end = time.Now()
	d := p.interval
	if p.jitter > 0 {
		d = time.Duration(float64(d) * (1 + p.jitter*(2*rand.Float64()-1)))
	}
	p.due = p.end.Add(d)
}
