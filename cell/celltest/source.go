package celltest

import (
	"context"
	"fmt"
	"time"

	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
)

// A Source is a source.Refresher on the fleet's control plane. Each client
// needs its own (Fleet.Source makes one): like the real sources, it delivers
// each published map once.
//
// It polls at once on its first Next, at every Config.PollInterval, and on
// Refresh; unless held, a publish or a change of the control plane also
// wakes it at once, so that clients follow the fleet without waiting. While
// the control plane is down every poll reports an error matching
// source.ErrFetch.
type Source struct {
	f       *Fleet
	seq     uint64 // the fleet's publication last delivered
	started bool
	held    chan struct{} // closed: not held
	refresh chan struct{}
}

// Hold makes the source poll only when Refresh asks: its client stays on
// the map it has until it sees a moved reply. Hold(false) ends it.
func (s *Source) Hold(on bool) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
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
func (s *Source) Next(ctx context.Context) (*placement.Map, error) {
	f := s.f
	poll := !s.started
	s.started = true
	timer := time.NewTimer(f.cfg.PollInterval)
	defer timer.Stop()
	for {
		f.mu.Lock()
		down, seq, pub, changed, held := f.down, f.seq, f.pub, f.changed, s.held
		f.mu.Unlock()
		if poll {
			f.polls.Add(1)
			switch {
			case down:
				return nil, &source.SourceError{Source: "celltest", Err: fmt.Errorf("%w: control plane down", source.ErrFetch)}
			case seq > s.seq:
				s.seq = seq
				if pub.err != nil {
					return nil, &source.SourceError{Source: "celltest", Err: pub.err}
				}
				return pub.m, nil
			}
		}
		poll = false
		select {
		case <-held:
			// Not held: a publish or a control-plane change wakes us.
			select {
			case <-changed:
				poll = true
			case <-timer.C:
				poll = true
				timer.Reset(f.cfg.PollInterval)
			case <-s.refresh:
				poll = true
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		default:
			select {
			case <-s.refresh:
				poll = true
			case <-held:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
}
