package celltest

import (
	"context"
	"fmt"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// A Source is a source.Refresher on a fleet's ControlPlane. Each client
// needs its own (Fleet.Source and ControlPlane.Source make one): like the real sources, it delivers
// each published map once.
//
// It polls at once on its first Next, at every Config.PollInterval, and on
// Refresh; unless held, a publish or a change of the control plane also
// makes it poll at once, whether it lands while Next waits or between two
// calls of Next (the next call then polls without waiting), so that clients
// follow the fleet without waiting. While the control plane is down every
// poll reports an error matching source.ErrFetch.
type Source struct {
	cp      *ControlPlane
	seq     uint64 // the control plane's publication last delivered
	gen     uint64 // the control plane's generation at the last poll
	started bool
	held    chan struct{} // closed: not held
	refresh chan struct{}
}

// Hold makes the source poll only when Refresh asks: its client stays on
// the map it has until it sees a moved reply. Hold(false) ends it, and the
// changes made while it was held make the source poll at once.
func (s *Source) Hold(on bool) {
	s.cp.mu.Lock()
	defer s.cp.mu.Unlock()
	select {
	case <-s.held:
		if on {
			s.held = make(chan struct{})
		}
	default:
		if !on {
			close(s.held)
		}
	}
}

// Refresh asks for a poll now. It does not block and calls coalesce.
func (s *Source) Refresh() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// Next returns the next publication of the fleet; see source.Source.
//
// The fleet's generation counts its publications and control-plane changes;
// Next polls whenever it differs from the one of the source's last poll.
// That, not only the fleet's changed channel (which wakes a Next that is
// waiting), is what catches a change made between two calls of Next: the
// channel a later Next waits on is already the next one.
func (s *Source) Next(ctx context.Context) (*placement.Map, error) {
	f := s.cp
	poll := !s.started
	s.started = true
	timer := time.NewTimer(f.cfg.PollInterval)
	defer timer.Stop()
	for {
		f.mu.Lock()
		down, seq, pub, gen, changed, held := f.down, f.seq, f.pub, f.gen, f.changed, s.held
		f.mu.Unlock()
		isHeld := true
		select {
		case <-held:
			isHeld = false
		default:
		}
		if !isHeld && gen != s.gen {
			poll = true
		}
		if poll {
			s.gen = gen
			f.polls.Add(1)
			switch {
			case down:
				return nil, &source.SourceError{Source: f.cfg.Name, Err: fmt.Errorf("%w: control plane down", source.ErrFetch)}
			case seq > s.seq:
				s.seq = seq
				if pub.err != nil {
					return nil, &source.SourceError{Source: f.cfg.Name, Err: pub.err}
				}
				return pub.m, nil
			}
		}
		poll = false
		if !isHeld {
			select {
			case <-changed:
			case <-timer.C:
				poll = true
				timer.Reset(f.cfg.PollInterval)
			case <-s.refresh:
				poll = true
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			continue
		}
		select {
		case <-s.refresh:
			poll = true
		case <-held: // released: the generation tells whether to poll
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
