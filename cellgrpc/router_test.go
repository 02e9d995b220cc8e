package cellgrpc_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/cellgrpc"
	"github.com/cellkit/cellkit/cellgrpc/cellgrpctest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// codeService answers PutCode with the status code its request names, and
// records the metadata of the calls it sees.
type codeService struct {
	mu  sync.Mutex
	mds []metadata.MD
}

func (s *codeService) register(id string, srv *grpc.Server) {
	cellgrpctest.Register(srv, id)
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "t.Codes",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "PutCode", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) {
				md, _ := metadata.FromIncomingContext(ctx)
				s.mu.Lock()
				s.mds = append(s.mds, md)
				s.mu.Unlock()
				n, _ := strconv.Atoi(in.GetValue())
				if n == slowOK {
					time.Sleep(300 * time.Millisecond)
					n = 0
				}
				if dl, ok := ctx.Deadline(); ok && codes.Code(n) == codes.DeadlineExceeded {
					// The cell's timer fires first: it got the deadline.
					time.Sleep(time.Until(dl) - 30*time.Millisecond)
				}
				if n == 0 {
					return wrapperspb.String(id), nil
				}
				return nil, status.Errorf(codes.Code(n), "cell %s says %v", id, codes.Code(n))
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/t.Codes/PutCode"}, h)
		}}},
	}, nil)
}

// slowOK asks codeService for OK after 300 ms.
const slowOK = 1000

func putCode(ctx context.Context, cc grpc.ClientConnInterface, code codes.Code) (string, error) {
	out := new(wrapperspb.StringValue)
	err := cc.Invoke(ctx, "/t.Codes/PutCode", wrapperspb.String(strconv.Itoa(int(code))), out)
	return out.GetValue(), err
}

// The codes are judged as the package documentation's table says: the
// application's answers are returned as they are, fail nothing over and
// count no failure; RESOURCE_EXHAUSTED is the cell's pushback: no failure,
// the cell held, a failover where the class allows; UNAVAILABLE is the
// cell's failure, and fails over when the class allows.
func TestStatusCodesJudged(t *testing.T) {
	svc := &codeService{}
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 6, ShardSize: 3, Stateless: true, Register: svc.register,
		Client: cell.Config{Breakers: breaker.Config{ConsecutiveFailures: 1000}}})
	c := f.Client()
	k := f.Keys(1)[0]
	ctx := cellgrpc.WithKey(context.Background(), k)
	sctx := cell.WithClass(ctx, cell.Stateless)
	home := homeOf(t, f, k)
	for _, code := range []codes.Code{codes.NotFound, codes.PermissionDenied, codes.Internal,
		codes.FailedPrecondition, codes.Aborted, codes.Unknown} {
		before := c.Stats()
		_, err := putCode(sctx, f.Conn(), code)
		var ce *cell.CallError
		if status.Code(err) != code || errors.As(err, &ce) {
			t.Fatalf("%v: %v; want the application's %v as it is", code, err, code)
		}
		after := c.Stats()
		if after.Retries != before.Retries || failures(after, home) != failures(before, home) {
			t.Fatalf("%v: counted as a failure or failed over", code)
		}
	}
	before := c.Stats()
	_, err := putCode(sctx, f.Conn(), codes.ResourceExhausted)
	if status.Code(err) != codes.ResourceExhausted || !errors.Is(err, cell.ErrOverloaded) {
		t.Fatalf("RESOURCE_EXHAUSTED: %v; want the cell's pushback, reported as RESOURCE_EXHAUSTED", err)
	}
	after := c.Stats()
	if failures(after, home) != failures(before, home) || after.Retries != before.Retries+1 || held(after, home) <= 0 {
		t.Fatalf("RESOURCE_EXHAUSTED: failures %d→%d, retries %d→%d, held %v; want no failure, one failover, the cell held",
			failures(before, home), failures(after, home), before.Retries, after.Retries, held(after, home))
	}
	// While the pushback holds the home, a write there is refused at once,
	// as retryable, without reaching it.
	if _, err := putCode(ctx, f.Conn(), codes.OK); status.Code(err) != codes.ResourceExhausted || !errors.Is(err, cell.ErrOverloaded) {
		t.Fatalf("write to a held cell: %v; want RESOURCE_EXHAUSTED matching cell.ErrOverloaded", err)
	}
	// The hold ends after the default second (jittered): the rest of the
	// test needs the home back.
	for deadline := time.Now().Add(5 * time.Second); held(c.Stats(), home) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the pushback still holds %s after 5 s", home)
		}
		time.Sleep(50 * time.Millisecond)
	}
	before = c.Stats()
	_, err = putCode(sctx, f.Conn(), codes.Unavailable)
	var ce *cell.CallError
	if status.Code(err) != codes.Unavailable || !errors.As(err, &ce) || len(ce.Tried) != 2 {
		t.Fatalf("UNAVAILABLE: %v; want a CallError after one failover", err)
	}
	if after := c.Stats(); failures(after, home) != failures(before, home)+1 || after.Retries != before.Retries+1 {
		t.Fatalf("UNAVAILABLE: failures %d→%d, retries %d→%d", failures(before, home), failures(after, home), before.Retries, after.Retries)
	}
	// Writes do not fail over.
	if _, err := putCode(ctx, f.Conn(), codes.Unavailable); !errors.As(err, &ce) || len(ce.Tried) != 1 || ce.Tried[0] != home {
		t.Fatalf("UNAVAILABLE on a write: %v; want one attempt at %s", err, home)
	}
}

