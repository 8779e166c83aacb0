package push

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/bucket"
	"github.com/heraldpush/herald/internal/ws"
	"github.com/heraldpush/herald/receipts"
)

// Close codes the server uses (docs/protocol.md lists them with their meaning).
const (
	CloseNormal         = 1000 // the client closed, or a normal end
	CloseGoingAway      = 1001 // no pong in time, connection lost
	CloseProtocol       = 1002 // broken WebSocket framing
	CloseUnsupported    = 1003 // binary frame
	CloseInvalidPayload = 1007 // not JSON
	ClosePolicy         = 1008 // unknown frame type or field, too many frames
	CloseTooBig         = 1009 // frame over the limit
	CloseInternal       = 1011 // store unavailable
	CloseServiceRestart = 1012 // node shutting down, reconnect
	CloseSlowConsumer   = 4000 // send queue overflowed
)

// outItem is one frame waiting to be written. seq is the message's seq, or 0
// for a frame that is always written (a pong). A catch-up item has no frame:
// it asks the writer to send whatever the store has past the last seq sent,
// up to seq. control, when set, makes frame the payload of a WebSocket
// control frame (ping, pong) rather than a text frame.
//
// sub, when set, names the topic stream the item belongs to (the
// connection's own stream otherwise); start makes the item a new
// subscription's start (topics.go).
type outItem struct {
	seq     herald.Seq
	id      string // the message's ID, for its receipt (user messages)
	frame   []byte
	catchUp bool
	control ws.Opcode
	sub     *topicSub
	start   *subStart
}

// conn is one WebSocket connection. An idle connection has no goroutine: the
// node's poller starts a reader when the client sends something
// (conn_read.go), and a writer starts when something is queued for it and
// ends when the queue is empty (conn_write.go). The keep-alive loop
// (keepalive.go) pings it and closes it when the client has gone quiet.
type conn struct {
	s      *Service
	nc     net.Conn
	id     string
	user   string
	device string
	since  time.Time

	send     queue
	lastSent atomic.Uint64 // highest seq written; acks above it are clamped

	// close state: no context per connection (a cancelCtx and the map of
	// children it keeps cost ~400 bytes on each of 200,000 connections);
	// the writer's store reads get a context of their own (op) that close
	// cancels.
	mu       sync.Mutex // guards code, reason and opCancel
	closed   atomic.Bool
	code     int
	reason   string
	opCancel context.CancelFunc

	writing atomic.Bool      // a writer goroutine runs (stays set once the connection is finished)
	wbuf    *[]byte          // frames waiting for one write; only while a writer runs
	wframes int              // message frames in wbuf
	notes   []receipts.Noted // user messages in wbuf, for their receipts (conn_receipts.go)

	// Reader state: the poller never runs two readers of one connection at once.
	parser ws.Parser
	rate   bucket.Bucket // client frames per second: a client that acks every message and pings sends a few; a flood is cut off (1008)
	// discarding: the framing is broken, so bytes are dropped until the
	// client goes (the close frame already sent is not lost to a reset).
	// Once close is called, frames are still parsed, for the client's close.
	discarding bool
	stopWatch  func()

	peerGone     atomic.Bool     // the client's side has ended (its close frame, or EOF)
	lastRead     atomic.Int64    // unix nanoseconds of the client's last frame
	lastPing     atomic.Int64    // unix nanoseconds of the last ping queued
	lastWrite    atomic.Int64    // unix nanoseconds of the last write to the socket
	expires      atomic.Int64    // unix nanoseconds when the token expires; 0: never
	refreshAsked atomic.Bool     // a refresh frame was sent for the current token
	raw          syscall.RawConn // for pings written without a writer; nil without a file descriptor

	slot, slotPos int // place in the service's wheel
	// catchUpSeen is the user's newest stored seq at the previous catch-up
	// round; only the catch-up loop touches it (catchup.go).
	catchUpSeen herald.Seq
	// holeSince is when the writer met the hole it is settling, unix
	// nanoseconds (0: none); only the writer touches it (settle).
	holeSince int64
	ip        string // client address, counted in the node's per-address limits

	// Topics (topics.go): subs and claims are guarded by mu; bcast is the
	// broadcast stream every connection is on.
	subs   []*topicSub
	claims []string // the token's topics claim
	bcast  topicSub
}

