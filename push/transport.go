package push

import "time"

// A client's connection is a session on a transport.
//
// The session (session*.go) is Herald's protocol: hello, resume and replay,
// live delivery in seq order, gaps, acks, topics, token refresh, receipts.
// It produces and reads the JSON frames of docs/protocol.md and knows
// nothing of how they travel.
//
// The transport carries them: it frames the session's messages for the
// wire, owns the socket and its closing handshake, and hands the session
// each message the client sends. It knows nothing of streams, seqs or acks.
// WebSocket is transport_ws*.go, opened by handler_ws.go; another transport
// is a transport_*.go and a handler that opens a session on it
// (Service.open).

// transport is what a session's writer needs from the wire. Only the
// writer calls it, one goroutine at a time (ping: the keep-alive loop,
// while it holds the writer's flag; cut: the drain).
type transport interface {
	// write buffers one message and returns the bytes buffered. z, when
	// not nil, is the frame's compressed form shared by every session
	// sending the same frame (sharedFrame).
	write(frame []byte, z *sharedFrame) int
	// control buffers a keep-alive frame: a ping, or the pong that answers
	// the client's ping (payload: the ping's).
	control(k controlKind, payload []byte)
	// flush writes what is buffered in one write, within timeout; wrote
	// says whether there was anything.
	flush(timeout time.Duration) (wrote bool, err error)
	// release gives the buffer back, so an idle transport holds none.
	release()
	// ping writes a ping at once, without blocking and without a
	// goroutine, when the socket takes it.
	ping() pingResult
	// end writes what is buffered and the closing frame with code and
	// reason, gives the client a moment to answer, and closes the socket.
	end(code int, reason string)
	// cut closes the socket at once: a writer blocked on it fails and ends.
	cut()
	// answersPings says whether the client answers the transport's pings
	// (WebSocket), so that a silent one is dead; a client that cannot
	// (an event stream) is kept while its writes succeed.
	answersPings() bool
}

// controlKind names a transport's keep-alive frames.
type controlKind uint8

const (
	ctlPing controlKind = iota + 1
	ctlPong
)

// pingResult is what transport.ping did.
type pingResult uint8

const (
	pingNotWritten pingResult = iota // nothing went out: queue the ping for the writer
	pingWritten                      // the whole ping went out
	pingPart                         // part went out and the rest is buffered: a writer must flush it before anything else
	pingFailed                       // the socket failed
)