func held(st cell.Stats, id string) time.Duration {
	for _, cs := range st.Cells {
		if cs.Cell == id {
			return cs.Held
		}
	}
	return 0
}

func failures(st cell.Stats, id string) uint64 {
	for _, cs := range st.Cells {
		if cs.Cell == id {
			return cs.Failures
		}
	}
	return 0
}

// Every attempt carries the cell's ID and the map's version; the key comes
// from WithKey or from the key metadata, and a call without one is refused
// before anything is sent.
func TestAttemptMetadataAndKeys(t *testing.T) {
	svc := &codeService{}
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 3, Register: svc.register})
	k := f.Keys(1)[0]
	home := homeOf(t, f, k)
	if _, err := putCode(cellgrpc.WithKey(context.Background(), k), f.Conn(), codes.OK); err != nil {
		t.Fatal(err)
	}
	if _, err := putCode(metadata.AppendToOutgoingContext(context.Background(), "cell-key", k), f.Conn(), codes.OK); err != nil {
		t.Fatal(err)
	}
	svc.mu.Lock()
	for _, md := range svc.mds {
		if got := md.Get("cell-id"); len(got) != 1 || got[0] != home {
			t.Errorf("cell-id %q; want %s", got, home)
		}
		if got := md.Get("cell-map-version"); len(got) != 1 || got[0] != "1" {
			t.Errorf("cell-map-version %q; want 1", got)
		}
		if got := md.Get("cell-key"); len(got) != 1 || got[0] != k {
			t.Errorf("cell-key %q; want %s", got, k)
		}
	}
	n := len(svc.mds)
	svc.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d calls reached the cells; want 2", n)
	}
	_, err := putCode(context.Background(), f.Conn(), codes.OK)
	if !errors.Is(err, cell.ErrNoKey) || status.Code(err) != codes.InvalidArgument {
		t.Fatalf("no key: %v; want ErrNoKey, INVALID_ARGUMENT", err)
	}
	if _, err := cellgrpctest.List(context.Background(), f.Conn(), 1); !errors.Is(err, cell.ErrNoKey) {
		t.Fatalf("stream without a key: %v; want ErrNoKey", err)
	}
}

// Hedged unary calls: a slow first cell, the hedge wins, and its reply is
// the one the caller gets (run with -race: the attempts write to replies of
// their own).
func TestHedgedUnary(t *testing.T) {
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 4, ShardSize: 2, Stateless: true,
		Client: cell.Config{Hedge: cell.Hedge{Delay: 20 * time.Millisecond}}})
	slowKeys := 0
	for _, k := range f.Keys(30) {
		a, _ := f.Map().Locate(k)
		f.Cell(a.Shard[0]).Slow(2 * time.Second)
		ctx, cancel := context.WithTimeout(cell.WithClass(cellgrpc.WithKey(context.Background(), k), cell.Stateless), 10*time.Second)
		got, err := cellgrpctest.Get(ctx, f.Conn())
		cancel()
		f.Cell(a.Shard[0]).Recover()
		if err != nil || got != a.Shard[1] {
			t.Fatalf("hedged Get %q = %q, %v; want the hedge's answer from %s", k, got, err, a.Shard[1])
		}
		slowKeys++
	}
	if slowKeys == 0 {
		t.Fatal("no key tested")
	}
}

// A stream fails over only before its first message: a Stateless
// server-streaming call whose first cell fails is served by the next.
func TestStreamFailover(t *testing.T) {
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 4, ShardSize: 2, Stateless: true})
	k := f.Keys(1)[0]
	a, _ := f.Map().Locate(k)
	f.Cell(a.Shard[0]).Fail()
	ctx := cell.WithClass(cellgrpc.WithKey(context.Background(), k), cell.Stateless)
	got, err := cellgrpctest.List(ctx, f.Conn(), 3)
	if err != nil || len(got) != 3 || got[0] != a.Shard[1] {
		t.Fatalf("List = %q, %v; want 3 items from %s", got, err, a.Shard[1])
	}
	chat, err := cellgrpctest.Chat(ctx, f.Conn(), "x", "y")
	if err != nil || len(chat) != 2 || chat[0] != a.Shard[1]+":x" {
		t.Fatalf("Chat = %q, %v; want answers from %s, the first message sent again", chat, err, a.Shard[1])
	}
	// After its first message a stream is the cell's: a failure then is
	// the stream's error, not a failover.
	f.Cell(a.Shard[0]).Recover()
	s, err := f.Conn().NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, cellgrpctest.MethodChat)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SendMsg(wrapperspb.String("1")); err != nil {
		t.Fatal(err)
	}
	first := new(wrapperspb.StringValue)
	if err := s.RecvMsg(first); err != nil || first.GetValue() != a.Shard[0]+":1" {
		t.Fatalf("first message %q, %v; want from %s", first.GetValue(), err, a.Shard[0])
	}
	f.Cell(a.Shard[0]).Stop()
	if err := s.RecvMsg(new(wrapperspb.StringValue)); status.Code(err) != codes.Unavailable {
		t.Fatalf("after the cell stopped: %v; want UNAVAILABLE", err)
	}
}

