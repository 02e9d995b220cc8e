package cellgrpc

import (
	"context"
	"strconv"
	"time"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// GuardConfig configures a Guard. Cell and Map are required; every other
// field's zero value is valid.
type GuardConfig struct {
	// Cell is the ID of the cell the Guard protects; required.
	Cell string
	// Map gives the cell's current map: a source.Follower, or anything
	// with a Map method (a fixed map, a cell.Client); required. Map is
	// called once per call and may return nil before the cell has a map,
	// when every call is refused as behind.
	Map interface{ Map() *placement.Map }
	// KeyHeader is the incoming metadata that carries the key. Default
	// MDKey ("cell-key").
	KeyHeader string
	// Classes judges which methods are reads (Owns) and which are writes
	// (OwnsWrite); use the clients' table. Default: the naming rule.
	Classes Classes
	// Stateless says the service keeps no per-key state: the cell accepts
	// every key whose shuffle shard it is in (cell.GuardConfig.Stateless).
	Stateless bool
	// RetryAfter is the retry-after of refusals, rounded up to whole
	// seconds. Default 1 s.
	RetryAfter time.Duration
}

// A Guard is the cell side of the protocol for gRPC servers, as
// cell.Guard is for HTTP: its interceptors pass to the handler only the
// calls whose key the cell owns in its map, and answer the others so that a
// cell-aware client finds the owner (see the package documentation's wire
// format). It is safe for concurrent use.
type Guard struct {
	cfg GuardConfig
}

// NewGuard returns a Guard, or an error matching ErrConfig that names the
// field.
func NewGuard(cfg GuardConfig) (*Guard, error) {
	switch {
	case cfg.Cell == "":
		return nil, configError("GuardConfig.Cell", ErrNoCell)
	case cfg.Map == nil:
		return nil, configError("GuardConfig.Map", ErrNoMap)
	case cfg.RetryAfter < 0:
		return nil, configError("GuardConfig.RetryAfter", errNegative)
	case cfg.RetryAfter == 0:
		cfg.RetryAfter = time.Second
	}
	if cfg.KeyHeader == "" {
		cfg.KeyHeader = MDKey
	}
	g := &Guard{cfg: cfg}
	return g, nil
}

// Unary returns the Guard as a unary server interceptor.
func (g *Guard) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		j := source.JudgeOn(g.cfg.Map) // held until the call returns, as cell.Guard's requests
		defer j.Done()
		if tr, err := g.check(ctx, j.Map(), info.FullMethod); err != nil {
			if tr != nil {
				grpc.SetTrailer(ctx, tr)
			}
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream returns the Guard as a stream server interceptor. It judges a
// stream once, when it starts.
func (g *Guard) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		j := source.JudgeOn(g.cfg.Map)
		defer j.Done()
		if tr, err := g.check(ss.Context(), j.Map(), info.FullMethod); err != nil {
			if tr != nil {
				ss.SetTrailer(tr)
			}
			return err
		}
		return handler(srv, ss)
	}
}

// check judges a call on m as cell.Guard judges a request: nil when the
// cell owns its key, else the status and trailer of the answer.
func (g *Guard) check(ctx context.Context, m *placement.Map, method string) (metadata.MD, error) {
	self := g.cfg.Cell
	if m == nil {
		return Refused(self, cell.ErrCellBehind, g.cfg.RetryAfter, 0)
	}
	key, ok := cell.KeyFromValues(metadata.ValueFromIncomingContext(ctx, g.cfg.KeyHeader))
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "cellgrpc: the call has no key (metadata %q)", g.cfg.KeyHeader)
	}
	var theirs uint64
	if v := metadata.ValueFromIncomingContext(ctx, MDMapVersion); len(v) > 0 {
		n, err := strconv.ParseUint(v[0], 10, 64)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "cellgrpc: malformed %s metadata %q", MDMapVersion, v[0])
		}
		theirs = n
	}
	write := g.cfg.Classes.Of(method) == cell.Write
	switch v := cell.Judge(m, self, key, write, g.cfg.Stateless, theirs); {
	case v.Owned:
		return nil, nil
	case v.Refused != nil:
		return Refused(self, v.Refused, g.cfg.RetryAfter, v.Version)
	default:
		return Moved(self, v.Owner, v.Version)
	}
}
