package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldpush/herald"
)

// Close codes the server uses (docs/protocol.md lists them with their meaning).
const (
	CloseNormal         = websocket.CloseNormalClosure           // 1000
	CloseGoingAway      = websocket.CloseGoingAway               // 1001: no pong in time
	CloseUnsupported    = websocket.CloseUnsupportedData         // 1003: binary frame
	CloseInvalidPayload = websocket.CloseInvalidFramePayloadData // 1007: not JSON
	ClosePolicy         = websocket.ClosePolicyViolation         // 1008: unknown frame type or field
	CloseTooBig         = websocket.CloseMessageTooBig           // 1009: frame over the limit
	CloseInternal       = websocket.CloseInternalServerErr       // 1011: store unavailable
	CloseServiceRestart = websocket.CloseServiceRestart          // 1012: node shutting down, reconnect
	CloseSlowConsumer   = 4000                                   // send queue overflowed
)

// outItem is one frame waiting to be written. seq is the message's seq, or 0
// for a control frame (pong) that is always written. A catch-up item has no
// frame: it asks the writer to send whatever the store has past the last seq
// sent, up to seq.
type outItem struct {
	seq     herald.Seq
	frame   []byte
	catchUp bool
}

// conn is one WebSocket connection. Two goroutines serve it: the reader, and
// the writer (the HTTP handler's own goroutine), which alone writes data frames.
type conn struct {
	s      *Service
	ws     *websocket.Conn
	id     string
	user   string
	device string
	since  time.Time

	ctx      context.Context // cancelled by close: ends store reads done for this connection
	cancel   context.CancelFunc
	send     queue
	closing  chan struct{}
	readDone chan struct{}
	once     sync.Once
	code     int
	reason   string
	lastSent atomic.Uint64 // highest seq written; acks above it are clamped
	rate     frameRate     // client frames per second (reader goroutine only)
}

var connSeq atomic.Uint64

func (s *Service) newConn(ws *websocket.Conn, user, device string) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		ctx:      ctx,
		cancel:   cancel,
		s:        s,
		ws:       ws,
		id:       s.node.ID + "-" + strconv.FormatInt(s.node.Epoch, 36) + "-" + strconv.FormatUint(connSeq.Add(1), 36),
		user:     user,
		device:   device,
		since:    time.Now(),
		send:     newQueue(s.cfg.SendQueue),
		closing:  make(chan struct{}),
		readDone: make(chan struct{}),
	}
}

// enqueue never blocks: a client that lets its queue fill is disconnected
// (close 4000) and resumes from the store, instead of growing memory or
// stalling delivery to everyone else.
func (c *conn) enqueue(it outItem) {
	if !c.send.push(it) {
		c.close(CloseSlowConsumer, "send queue full: client too slow")
	}
}

// close asks the writer to close the connection with code and reason; the
// first call wins.
func (c *conn) close(code int, reason string) {
	c.once.Do(func() {
		c.code, c.reason = code, reason
		close(c.closing)
		c.cancel()
	})
}

// start is where a connection's stream begins.
type start struct {
	since    herald.Seq
	hasSince bool
}

// serve runs the writer until the connection ends, then cleans up.
func (c *conn) serve(routed <-chan error, st start) {
	defer c.finish()
	go c.readLoop()

	select {
	case err := <-routed:
		if err != nil {
			slog.Warn("route not registered; live delivery may wait for the next refresh", "user", c.user, "conn", c.id, "err", err)
		}
	case <-time.After(5 * time.Second):
	case <-c.closing:
		return
	}
	last, err := c.handshake(st)
	if err != nil {
		if c.ctx.Err() != nil {
			c.writeClose() // closed meanwhile (drain, or the client left)
			return
		}
		slog.Warn("resume failed", "user", c.user, "conn", c.id, "err", err)
		c.close(CloseInternal, "store unavailable, retry")
		c.writeClose()
		return
	}
	c.lastSent.Store(last)
	c.s.m.handshake.Observe(time.Since(c.since).Seconds())

	ping := time.NewTicker(c.s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.send.ready:
			for _, it := range c.send.take() {
				if c.ctx.Err() != nil {
					break // closing: the close frame goes next, not more data
				}
				if err := c.writeItem(it); err != nil {
					c.close(CloseGoingAway, "write failed")
					return
				}
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.s.cfg.WriteTimeout)); err != nil {
				c.close(CloseGoingAway, "ping failed")
				return
			}
		case <-c.closing:
			c.writeClose()
			return
		}
	}
}

