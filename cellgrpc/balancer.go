package cellgrpc

import (
	"context"
	"net"
	"net/url"
	"sync"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
	"google.golang.org/grpc/status"
)

// Name is the name of the balancer in the service config.
const Name = "cellkit"

// Scheme is the scheme of the Router's resolver, and Target a target on it.
const (
	Scheme = "cellkit"
	Target = Scheme + ":///cells"
)

const serviceConfig = `{"loadBalancingConfig":[{"` + Name + `":{}}]}`

// gRPC registers balancers in a process-wide table that it reads while it
// parses service configs, and asks that they be registered at init time
// only: this is the package's one init, and its builder is stateless (each
// channel's state comes through its resolver).
func init() { balancer.Register(builder{}) }

// builder builds the "cellkit" balancer.
type builder struct{}

func (builder) Name() string { return Name }

func (builder) Build(cc balancer.ClientConn, _ balancer.BuildOptions) balancer.Balancer {
	return &cellBalancer{cc: cc, conns: make(map[connKey]*subConn)}
}

// The resolver's attribute that carries the channel's client.
type clientAttr struct{}

// The resolver's attribute that carries the version of the map it saw, so
// that every swap is a new state.
type versionAttr struct{}

// resolverBuilder builds the resolver of Scheme for one Router.
type resolverBuilder struct{ c *cell.Client }

func (b *resolverBuilder) Scheme() string { return Scheme }

func (b *resolverBuilder) Build(_ resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	r := &cellResolver{c: b.c, cc: cc, stop: make(chan struct{})}
	r.sc = cc.ParseServiceConfig(serviceConfig)
	go r.run()
	return r, nil
}

// A cellResolver tells the balancer of every map swap of its client.
type cellResolver struct {
	c    *cell.Client
	cc   resolver.ClientConn
	sc   *serviceconfig.ParseResult
	stop chan struct{}
	once sync.Once
}

func (r *cellResolver) run() {
	for {
		swapped := r.c.Swapped()
		var v uint64
		if m := r.c.Map(); m != nil {
			v = m.Version()
		}
		r.cc.UpdateState(resolver.State{
			ServiceConfig: r.sc,
			Attributes:    attributes.New(clientAttr{}, r.c).WithValue(versionAttr{}, v),
		})
		select {
		case <-swapped:
		case <-r.stop:
			return
		}
	}
}

func (r *cellResolver) ResolveNow(resolver.ResolveNowOptions) {}

// Close stops the resolver's goroutine. It does not wait for it: gRPC may
// call Close while holding what UpdateState needs, and drops updates after
// Close.
func (r *cellResolver) Close() { r.once.Do(func() { close(r.stop) }) }

// A connKey is one endpoint of one cell.
type connKey struct{ cell, url string }

// A subConn is the balancer's connection to one endpoint of one cell.
type subConn struct {
	key   connKey
	sc    balancer.SubConn
	state connectivity.State
	// failed: the last attempt to connect failed, and none has succeeded
	// since. Picks for a cell whose connections have all failed fail at
	// once, like a refused connection over HTTP.
	failed bool
	gone   bool
}

// cellBalancer is the "cellkit" balancer of one channel. gRPC calls its
// methods, and the subconns' listeners, from one goroutine.
type cellBalancer struct {
	cc      balancer.ClientConn
	c       *cell.Client
	conns   map[connKey]*subConn
	version uint64
}

func (b *cellBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	c, _ := s.ResolverState.Attributes.Value(clientAttr{}).(*cell.Client)
	if c == nil {
		b.cc.UpdateState(balancer.State{ConnectivityState: connectivity.TransientFailure,
			Picker: errPicker{status.Error(codes.Unavailable, "cellgrpc: the channel's resolver is not a Router's: dial cellgrpc.Target with Router.DialOptions")}})
		return balancer.ErrBadResolverState
	}
	b.c = c
	b.sync()
	return nil
}