var connSeq atomic.Uint64

func (s *Service) newConn(nc net.Conn, user, device string) *conn {
	now := time.Now()
	c := &conn{
		s:      s,
		nc:     nc,
		id:     s.node.ID + "-" + strconv.FormatInt(s.node.Epoch, 36) + "-" + strconv.FormatUint(connSeq.Add(1), 36),
		user:   user,
		device: device,
		since:  now,
		send:   newQueue(s.cfg.SendQueue),
	}
	c.bcast = topicSub{c: c, key: herald.BroadcastKey}
	c.parser.MaxMessage = s.cfg.MaxFrame
	c.lastRead.Store(now.UnixNano())
	c.lastPing.Store(now.UnixNano())
	c.lastWrite.Store(now.UnixNano())
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	return c
}

// enqueue never blocks: a client that lets its queue fill is disconnected
// (close 4000) and resumes from the store, instead of growing memory or
// stalling delivery to everyone else.
func (c *conn) enqueue(it outItem) {
	if !c.send.push(it) {
		c.close(CloseSlowConsumer, "send queue full: client too slow")
		return
	}
	c.kick()
}

// close asks the writer to close the connection with code and reason; the
// first call wins.
func (c *conn) close(code int, reason string) {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	c.code, c.reason = code, reason
	c.closed.Store(true)
	cancel := c.opCancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.kick()
}

// closing reports whether close has been called.
func (c *conn) closing() bool { return c.closed.Load() }

// op returns the context for one store operation of the writer: it ends
// after timeout, or when the connection is closed. Call done when finished.
func (c *conn) op(timeout time.Duration) (ctx context.Context, done func()) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	c.mu.Lock()
	prev := c.opCancel
	if c.closed.Load() {
		cancel()
	} else {
		c.opCancel = cancel
	}
	c.mu.Unlock()
	return ctx, func() {
		c.mu.Lock()
		c.opCancel = prev
		c.mu.Unlock()
		cancel()
	}
}

// peerEnded records that the client will send nothing more.
func (c *conn) peerEnded() { c.peerGone.Store(true) }

// start is where a connection's streams begin: its own, and the broadcasts.
type start struct {
	since     herald.Seq
	hasSince  bool
	epoch     string // the epoch since counts in (the client's last hello's); "" unknown
	bsince    herald.Seq
	hasBSince bool
}

// finish runs once (the last writer keeps the writing flag for good), when
// the connection is over: the socket is
// closed, the local binding removed and the route rewritten.
func (c *conn) finish() {
	c.close(CloseNormal, "")
	if c.stopWatch != nil {
		c.stopWatch()
	}
	c.nc.Close()
	c.peerEnded()
	c.releaseBuf()
	c.s.hub.remove(c)
	c.s.acks.closed(c.user, c.device)
	c.dropSubs()
	c.bcast.gone.Store(true)
	c.s.wheel.remove(c)
	c.s.ips.release(c.ip)
	c.s.routes.mark(c.user)
	c.s.m.connections.Dec()
	if c.s.conns.Add(-1) == 0 {
		c.s.routes.mark(herald.BroadcastKey) // no connection left: no broadcast route
	}
	c.s.m.closed.WithLabelValues(strconv.Itoa(c.code)).Inc()
	slog.Info("connection closed", "user", c.user, "device", c.device, "conn", c.id, "node", c.s.node.ID,
		"duration", time.Since(c.since).Round(time.Millisecond), "code", c.code, "reason", c.reason)
	c.s.connWG.Done()
}