// handshake sends hello and replays stored messages. It returns the seq the
// live stream continues after.
func (c *conn) handshake(st start) (herald.Seq, error) {
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	// When a node dies, its clients all reconnect at once; bounding the
	// handshakes that read the store turns that storm into a queue instead of
	// a wall of timeouts (and failed resumes that would come back for more).
	select {
	case c.s.resumes <- struct{}{}:
		defer func() { <-c.s.resumes }()
	case <-ctx.Done():
		return 0, fmt.Errorf("waiting for a handshake slot: %w", ctx.Err())
	}
	last, err := c.s.store.LastSeq(ctx, c.user)
	if err != nil {
		return 0, err
	}
	from := last // no since and no device: only messages from now on
	switch {
	case st.hasSince:
		from = st.since
	case c.device != "":
		if from, err = c.s.store.AckedSeq(ctx, c.user, c.device); err != nil {
			return 0, err
		}
	}
	from = min(from, last)
	h := helloFrame{Type: "hello", User: c.user, Conn: c.id, Node: c.s.node.ID, Seq: last}
	var first []herald.Delivery
	if from < last {
		if first, err = c.s.store.Messages(ctx, c.user, from, c.s.cfg.ReplayBatch); err != nil {
			return 0, err
		}
		if len(first) == 0 || first[0].Seq > from+1 {
			// The next seq is missing: a hole left by a failed write, or
			// retention removed it. Only the oldest kept seq tells which.
			oldest, err := c.s.store.OldestSeq(ctx, c.user)
			if err != nil {
				return 0, err
			}
			if oldest == 0 || oldest > from+1 {
				// Say so, rather than let the client believe it has everything.
				h.Gap, h.Oldest = true, oldest
			}
		}
	}
	hello, _ := json.Marshal(h)
	if err := c.write(hello); err != nil {
		return 0, err
	}
	sent, err := c.writeAll(first, from, 0)
	if err != nil || len(first) < c.s.cfg.ReplayBatch {
		return sent, err
	}
	return c.replay(ctx, sent, 0)
}

// writeAll writes the deliveries with seqs below until (0: all) and returns
// the last seq written, starting from after.
func (c *conn) writeAll(ds []herald.Delivery, after, until herald.Seq) (herald.Seq, error) {
	for _, d := range ds {
		if until != 0 && d.Seq >= until {
			break
		}
		// Published before the write: the client may ack the frame before
		// this goroutine runs again, and the ack must not be clamped below it.
		c.lastSent.Store(d.Seq)
		if err := c.write(encodeMsg(d)); err != nil {
			return after, err
		}
		c.s.m.replayed.Inc()
		after = d.Seq
	}
	return after, nil
}

// replay writes the stored messages after `after` (up to `until`, 0 for all)
// and returns the last seq written.
func (c *conn) replay(ctx context.Context, after, until herald.Seq) (herald.Seq, error) {
	for {
		page, err := c.s.store.Messages(ctx, c.user, after, c.s.cfg.ReplayBatch)
		if err != nil {
			return after, err
		}
		sent, err := c.writeAll(page, after, until)
		if err != nil || len(page) < c.s.cfg.ReplayBatch || (until != 0 && sent+1 >= until) || sent == after {
			return sent, err
		}
		after = sent
	}
}

// writeItem writes a live frame in seq order: older or repeated seqs are
// dropped (the replay already sent them), and a jump ahead is first filled
// from the store, so the client sees no gap and no reordering.
func (c *conn) writeItem(it outItem) error {
	if it.seq == 0 {
		return c.write(it.frame)
	}
	last := c.lastSent.Load()
	if it.seq <= last {
		return nil
	}
	if it.catchUp {
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		defer cancel()
		sent, err := c.replay(ctx, last, it.seq+1)
		c.lastSent.Store(sent)
		return err
	}
	if it.seq > last+1 {
		if _, err := c.fillGap(last, it.seq); err != nil {
			return err
		}
	}
	c.lastSent.Store(it.seq) // before the write, as in writeAll
	return c.write(it.frame)
}

// fillGap sends the stored messages between last and next. A message that is
// allocated a seq but not yet stored (several collect instances write in
// parallel) gets up to GapWait to appear; after that the stream moves on.
func (c *conn) fillGap(last, next herald.Seq) (herald.Seq, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.GapWait+10*time.Second)
	defer cancel()
	deadline := time.Now().Add(c.s.cfg.GapWait)
	for {
		var err error
		if last, err = c.replay(ctx, last, next); err != nil {
			return last, err
		}
		if last+1 >= next || time.Now().After(deadline) {
			return last, nil
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return last, ctx.Err()
		}
	}
}

func (c *conn) write(frame []byte) error {
	c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return err
	}
	c.s.m.written.Inc()
	c.s.out.Add(1)
	return nil
}

// writeClose sends the close frame, then gives the client a moment to answer
// it before the socket is closed: closing at once, with the client's frames
// still unread, makes the kernel reset the connection, and the client may
// never see the code and reason.
func (c *conn) writeClose() {
	msg := websocket.FormatCloseMessage(c.code, c.reason)
	c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	select {
	case <-c.readDone:
	case <-time.After(closeGrace):
	}
}

