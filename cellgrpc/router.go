package cellgrpc

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/cellkit/cellkit/cell"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// RouterConfig configures a Router. Client is required; every other
// field's zero value is valid.
type RouterConfig struct {
	// Client routes the calls: Do, its breakers, budget and map; required.
	Client *cell.Client
	// KeyHeader is the outgoing metadata in which a call's key is found
	// when its context has none from WithKey. Default MDKey ("cell-key").
	// It is sent as it is, so the cell's Guard finds the key in it too.
	KeyHeader string
	// Classes overrides the naming rule for the classes of methods (see
	// Classes). A class put in the call's context with cell.WithClass
	// overrides both. Default: the naming rule alone.
	Classes Classes
}

// A Router makes a grpc.ClientConn cell-aware: its interceptors run each
// call through its cell.Client's Do, and its resolver feeds the "cellkit"
// balancer with the client's map. It is safe for concurrent use.
type Router struct {
	c         *cell.Client
	keyHeader string
	classes   Classes
	ver       atomic.Pointer[versionString]
}

type versionString struct {
	v uint64
	s string
}

// NewRouter returns a Router, or an error matching ErrConfig.
func NewRouter(cfg RouterConfig) (*Router, error) {
	if cfg.Client == nil {
		return nil, configError("RouterConfig.Client", ErrNoClient)
	}
	if cfg.KeyHeader == "" {
		cfg.KeyHeader = MDKey
	}
	return &Router{c: cfg.Client, keyHeader: cfg.KeyHeader, classes: cfg.Classes}, nil
}

// Client returns the Router's cell.Client.
func (rt *Router) Client() *cell.Client { return rt.c }

// DialOptions returns what makes a grpc.ClientConn cell-aware: the
// resolver of the scheme "cellkit" on the Router's client, the "cellkit"
// balancer in the default service config, the interceptors, and gRPC's own
// retries off (see the package documentation). Dial the target Target.
func (rt *Router) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithResolvers(&resolverBuilder{c: rt.c}),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithDisableRetry(),
		grpc.WithChainUnaryInterceptor(rt.Unary()),
		grpc.WithChainStreamInterceptor(rt.Stream()),
	}
}

// NewClient returns a cell-aware grpc.ClientConn on Target with
// DialOptions and opts (which must give the transport credentials, as for
// grpc.NewClient). Its calls need a key: see WithKey.
func (rt *Router) NewClient(opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.NewClient(Target, append(rt.DialOptions(), opts...)...)
}

type keyCtx struct{}

// WithKey returns a context whose calls on a cell-aware channel are routed
// by key. It takes precedence over the key metadata (RouterConfig.KeyHeader),
// and is sent to the cell in that metadata.
func WithKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, keyCtx{}, key)
}

// keyOf finds the call's key: from WithKey, else from the outgoing metadata.
func (rt *Router) keyOf(ctx context.Context) (key string, fromCtx bool) {
	if k, ok := ctx.Value(keyCtx{}).(string); ok && k != "" {
		return k, true
	}
	// The Guard reads the metadata by the same rule (cell.KeyFromValues),
	// so client and cell agree on the key or the call is not sent.
	k, _ := cell.KeyFromValues(metadata.ValueFromOutgoingContext(ctx, rt.keyHeader))
	return k, false
}

// classOf is the call's class: from the context, else from the table.
func (rt *Router) classOf(ctx context.Context, method string) cell.Class {
	if c, ok := cell.ClassFrom(ctx); ok {
		return c
	}
	return rt.classes.Of(method)
}

func (rt *Router) version(v uint64) string {
	if p := rt.ver.Load(); p != nil && p.v == v {
		return p.s
	}
	s := strconv.FormatUint(v, 10)
	rt.ver.Store(&versionString{v: v, s: s})
	return s
}

func (rt *Router) noKey(method string) error {
	return &StatusError{Code: codes.InvalidArgument,
		Err: fmt.Errorf("%w in call %s: give one with cellgrpc.WithKey or metadata %q", cell.ErrNoKey, method, rt.keyHeader)}
}

// An attempt is the context of one attempt: the route Do chose, which the
// balancer's picker reads. Being the context itself saves an allocation
// per attempt.
type attempt struct {
	context.Context
	route cell.Route
}