// sync makes the connections those of the map in force: one per endpoint
// the client would call each cell at (its zone's first), none for disabled
// cells. Connections to the endpoints that stay are kept as they are.
func (b *cellBalancer) sync() {
	m := b.c.Map()
	want := make(map[connKey]bool)
	if m != nil {
		for _, id := range m.AppendCellIDs(nil) {
			if st, _ := m.CellState(id); st == placement.Disabled {
				continue
			}
			urls, _, _ := b.c.Endpoints(id)
			for _, u := range urls {
				want[connKey{id, u}] = true
			}
		}
		b.version = m.Version()
	}
	for k, s := range b.conns {
		if !want[k] {
			s.gone = true
			s.sc.Shutdown()
			delete(b.conns, k)
		}
	}
	for k := range want {
		if b.conns[k] != nil {
			continue
		}
		addr, ok := address(k.url)
		if !ok {
			continue
		}
		s := &subConn{key: k, state: connectivity.Idle}
		//lint:ignore SA1019 the only way to make a SubConn; "deprecated" warns that a SubConn will take one address, as it does here
		sc, err := b.cc.NewSubConn([]resolver.Address{{Addr: addr}}, balancer.NewSubConnOptions{
			StateListener: func(st balancer.SubConnState) { b.update(s, st) },
		})
		if err != nil {
			continue
		}
		s.sc = sc
		b.conns[k] = s
		sc.Connect()
	}
	b.publish()
}

// address is the host:port of an endpoint URL (its path prefix, which gRPC
// has no use for, dropped).
func address(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false
	}
	if u.Port() != "" {
		return u.Host, true
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port), true
}

func (b *cellBalancer) update(s *subConn, st balancer.SubConnState) {
	if s.gone {
		return
	}
	s.state = st.ConnectivityState
	switch s.state {
	case connectivity.Ready:
		s.failed = false
	case connectivity.TransientFailure:
		s.failed = true
	case connectivity.Idle:
		s.sc.Connect() // a connection that ended: keep the cell reachable
	case connectivity.Shutdown:
		return
	}
	b.publish()
}

// publish gives gRPC a picker on the connections as they are now.
func (b *cellBalancer) publish() {
	p := &picker{version: b.version, cells: make(map[string]*cellConns)}
	ready, waiting := false, false
	for _, s := range b.conns {
		cc := p.cells[s.key.cell]
		if cc == nil {
			cc = &cellConns{}
			p.cells[s.key.cell] = cc
		}
		switch {
		case s.state == connectivity.Ready:
			cc.ready = append(cc.ready, readyConn{url: s.key.url, sc: s.sc})
			ready = true
		case !s.failed:
			cc.waiting = true
			waiting = true
		}
	}
	state := connectivity.TransientFailure
	switch {
	case ready:
		state = connectivity.Ready
	case waiting || len(b.conns) == 0:
		state = connectivity.Connecting
	}
	b.cc.UpdateState(balancer.State{ConnectivityState: state, Picker: p})
}

func (b *cellBalancer) ResolverError(error) {
	// The resolver reports none: the map in force stays, as everywhere.
}

func (b *cellBalancer) UpdateSubConnState(balancer.SubConn, balancer.SubConnState) {}

func (b *cellBalancer) ExitIdle() {
	for _, s := range b.conns {
		if s.state == connectivity.Idle {
			s.sc.Connect()
		}
	}
}

func (b *cellBalancer) Close() {
	for k, s := range b.conns {
		s.gone = true
		s.sc.Shutdown()
		delete(b.conns, k)
	}
}

// A picker sends each attempt to a ready connection of the cell its
// attempt's context names. It never chooses a cell.
type picker struct {
	version uint64 // of the map the connections follow
	cells   map[string]*cellConns
}

type cellConns struct {
	ready   []readyConn
	waiting bool // a connection is being made, none has failed since it began
}

type readyConn struct {
	url string
	sc  balancer.SubConn
}

func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	a := attemptOf(info.Ctx)
	if a == nil {
		return balancer.PickResult{}, status.Error(codes.Internal, ErrNotRouted.Error())
	}
	r := &a.route
	cc := p.cells[r.Cell]
	if cc == nil || len(cc.ready) == 0 {
		if (cc != nil && cc.waiting) || (cc == nil && r.Version > p.version) {
			// Connecting, or the balancer has yet to see the map that
			// chose the cell: wait, within the attempt's deadline.
			return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
		}
		return balancer.PickResult{}, status.Errorf(codes.Unavailable, "cellgrpc: cell %q has no ready connection", r.Cell)
	}
	for _, c := range cc.ready {
		if c.url == r.Endpoint {
			return balancer.PickResult{SubConn: c.sc}, nil
		}
	}
	// The key's endpoint is not ready: another of the cell's, stable per key.
	h := uint32(2166136261)
	for i := 0; i < len(r.Key); i++ {
		h = (h ^ uint32(r.Key[i])) * 16777619
	}
	return balancer.PickResult{SubConn: cc.ready[h%uint32(len(cc.ready))].sc}, nil
}

// errPicker fails every pick with err.
type errPicker struct{ err error }

func (p errPicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	return balancer.PickResult{}, p.err
}

var _ context.Context = (*attempt)(nil)
