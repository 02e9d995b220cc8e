package cellgrpctest

import (
	"context"
	"errors"
	"io"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// ServiceName is the fleet's default service. Its methods take and return
// wrapperspb.StringValue: GetItem (a Read, by the naming rule) and PutItem
// (a Write) answer the ID of the cell that served them; ListItems streams
// as many cell IDs as its request asks; Chat answers each message with the
// cell's ID and the message.
const ServiceName = "cellgrpctest.Cells"

// Full method names of the service.
const (
	MethodGetItem   = "/" + ServiceName + "/GetItem"
	MethodPutItem   = "/" + ServiceName + "/PutItem"
	MethodListItems = "/" + ServiceName + "/ListItems"
	MethodChat      = "/" + ServiceName + "/Chat"
)

// Register registers the fleet's default service, served as cell id, on s.
func Register(s grpc.ServiceRegistrar, id string) {
	s.RegisterService(serviceDesc(id), nil)
}

func serviceDesc(id string) *grpc.ServiceDesc {
	unary := func(ctx context.Context, dec func(any) error) (any, error) {
		in := new(wrapperspb.StringValue)
		if err := dec(in); err != nil {
			return nil, err
		}
		return wrapperspb.String(id), nil
	}
	handler := func(method string) grpc.MethodHandler {
		return func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			if ic == nil {
				return unary(ctx, dec)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: method}
			return ic(ctx, nil, info, func(ctx context.Context, _ any) (any, error) { return unary(ctx, dec) })
		}
	}
	return &grpc.ServiceDesc{
		ServiceName: ServiceName,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "GetItem", Handler: handler(MethodGetItem)},
			{MethodName: "PutItem", Handler: handler(MethodPutItem)},
		},
		Streams: []grpc.StreamDesc{
			{StreamName: "ListItems", ServerStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
				in := new(wrapperspb.StringValue)
				if err := ss.RecvMsg(in); err != nil {
					return err
				}
				n, _ := strconv.Atoi(in.GetValue())
				for range n {
					if err := ss.SendMsg(wrapperspb.String(id)); err != nil {
						return err
					}
				}
				return nil
			}},
			{StreamName: "Chat", ServerStreams: true, ClientStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
				for {
					in := new(wrapperspb.StringValue)
					err := ss.RecvMsg(in)
					if errors.Is(err, io.EOF) {
						return nil
					}
					if err != nil {
						return err
					}
					if err := ss.SendMsg(wrapperspb.String(id + ":" + in.GetValue())); err != nil {
						return err
					}
				}
			}},
		},
	}
}

var (
	listDesc = &grpc.StreamDesc{StreamName: "ListItems", ServerStreams: true}
	chatDesc = &grpc.StreamDesc{StreamName: "Chat", ServerStreams: true, ClientStreams: true}
)

// Get calls GetItem on cc and returns the ID of the cell that answered.
func Get(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (string, error) {
	return unaryCall(ctx, cc, MethodGetItem, opts)
}

// Put calls PutItem on cc and returns the ID of the cell that answered.
func Put(ctx context.Context, cc grpc.ClientConnInterface, opts ...grpc.CallOption) (string, error) {
	return unaryCall(ctx, cc, MethodPutItem, opts)
}

func unaryCall(ctx context.Context, cc grpc.ClientConnInterface, method string, opts []grpc.CallOption) (string, error) {
	out := new(wrapperspb.StringValue)
	if err := cc.Invoke(ctx, method, wrapperspb.String("x"), out, opts...); err != nil {
		return "", err
	}
	return out.GetValue(), nil
}

// List calls ListItems on cc for n items and returns them: the ID of the
// cell that answered, n times.
func List(ctx context.Context, cc grpc.ClientConnInterface, n int) ([]string, error) {
	s, err := cc.NewStream(ctx, listDesc, MethodListItems)
	if err != nil {
		return nil, err
	}
	if err := s.SendMsg(wrapperspb.String(strconv.Itoa(n))); err != nil {
		return nil, err
	}
	if err := s.CloseSend(); err != nil {
		return nil, err
	}
	var got []string
	for {
		out := new(wrapperspb.StringValue)
		err := s.RecvMsg(out)
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, out.GetValue())
	}
}

// Chat sends msgs on a Chat stream of cc, one at a time, each after the
// answer to the one before, and returns the answers ("cell:msg").
func Chat(ctx context.Context, cc grpc.ClientConnInterface, msgs ...string) ([]string, error) {
	s, err := cc.NewStream(ctx, chatDesc, MethodChat)
	if err != nil {
		return nil, err
	}
	var got []string
	for _, m := range msgs {
		if err := s.SendMsg(wrapperspb.String(m)); err != nil {
			return got, err
		}
		out := new(wrapperspb.StringValue)
		if err := s.RecvMsg(out); err != nil {
			return got, err
		}
		got = append(got, out.GetValue())
	}
	if err := s.CloseSend(); err != nil {
		return got, err
	}
	if err := s.RecvMsg(new(wrapperspb.StringValue)); !errors.Is(err, io.EOF) {
		return got, err
	}
	return got, nil
}