type attemptKey struct{}

func (a *attempt) Value(k any) any {
	if k == (attemptKey{}) {
		return a
	}
	return a.Context.Value(k)
}

func attemptOf(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

// attemptContext makes a the context of an attempt at r: the route for
// the picker, and the cell protocol's metadata (and the key's, when it came
// from WithKey) in the outgoing context it returns.
func (rt *Router) attemptContext(a *attempt, ctx context.Context, r cell.Route, keyFromCtx bool) context.Context {
	a.Context, a.route = ctx, r
	if keyFromCtx {
		return metadata.AppendToOutgoingContext(a, MDCell, r.Cell, MDMapVersion, rt.version(r.Version), rt.keyHeader, r.Key)
	}
	return metadata.AppendToOutgoingContext(a, MDCell, r.Cell, MDMapVersion, rt.version(r.Version))
}

// Unary returns the unary client interceptor: each call runs through Do
// with its key and class, and each attempt goes to the cell Do chose. See
// the package documentation.
func (rt *Router) Unary() grpc.UnaryClientInterceptor { return rt.unary }

func (rt *Router) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	key, fromCtx := rt.keyOf(ctx)
	if key == "" {
		return rt.noKey(method)
	}
	u := unaryCall{rt: rt, ctx: ctx, method: method, req: req, reply: reply, cc: cc, invoker: invoker, opts: opts, fromCtx: fromCtx}
	err := rt.c.Do(ctx, key, rt.classOf(ctx, method), u.attempt)
	if err != nil {
		return callError(err)
	}
	return u.result()
}

// unaryCall is one unary call through Do.
type unaryCall struct {
	rt      *Router
	ctx     context.Context
	method  string
	req     any
	reply   any
	cc      *grpc.ClientConn
	invoker grpc.UnaryInvoker
	opts    []grpc.CallOption
	fromCtx bool

	running atomic.Int32
	serial  sync.Mutex // taken by each attempt when reply is not a proto.Message
	first   attempt    // the first attempt's context, allocated with the call
	mu      sync.Mutex
	won     bool
	answer  error // the winner's status: the application's answer
	private any   // the winner's reply, when it was not written into reply
}

// attempt is Do's fn. A hedge, which runs beside another attempt of the
// call, writes into a reply of its own, copied into the caller's if it wins
// (replies that are not protocol buffers are not hedged).
func (u *unaryCall) attempt(ctx context.Context, r cell.Route) error {
	if r.Endpoint == "" {
		return fmt.Errorf("%w: %q", cell.ErrNoEndpoint, r.Cell)
	}
	reply := u.reply
	hedge := u.running.Add(1) > 1
	defer u.running.Add(-1)
	if m, ok := u.reply.(proto.Message); !ok {
		// Nowhere to put a second reply: the attempts take turns, so a
		// hedge waits for the attempt before it, and goes on only if that
		// one failed (as a failover would).
		u.serial.Lock()
		defer u.serial.Unlock()
		u.mu.Lock()
		won := u.won
		u.mu.Unlock()
		if won {
			// The attempt before won: Do is about to cancel this one.
			<-ctx.Done()
			return ctx.Err()
		}
		hedge = false
	} else if hedge {
		reply = m.ProtoReflect().New().Interface()
	}
	a := &u.first
	if r.Attempt > 0 {
		a = new(attempt)
	}
	octx := u.rt.attemptContext(a, ctx, r, u.fromCtx)
	err := u.invoker(octx, u.method, u.req, reply, u.cc, u.opts...)
	awaitDeadline(ctx, err)
	if err != nil && ctx.Err() != nil {
		return err // whatever came back, the attempt's time was up: Do judges
	}
	o := judgeReply(u.ctx, r, err, nil)
	if !o.answer {
		return o.err
	}
	u.mu.Lock()
	if !u.won {
		u.won, u.answer = true, err
		if hedge {
			u.private = reply
		}
	}
	u.mu.Unlock()
	return nil
}

// result is the call's answer once Do succeeded.
func (u *unaryCall) result() error {
	if u.private != nil {
		dst := u.reply.(proto.Message)
		proto.Reset(dst)
		proto.Merge(dst, u.private.(proto.Message))
	}
	return u.answer
}
