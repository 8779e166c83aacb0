package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/rpc/heraldpb"
)

func dial(addr string, c Cluster) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr,
		c.dialOption(),
		grpc.WithPerRPCCredentials(secretCreds(c.Secret)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize), grpc.MaxCallSendMsgSize(maxMsgSize)),
	)
}

// DispatchClient is a herald.Dispatcher that calls dispatch instances over
// gRPC, spreading batches over them in turn and failing over to the next when
// one does not answer, so no dispatch instance is a single point of failure.
type DispatchClient struct {
	clients []heraldpb.DispatchClient
	conns   []*grpc.ClientConn
	addrs   []string
	next    atomic.Uint64
}

// NewDispatchClient returns a client for the dispatch instances at addrs.
func NewDispatchClient(addrs []string, cluster Cluster) (*DispatchClient, error) {
	if len(addrs) == 0 {
		return nil, errors.New("no dispatch address given")
	}
	c := &DispatchClient{addrs: addrs}
	for _, a := range addrs {
		cc, err := dial(a, cluster)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("dispatch %s: %w", a, err)
		}
		c.conns = append(c.conns, cc)
		c.clients = append(c.clients, heraldpb.NewDispatchClient(cc))
	}
	return c, nil
}

// Dispatch implements herald.Dispatcher.
func (c *DispatchClient) Dispatch(ctx context.Context, msgs []*herald.Message) error {
	for _, b := range toPB(msgs) {
		if err := c.send(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

func (c *DispatchClient) send(ctx context.Context, b *heraldpb.Batch) error {
	start := c.next.Add(1)
	var errs []error
	for i := range c.clients {
		k := int((start + uint64(i)) % uint64(len(c.clients)))
		_, err := c.clients[k].Dispatch(ctx, b)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("dispatch %s: %w", c.addrs[k], err))
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// Close closes the connections.
func (c *DispatchClient) Close() error {
	for _, cc := range c.conns {
		cc.Close()
	}
	return nil
}

// PushForwarder is a herald.Forwarder (dispatch -> push) and a
// herald.FrameRelay (push -> push) that calls push nodes over gRPC, keeping
// one connection per node address.
type PushForwarder struct {
	cluster Cluster
	mu      sync.Mutex
	conns   map[string]*grpc.ClientConn
}

// NewPushForwarder returns an empty forwarder.
func NewPushForwarder(cluster Cluster) *PushForwarder {
	return &PushForwarder{cluster: cluster, conns: map[string]*grpc.ClientConn{}}
}

func (f *PushForwarder) client(addr string) (heraldpb.PushClient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cc, ok := f.conns[addr]
	if !ok {
		var err error
		if cc, err = dial(addr, f.cluster); err != nil {
			return nil, err
		}
		f.conns[addr] = cc
	}
	return heraldpb.NewPushClient(cc), nil
}

// Forward implements herald.Forwarder.
func (f *PushForwarder) Forward(ctx context.Context, node herald.Node, msgs []*herald.Message) error {
	c, err := f.client(node.Addr)
	if err != nil {
		return fmt.Errorf("push %s at %s: %w", node.ID, node.Addr, err)
	}
	for _, b := range toPB(msgs) {
		if _, err := c.Deliver(ctx, b); err != nil {
			return fmt.Errorf("push %s at %s: %w", node.ID, node.Addr, err)
		}
	}
	return nil
}

// RelayFrames implements herald.FrameRelay: a push node hands an event
// stream's POSTed frames to the node holding the stream.
func (f *PushForwarder) RelayFrames(ctx context.Context, node herald.Node, fr herald.ClientFrames) (herald.FramesResult, error) {
	c, err := f.client(node.Addr)
	if err != nil {
		return herald.FramesResult{}, fmt.Errorf("push %s at %s: %w", node.ID, node.Addr, err)
	}
	r, err := c.Frames(ctx, &heraldpb.ClientFrames{User: fr.User, Conn: fr.Conn, Body: fr.Body})
	if err != nil {
		return herald.FramesResult{}, fmt.Errorf("push %s at %s: %w", node.ID, node.Addr, err)
	}
	return herald.FramesResult{Found: r.GetFound(), Code: int(r.GetCode()), Reason: r.GetReason()}, nil
}

// Close closes every connection.
func (f *PushForwarder) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cc := range f.conns {
		cc.Close()
	}
	return nil
}
