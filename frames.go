package herald

import "context"

// ClientFrames are frames a client sent outside its connection: an event
// stream (SSE) is one-way, so its client POSTs them, and the POST may reach
// any push node behind the load balancer, not the one holding the stream.
type ClientFrames struct {
	User string // the POST's token's user: it must own the stream
	Conn string // the stream's connection ID, from its hello
	Body []byte // one JSON frame, or an array of them, as POSTed
}

// FramesResult is what became of ClientFrames on the node holding the stream.
type FramesResult struct {
	Found  bool   // the user's stream is open on that node
	Code   int    // non-zero: a frame was refused and the stream closed with this code
	Reason string // the close reason that went with Code
}

// FrameTaker hands client frames to a session on this push node.
type FrameTaker interface {
	TakeFrames(ctx context.Context, f ClientFrames) (FramesResult, error)
}

// FrameRelay hands client frames to a session on another push node.
type FrameRelay interface {
	RelayFrames(ctx context.Context, node Node, f ClientFrames) (FramesResult, error)
}
