package push

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald"
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
// up to seq. ctl, when set, makes frame the payload of the transport's
// keep-alive frame (a ping, or a pong) rather than a message.
//
// sub, when set, names the topic stream the item belongs to (the
// session's own stream otherwise); start makes the item a new
// subscription's start (topics.go).
type outItem struct {
	seq     herald.Seq
	id      string // the message's ID, for its receipt (user messages)
	frame   []byte
	z       *sharedFrame // frame's compressed form, shared with the other sessions sending it; nil: none
	catchUp bool
	ctl     controlKind
	sub     *topicSub
	start   *subStart
}

// session is one client's connection, as Herald's protocol sees it
// (transport.go): its streams, acks, token and topics, and the writer that
// sends them through its transport. An idle session has no goroutine: the
// transport's reader runs when the client sends something, and a writer
// starts when something is queued for it and ends when the queue is empty
// (session_writer.go). The keep-alive loop (keepalive.go) pings it and
// closes it when the client has gone quiet.
type session struct {
	s      *Service
	t      transport
	id     string
	user   string
	device string
	since  time.Time
	ip     string // client address, counted in the node's per-address limits
	recall bool   // it asked for recall frames

	send     queue
	lastSent atomic.Uint64 // highest seq written; acks above it are clamped
	epoch    string        // the epoch the user's seqs count in (hello's), set by the handshake

	// close state: no context per session (a cancelCtx and the map of
	// children it keeps cost ~400 bytes on each of 200,000 connections);
	// the writer's store reads get a context of their own (op) that close
	// cancels.
	mu       sync.Mutex // guards code, reason, opCancel, subs and claims
	closed   atomic.Bool
	code     int
	reason   string
	opCancel context.CancelFunc

	// The writer's state: only the goroutine holding writing touches the rest.
	writing atomic.Bool      // a writer goroutine runs (stays set once the session is finished)
	wframes int              // message frames buffered in the transport
	notes   []receipts.Noted // user messages buffered, for their receipts (session_receipts.go)
	// holeSince is when the writer met the hole it is settling, unix
	// nanoseconds (0: none) (settle).
	holeSince int64

	// Liveness, for the keep-alive loop: unix nanoseconds.
	lastRead  atomic.Int64 // the client's last frame
	lastPing  atomic.Int64 // the last ping queued
	lastWrite atomic.Int64 // the last write to the transport

	// The token's life (token.go).
	expires      atomic.Int64 // unix nanoseconds when the token expires; 0: never
	refreshAsked atomic.Bool  // a refresh frame was sent for the current token
	enc          encoding     // how frames are written and read (beside refreshAsked: no padding added)

	slot, slotPos int // place in the service's wheel
	// catchUpSeen is the user's newest stored seq at the previous catch-up
	// round; only the catch-up loop touches it (catchup.go).
	catchUpSeen herald.Seq

	// Topics (topics.go): subs and claims are guarded by mu; bcast is the
	// broadcast stream every session is on.
	subs   []*topicSub
	claims []string // the token's topics claim
	bcast  topicSub
}

var sessionSeq atomic.Uint64

// newSession is a session for an admitted client; its transport is set
// before it is opened (Service.open).
func (s *Service) newSession(a *admission) *session {
	now := time.Now()
	c := &session{
		s:      s,
		id:     s.node.ID + "-" + strconv.FormatInt(s.node.Epoch, 36) + "-" + strconv.FormatUint(sessionSeq.Add(1), 36),
		user:   a.id.User,
		device: a.device,
		ip:     a.ip,
		since:  now,
		send:   newQueue(s.cfg.SendQueue),
		claims: a.id.Topics,
		recall: a.start.recall,
	}
	if !a.id.ExpiresAt.IsZero() {
		c.expires.Store(a.id.ExpiresAt.UnixNano())
	}
	c.bcast = topicSub{c: c, key: herald.BroadcastKey}
	c.lastRead.Store(now.UnixNano())
	c.lastPing.Store(now.UnixNano())
	c.lastWrite.Store(now.UnixNano())
	return c
}

// enqueue never blocks: a client that lets its queue fill is disconnected
// (close 4000) and resumes from the store, instead of growing memory or
// stalling delivery to everyone else.
func (c *session) enqueue(it outItem) {
	if !c.send.push(it) {
		c.close(CloseSlowConsumer, "send queue full: client too slow")
		return
	}
	c.kick()
}

// close asks the writer to close the connection with code and reason; the
// first call wins.
func (c *session) close(code int, reason string) {
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
func (c *session) closing() bool { return c.closed.Load() }

// op returns the context for one store operation of the writer: it ends
// after timeout, or when the connection is closed. Call done when finished.
func (c *session) op(timeout time.Duration) (ctx context.Context, done func()) {
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

// start is where a connection's streams begin: its own, and the broadcasts.
type start struct {
	since     herald.Seq
	hasSince  bool
	epoch     string // the epoch since counts in (the client's last hello's); "" unknown
	bsince    herald.Seq
	hasBSince bool
	recall    bool // the client asked for recall frames (?recall=true)
}

// finish runs once, when the transport has ended (the last writer keeps
// the writing flag for good): the local binding is removed and the route
// rewritten.
func (c *session) finish() {
	c.s.hub.remove(c)
	c.s.acks.closed(c.user, c.device)
	c.dropSubs()
	c.connEvent(c.disconnectEvent())
	c.countClosed()
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
