package rpc

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/rpc/heraldpb"
)

// NewServer returns a gRPC server sized for Herald's batches that refuses
// every call without the cluster secret.
func NewServer(c Cluster) *grpc.Server {
	return grpc.NewServer(grpc.MaxRecvMsgSize(maxMsgSize), grpc.MaxSendMsgSize(maxMsgSize),
		grpc.UnaryInterceptor(secretInterceptor(c.Secret)), c.serverOption())
}

// RegisterDispatch serves d as the Dispatch service.
func RegisterDispatch(s *grpc.Server, d herald.Dispatcher) {
	heraldpb.RegisterDispatchServer(s, dispatchServer{d: d})
}

// RegisterPush serves d and f as the Push service.
func RegisterPush(s *grpc.Server, d herald.Deliverer, f herald.FrameTaker) {
	heraldpb.RegisterPushServer(s, pushServer{d: d, f: f})
}

type dispatchServer struct {
	heraldpb.UnimplementedDispatchServer
	d herald.Dispatcher
}

func (s dispatchServer) Dispatch(ctx context.Context, b *heraldpb.Batch) (*heraldpb.BatchReply, error) {
	msgs, err := fromPB(b)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	// An error here is a routing lookup failure: worth another dispatch
	// instance's try, so it is Unavailable.
	if err := s.d.Dispatch(ctx, msgs); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &heraldpb.BatchReply{}, nil
}

type pushServer struct {
	heraldpb.UnimplementedPushServer
	d herald.Deliverer
	f herald.FrameTaker
}

func (s pushServer) Deliver(ctx context.Context, b *heraldpb.Batch) (*heraldpb.BatchReply, error) {
	msgs, err := fromPB(b)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := s.d.Deliver(ctx, msgs); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &heraldpb.BatchReply{}, nil
}

func (s pushServer) Frames(ctx context.Context, in *heraldpb.ClientFrames) (*heraldpb.FramesReply, error) {
	r, err := s.f.TakeFrames(ctx, herald.ClientFrames{User: in.GetUser(), Conn: in.GetConn(), Body: in.GetBody()})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &heraldpb.FramesReply{Found: r.Found, Code: int32(r.Code), Reason: r.Reason}, nil
}
