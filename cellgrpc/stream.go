package cellgrpc

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/cellkit/cellkit/cell"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Stream returns the stream client interceptor: a stream is routed by its
// key when it starts, through Do, and fails over (or follows a moved reply)
// only until its first message is received. See the package documentation.
func (rt *Router) Stream() grpc.StreamClientInterceptor { return rt.stream }

func (rt *Router) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	key, fromCtx := rt.keyOf(ctx)
	if key == "" {
		return nil, rt.noKey(method)
	}
	s := &clientStream{
		rt: rt, ctx: ctx, desc: desc, cc: cc, method: method, streamer: streamer, opts: opts, fromCtx: fromCtx,
		turn: make(chan struct{}, 1), next: make(chan *streamAttempt), done: make(chan struct{}),
	}
	class := rt.classOf(ctx, method)
	go func() {
		s.err = callError(rt.c.Do(ctx, key, class, s.attempt))
		close(s.done)
	}()
	select {
	case a := <-s.next:
		s.cur = a
		return s, nil
	case <-s.done:
		if s.err != nil {
			return nil, s.err
		}
		return nil, s.startErr
	}
}

// A clientStream is a stream through Do. Until its first message is
// received, Do's goroutine waits in attempt for the verdict of the caller's
// first RecvMsg, and may hand over a stream to another cell, to which the
// messages sent so far are sent again. After it, the stream is the cell's.
type clientStream struct {
	rt       *Router
	ctx      context.Context
	desc     *grpc.StreamDesc
	cc       *grpc.ClientConn
	method   string
	streamer grpc.Streamer
	opts     []grpc.CallOption
	fromCtx  bool

	turn chan struct{}       // one attempt at a time: a stream is not hedged
	won  atomic.Bool         // an attempt succeeded: those waiting their turn are dropped
	next chan *streamAttempt // Do's goroutine hands each attempt's stream over
	done chan struct{}       // closed when Do has returned
	err  error               // Do's, set before done is closed
	// startErr is the application's status with which the stream ended as
	// it was being opened.
	startErr error

	sendMu     sync.Mutex // held by SendMsg and CloseSend, and to switch streams
	mu         sync.Mutex
	cur        *streamAttempt
	committed  bool
	sent       []any // the messages sent before the first was received
	closedSend bool
}

// A streamAttempt is the stream of one attempt.
type streamAttempt struct {
	cs      grpc.ClientStream
	a       *attempt
	actx    context.Context // Do's context of the attempt
	cancel  context.CancelFunc
	verdict chan error // the first receive's verdict, at most one; never blocks
}

// attempt is Do's fn: it opens the stream at r's cell, hands it to the
// caller, and waits for the verdict of its first receive.
func (s *clientStream) attempt(actx context.Context, r cell.Route) error {
	if r.Endpoint == "" {
		return fmt.Errorf("%w: %q", cell.ErrNoEndpoint, r.Cell)
	}
	select {
	case s.turn <- struct{}{}:
	case <-actx.Done():
		return actx.Err()
	}
	defer func() { <-s.turn }()
	if s.won.Load() {
		// The attempt before won: Do is about to cancel this one.
		<-actx.Done()
		return actx.Err()
	}
	// The stream outlives the attempt's context, whose deadline bounds it
	// only until its first message.
	sctx, cancel := context.WithCancel(s.ctx)
	stop := context.AfterFunc(actx, cancel)
	a := new(attempt)
	octx := s.rt.attemptContext(a, sctx, r, s.fromCtx)
	cs, err := s.streamer(octx, s.desc, s.cc, s.method, s.opts...)
	awaitDeadline(actx, err)
	if err != nil {
		stop()
		cancel()
		if actx.Err() != nil {
			return err // the attempt's time was up: Do judges
		}
		o := judgeReply(s.ctx, r, err, nil)
		if o.answer {
			s.startErr = err
		}
		return o.err
	}
	sa := &streamAttempt{cs: cs, a: a, actx: actx, cancel: cancel, verdict: make(chan error, 1)}
	select {
	case s.next <- sa:
	case <-actx.Done():
		stop()
		cancel()
		return actx.Err()
	}
	select {
	case err := <-sa.verdict:
		if err == nil {
			stop()
			s.won.Store(true)
			return nil
		}
		stop()
		cancel()
		return err
	case <-actx.Done():
		// The attempt's deadline (AfterFunc cancels the stream) or the
		// caller's end.
		return actx.Err()
	}
}

func (s *clientStream) current() *streamAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

func (s *clientStream) Header() (metadata.MD, error) { return s.current().cs.Header() }
func (s *clientStream) Trailer() metadata.MD         { return s.current().cs.Trailer() }
func (s *clientStream) Context() context.Context     { return s.current().cs.Context() }

func (s *clientStream) CloseSend() error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	s.closedSend = true
	cur := s.cur
	s.mu.Unlock()
	return cur.cs.CloseSend()
}

func (s *clientStream) SendMsg(m any) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	committed, cur := s.committed, s.cur
	if !committed {
		s.sent = append(s.sent, m)
	}
	s.mu.Unlock()
	err := cur.cs.SendMsg(m)
	if err == io.EOF && !committed {
		// The stream ended: RecvMsg tells how, and a failover sends m
		// again.
		return nil
	}
	return err
}

func (s *clientStream) RecvMsg(m any) error {
	s.mu.Lock()
	committed, cur := s.committed, s.cur
	s.mu.Unlock()
	if committed {
		err := cur.cs.RecvMsg(m)
		if err != nil {
			cur.cancel()
		}
		return err
	}
	for {
		err := cur.cs.RecvMsg(m)
		awaitDeadline(cur.actx, err)
		var o outcome
		switch {
		case err == nil || err == io.EOF:
			o.answer = true
		case cur.actx.Err() != nil:
			o.err = err // the attempt's time was up: Do judges
		default:
			o = judgeReply(s.ctx, cur.a.route, err, cur.cs.Trailer())
		}
		if o.answer {
			cur.verdict <- nil
			<-s.done
			s.mu.Lock()
			s.committed, s.sent = true, nil
			s.mu.Unlock()
			if err != nil {
				cur.cancel()
			}
			return err
		}
		cur.verdict <- o.err
		select {
		case next := <-s.next:
			s.switchTo(next)
			cur = next
		case <-s.done:
			s.mu.Lock()
			s.committed = true
			s.mu.Unlock()
			if s.err == nil {
				return err
			}
			return s.err
		}
	}
}

// switchTo makes next the stream, sending it what was sent so far.
func (s *clientStream) switchTo(next *streamAttempt) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	s.cur = next
	sent, closed := s.sent, s.closedSend
	s.mu.Unlock()
	for _, m := range sent {
		if next.cs.SendMsg(m) != nil {
			break // the stream ended: its RecvMsg tells how
		}
	}
	if closed {
		next.cs.CloseSend()
	}
}