// A cell that answers DEADLINE_EXCEEDED a little before the caller's own
// deadline (gRPC sends the deadline along, and the cell's timer may fire
// first) has run out of the caller's time: judged as the caller's deadline
// cutting the attempt, which is Ignored for a cell whose healthy latency is
// of that order, not as the cell ending the call while the caller waits.
// With an attempt deadline of its own, the same answer is the cell's
// failure.
func TestCellDeadlineBeforeCallers(t *testing.T) {
	svc := &codeService{}
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 2, Register: svc.register})
	k := f.Keys(1)[0]
	home := homeOf(t, f, k)
	// The cell's healthy latency: 300 ms.
	if _, err := putCode(cellgrpc.WithKey(context.Background(), k), f.Conn(), slowOK); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ctx, cancel := context.WithTimeout(cellgrpc.WithKey(context.Background(), k), 200*time.Millisecond)
		_, err := putCode(ctx, f.Conn(), codes.DeadlineExceeded)
		cancel()
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("%v; want DEADLINE_EXCEEDED", err)
		}
	}
	if n := failures(f.Client().Stats(), home); n != 0 {
		t.Fatalf("%s counts %d failures for the caller's deadline", home, n)
	}
	c, conn, err := f.NewClient(cell.Config{AttemptTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	<-c.Ready()
	ctx, cancel := context.WithTimeout(cellgrpc.WithKey(context.Background(), k), 10*time.Second)
	defer cancel()
	if _, err := putCode(ctx, conn, codes.DeadlineExceeded); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("%v; want DEADLINE_EXCEEDED", err)
	}
	if n := failures(c.Stats(), home); n != 1 {
		t.Fatalf("%s counts %d failures for the attempt's own deadline; want 1", home, n)
	}
}

// A stream is not hedged: with hedging on, a Stateless stream whose first
// cell is slow still gets its answer from that cell, once, and the hedge
// that waited for it is dropped.
func TestStreamNotHedged(t *testing.T) {
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 4, ShardSize: 2, Stateless: true,
		Client: cell.Config{Hedge: cell.Hedge{Delay: 10 * time.Millisecond}}})
	k := f.Keys(1)[0]
	a, _ := f.Map().Locate(k)
	first, second := f.Cell(a.Shard[0]), f.Cell(a.Shard[1])
	first.Slow(100 * time.Millisecond)
	ctx := cell.WithClass(cellgrpc.WithKey(context.Background(), k), cell.Stateless)
	got, err := cellgrpctest.List(ctx, f.Conn(), 2)
	if err != nil || len(got) != 2 || got[0] != first.ID() {
		t.Fatalf("List = %q, %v; want 2 items from %s", got, err, first.ID())
	}
	if n := second.Requests(); n != 0 {
		t.Fatalf("the hedge reached %s %d times; want none", second.ID(), n)
	}
}

// The router and the Guard read a key from metadata by one rule
// (cell.KeyFromValues, as KeyFromHeader over HTTP): blanks around it are
// not part of it, so a padded key is routed to, and accepted by, its home;
// two values are no key, refused before anything is sent.
func TestMetadataKeyOneRule(t *testing.T) {
	svc := &codeService{}
	f := cellgrpctest.NewFleet(t, cellgrpctest.Config{Cells: 3, Register: svc.register})
	k := f.Keys(1)[0]
	home := homeOf(t, f, k)
	got, err := putCode(metadata.AppendToOutgoingContext(context.Background(), "cell-key", "  "+k+" "), f.Conn(), codes.OK)
	if err != nil || got != home {
		t.Fatalf("padded key %q: served by %q, %v; want its home %s", "  "+k+" ", got, err, home)
	}
	_, err = putCode(metadata.AppendToOutgoingContext(context.Background(), "cell-key", k, "cell-key", k+"x"), f.Conn(), codes.OK)
	if status.Code(err) != codes.InvalidArgument || !errors.Is(err, cell.ErrNoKey) {
		t.Fatalf("two key values: %v; want INVALID_ARGUMENT matching cell.ErrNoKey", err)
	}
}
