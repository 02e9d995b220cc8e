// Package cellgrpc is cellkit for gRPC: client interceptors that run every
// call through a cell.Client's Do, a balancer (registered as "cellkit")
// that sends each attempt to a connection of the cell Do chose, and the
// cell side's Guard as server interceptors. It is a module of its own, so
// that the core module does not depend on gRPC.
//
// # Client
//
// A Router wraps a cell.Client. Router.NewClient (or grpc.NewClient on
// Target with Router.DialOptions) returns a grpc.ClientConn whose calls
// are routed by their key:
//
//	rt, _ := cellgrpc.NewRouter(cellgrpc.RouterConfig{Client: client})
//	conn, _ := rt.NewClient(grpc.WithTransportCredentials(creds))
//	reply, err := pb.NewOrdersClient(conn).GetOrder(cellgrpc.WithKey(ctx, tenant), req)
//
// The key is the one WithKey put in the context, else the value of the
// outgoing metadata RouterConfig.KeyHeader ("cell-key") read by the rule
// the Guard applies too (cell.KeyFromValues: one value, without the blanks
// around it); a call without one fails with INVALID_ARGUMENT matching
// cell.ErrNoKey, and nothing is sent. The class is the one cell.WithClass put in the context, else the
// one RouterConfig.Classes gives the method, else the naming rule: methods
// named Get… or List… are cell.Read, every other one a cell.Write (a
// Stateless service says so in Classes, for instance {"/pkg.Svc/":
// cell.Stateless}).
//
// Each call is one Do: failover, hedging (unary calls only), the retry
// budget, per-attempt deadlines, breakers, bulkheads and the one redirect
// of a moved reply are cellkit's, exactly as over HTTP. Each attempt
// carries the metadata cell-id (the cell chosen) and cell-map-version (the
// version of the map that chose it), and cell-key when the key came from
// WithKey. When the call fails, its error has a gRPC status
// (status.Code works) and wraps cell's errors (errors.Is and errors.As
// work): a *cell.CallError naming the cells tried, whose Err is the last
// cell's status; a *StatusError (UNAVAILABLE) around a
// *cell.UnavailableError when no cell could be called, or around a
// *cell.RefusedError for a refusal. The application's own answers are
// returned as the cell sent them.
//
// # Leave gRPC's retries off
//
// DialOptions turns gRPC's retries off (grpc.WithDisableRetry), and a
// service config for these channels must not add a retryPolicy or a
// hedgingPolicy. gRPC would retry an attempt inside the channel, where the
// balancer sends it to the same cell (the attempt names it), behind Do's
// back: unseen by the cell's breaker, not charged to the retry budget,
// outside the attempt's deadline, and, for a write, possibly twice. Do
// already retries where the class allows it, at the next cell.
//
// # The balancer
//
// The balancer named "cellkit" (Name) keeps one connection (a SubConn) per
// endpoint of every cell of the client's map that is not disabled: the
// endpoints the client would call the cell at, those in its zone first,
// exactly as cell.Client.Endpoints says. The Router's resolver tells it of
// every map swap; it then connects to new endpoints, closes those that left
// the map, and keeps every other connection as it is. An endpoint's URL
// gives the address (host and port; port 80 for http, 443 for https); its
// path prefix means nothing to gRPC, and the channel's credentials, not
// the scheme, decide TLS.
//
// The balancer never chooses a cell. Its picker reads the cell from the
// attempt's context (as gRPC's cluster manager reads the picked cluster)
// and picks a READY connection of that cell, the key's endpoint when it is
// ready. When the cell has none, the attempt waits (within its deadline)
// while a first connection, or one that closed cleanly, is being made, and
// otherwise fails at once with UNAVAILABLE: a cell whose connections all
// failed is judged like a refused connection over HTTP, a failure of the
// attempt, which the breaker counts and after which Do fails over where
// the class allows. Connectivity feeds the breaker that way, and only that
// way: it never moves a key. Routing follows the map.
//
// A call made on the channel without the Router's interceptors fails with
// INTERNAL (ErrNotRouted).
//
// # How replies are judged
//
// One table, the HTTP transport's rules in gRPC's codes:
//
//	reply                                  HTTP equivalent           judged
//	OK                                     2xx                       success
//	UNAVAILABLE (no refusal)               5xx, refused connection   the cell's failure: counted, fails over
//	no READY connection (the picker)       refused connection        the cell's failure: counted, fails over
//	DEADLINE_EXCEEDED, attempt's deadline  attempt timeout           the cell's failure: counted, fails over
//	DEADLINE_EXCEEDED, CANCELED: caller's  caller gave up            ignored
//	FAILED_PRECONDITION + moved            421 + Cell-Owner          *cell.MovedError: refresh, retry once
//	UNAVAILABLE + refusal                  503 + Cell-Refused        *cell.RefusedError: not counted
//	RESOURCE_EXHAUSTED                     429 + Retry-After         the cell's pushback: not a failure;
//	                                                                 *cell.OverloadedError: the cell's
//	                                                                 limit halves, no new attempt there
//	                                                                 for grpc-retry-pushback-ms (1 s by
//	                                                                 default); fails over where the class
//	                                                                 allows, else RESOURCE_EXHAUSTED
//	any other code                         other 4xx                 the application's answer: success
//	                                                                 for the breaker, returned as it is
//
// A reply that arrives after the attempt's own deadline is judged by that
// deadline. A cell's DEADLINE_EXCEEDED (gRPC sends the deadline along, and
// the cell's timer may fire first) is judged once the attempt's context
// has ended too, so the caller's deadline never counts against the cell.
//
// # Streams
//
// A stream is routed by its key when it starts, through Do like a unary
// call, and may fail over (or follow a moved reply) only until its first
// message is received: the messages sent until then are kept and sent again
// to the next cell. After it, the stream is the cell's: its errors are the
// caller's, and no longer judged. The attempt's deadline bounds the stream
// only until its first message. Streams are not hedged: a Stateless
// stream's hedges wait for the attempt before them, and serve as its
// failover. Do's goroutine for a stream runs until its first message, and
// the stream's resources are released, as with gRPC, once RecvMsg returned
// an error or the context ended.
//
// # The Guard, and the wire format
//
// A Guard is cell.Guard for gRPC servers: Unary and Stream are server
// interceptors that pass on the calls whose key the cell owns in its map
// (GuardConfig.Map: a source.Follower, or anything with a Map method) and
// answer the others. Every value is cell's HTTP header value, under the
// header's name in lower case, so that a client in any language can speak
// it:
//
//	request metadata   cell-key          the key (GuardConfig.KeyHeader)
//	                   cell-id           the cell the client chose
//	                   cell-map-version  the version of the client's map, decimal
//
//	case                 status               trailers                          ErrorInfo detail (domain "cellkit")
//	no key               INVALID_ARGUMENT     -                                 -
//	bad cell-map-version INVALID_ARGUMENT     -                                 -
//	not owned            FAILED_PRECONDITION  cell-id, cell-owner,              reason CELL_MOVED, metadata
//	                                          cell-map-version (the cell's)     cell-owner, cell-map-version
//	frozen write         UNAVAILABLE          cell-id, cell-refused: frozen,    reason CELL_REFUSED, metadata
//	                                          retry-after (whole seconds),      cell-refused, retry-after,
//	                                          cell-map-version                  cell-map-version
//	cell's map older     UNAVAILABLE          cell-id, cell-refused: behind,    as for a frozen write
//	than the call's,                          retry-after, cell-map-version
//	or no map yet                             (0 without a map)
//
// The values are those of cell's HTTP protocol, made by cell.SetMoved and
// cell.SetRefused and read by cell.DecodeReply (FAILED_PRECONDITION as 421,
// UNAVAILABLE as 503), the protocol's one encoder and decoder. The detail
// is a google.rpc.ErrorInfo in the status's details; the client reads it
// (a unary call then needs no trailer), and the trailers for streams whose
// status has none. Ownership is judged as cell.Guard judges
// it: Map.Owns for reads (the Guard's Classes), Map.OwnsWrite for writes,
// Map.OwnsShard when Stateless; a frozen write is refused before anything
// else, and a cell whose map is older than the call's never answers moved.
// Moved and Refused build these answers for a server that judges on its
// own.
//
// # Costs
//
// A successful unary call costs the client six allocations more than the
// same call on a plain grpc.ClientConn: the call's state and its closure,
// and the four of metadata.AppendToOutgoingContext (TestClientPathAllocs).
// BenchmarkUnary compares the two on a loopback server in a process of its
// own; BenchmarkClientPath measures what the Router adds (interceptor, Do,
// pick) without the network: a couple of microseconds of CPU, about 1% of
// a loopback call's.
package cellgrpc