// closeGrace bounds the wait for the client's side of the closing handshake.
const closeGrace = time.Second

// finish runs once the writer is done: the socket is closed (which also ends
// the reader), the local binding removed and the route rewritten.
func (c *conn) finish() {
	c.close(CloseNormal, "")
	c.ws.Close()
	c.s.hub.remove(c)
	c.s.routes.mark(c.user)
	c.s.m.connections.Dec()
	c.s.conns.Add(-1)
	c.s.m.closed.WithLabelValues(strconv.Itoa(c.code)).Inc()
	slog.Info("connection closed", "user", c.user, "device", c.device, "conn", c.id, "node", c.s.node.ID,
		"duration", time.Since(c.since).Round(time.Millisecond), "code", c.code, "reason", c.reason)
	c.s.connWG.Done()
}

// readLoop reads client frames until the connection ends. Any bad frame closes
// this connection only, with a code and reason that say what was wrong.
func (c *conn) readLoop() {
	defer close(c.readDone)
	defer c.discard()
	// The frame limit is enforced here rather than by SetReadLimit, which
	// closes with 1009 but no reason; gorilla's own limit is only a backstop.
	c.ws.SetReadLimit(max(c.s.cfg.MaxFrame*4, 1<<16))
	c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.PongTimeout))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.PongTimeout))
	})
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			c.readFailed(err)
			return
		}
		data, err := io.ReadAll(io.LimitReader(r, c.s.cfg.MaxFrame+1))
		if err != nil {
			c.readFailed(err)
			return
		}
		if int64(len(data)) > c.s.cfg.MaxFrame {
			c.close(CloseTooBig, "frame over "+strconv.FormatInt(c.s.cfg.MaxFrame, 10)+" bytes")
			return
		}
		c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.PongTimeout))
		if typ != websocket.TextMessage {
			c.close(CloseUnsupported, "binary frames are not supported; send JSON text")
			return
		}
		if !c.rate.allow(time.Now(), c.s.cfg.MaxFrameRate) {
			c.close(ClosePolicy, "too many frames: at most "+strconv.Itoa(c.s.cfg.MaxFrameRate)+" a second")
			return
		}
		if code, reason := c.handleFrame(data); code != 0 {
			c.close(code, reason)
			return
		}
	}
}

// discard reads and drops frames until the client closes or closeGrace passes,
// so the closing handshake completes cleanly.
func (c *conn) discard() {
	c.ws.SetReadDeadline(time.Now().Add(closeGrace))
	for {
		if _, _, err := c.ws.NextReader(); err != nil {
			return
		}
	}
}

func (c *conn) readFailed(err error) {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		c.close(CloseNormal, "closed by client")
	case errors.Is(err, websocket.ErrReadLimit):
		c.close(CloseTooBig, "frame over "+strconv.FormatInt(c.s.cfg.MaxFrame, 10)+" bytes")
	default:
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			c.close(CloseGoingAway, "no pong or frame within the timeout")
			return
		}
		c.close(CloseGoingAway, "connection lost")
	}
}

// handleFrame acts on one client frame; a non-zero code closes the connection.
func (c *conn) handleFrame(data []byte) (int, string) {
	f, code, reason := parseClientFrame(data)
	if code != 0 {
		return code, reason
	}
	switch f.Type {
	case "ping":
		c.enqueue(outItem{frame: pongFrame})
	case "ack":
		if c.device != "" {
			// An ack cannot cover what was never sent: clamping keeps a buggy
			// client from skipping messages on its next resume.
			c.s.acks.add(c.user, c.device, min(*f.Seq, c.lastSent.Load()))
		}
	}
	return 0, ""
}

// parseClientFrame decodes and checks one client frame. A non-zero code is
// the close code for a frame the server will not accept, with its reason.
func parseClientFrame(data []byte) (clientFrame, int, string) {
	var f clientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return f, CloseInvalidPayload, "frame is not a JSON object"
	}
	switch f.Type {
	case "ping":
	case "ack":
		if f.Seq == nil {
			return f, ClosePolicy, "ack needs a seq"
		}
	default:
		return f, ClosePolicy, "unknown frame type"
	}
	return f, 0, ""
}

// frameRate is a token bucket of client frames: a burst of up to one second's
// allowance, refilled continuously. A client that acks every message and
// pings sends a few frames a second; a flood is cut off (close 1008).
type frameRate struct {
	tokens float64
	last   time.Time
}

func (r *frameRate) allow(now time.Time, perSec int) bool {
	if perSec <= 0 {
		return true
	}
	if r.last.IsZero() {
		r.tokens = float64(perSec)
	} else {
		r.tokens = min(float64(perSec), r.tokens+now.Sub(r.last).Seconds()*float64(perSec))
	}
	r.last = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}
