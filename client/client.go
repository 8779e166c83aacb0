// Package client is Herald's Go client SDK: it keeps a WebSocket connection to
// a push node open, reconnects with jittered exponential backoff, resumes
// from the last message it processed, drops repeats by seq, acknowledges what
// it processed, and hands messages to the caller in order. It speaks exactly
// docs/protocol.md.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Message is one message as the client receives it.
type Message struct {
	ID      string
	Seq     uint64
	Time    time.Time
	Topic   string
	Payload json.RawMessage
}

// Pub is one message of a topic, or a broadcast (Topic "*"). Seq counts
// per topic.
type Pub struct {
	Topic   string
	ID      string
	Seq     uint64
	Time    time.Time
	Payload json.RawMessage
}

// Broadcast is the Topic of broadcasts.
const Broadcast = "*"

// Hello is what the server says first on each connection.
type Hello struct {
	User         string `json:"user"`
	Conn         string `json:"conn"`
	Node         string `json:"node"`
	Seq          uint64 `json:"seq"`
	Epoch        string `json:"epoch"`         // the stream Seq counts in: when it changes, the store was wiped
	Gap          bool   `json:"gap"`           // messages asked for were removed by retention
	Oldest       uint64 `json:"oldest"`        // with Gap: the oldest seq still kept
	BroadcastSeq uint64 `json:"broadcast_seq"` // the newest broadcast's seq
	// Encoding is the connection's (set by the client, not the server):
	// JSON where Protobuf was asked for means the server did not agree.
	Encoding Encoding `json:"-"`
}

// Options configure a Client. URL and a token source are required.
type Options struct {
	// URL of a push node or of the load balancer in front of them: ws://host:port
	// or wss://host:port.
	URL string
	// URLFunc, when set, picks the URL before every connection instead (client
	// side load balancing, or service discovery).
	URLFunc func() string
	// Token is a fixed token; TokenFunc, when set, is asked for a fresh one
	// before every connection (tokens expire; reconnects may come hours later).
	Token     string
	TokenFunc func(ctx context.Context) (string, error)
	// Device is a stable ID of this install; with it the server remembers the
	// last ack and resumes there even after the process restarts.
	Device string
	// Since starts the first connection after this seq. Zero with a Device
	// resumes from the device's last ack; zero without one starts from now.
	Since uint64

	// OnMessage gets each message once, in seq order. The message is
	// acknowledged when OnMessage returns.
	OnMessage func(Message)
	// OnFrame, for diagnostics, sees every msg frame as it arrives, before
	// repeats are dropped (tests use it to prove there are none to drop).
	OnFrame func(Message)
	// OnConnected is called after each hello; OnDisconnected after each
	// connection ends (err says why; a *websocket.CloseError carries the
	// server's close code and reason).
	OnConnected    func(Hello)
	OnDisconnected func(err error)

	// Topics to subscribe to on every connection (Subscribe adds more).
	// The token's topics claim, or the server's subscribe proxy, must allow
	// them.
	Topics []string
	// OnPub gets each topic message and broadcast once, in seq order per
	// topic; after a reconnect the client resumes each topic where it was.
	OnPub func(Pub)
	// OnSubRefused is told of a topic the server refused (code: invalid,
	// forbidden, unavailable, too_many); the topic is dropped from the set.
	OnSubRefused func(topic, code, message string)
	// OnPresence is told of each user joining or leaving a subscribed
	// topic whose namespace sends join and leave frames; Presence asks who
	// is there.
	OnPresence func(PresenceChange)

	MinBackoff time.Duration // first reconnect delay (default 250 ms)
	MaxBackoff time.Duration // cap of the exponential backoff (default 30 s)
	PingEvery  time.Duration // application ping period (default 20 s)
	// Encoding of the frames: JSON (the default) or Protobuf. With
	// Protobuf the client asks for the subprotocol herald.v1.protobuf and
	// speaks JSON on a connection whose server did not agree to it.
	Encoding Encoding
	// Dialer defaults to one that offers permessage-deflate, which Herald
	// agrees to unless it runs with --compression=false: its frames of 512
	// bytes or more then come compressed. The client's own frames (acks,
	// pings) are too short to gain from it and go uncompressed.
	Dialer *websocket.Dialer
}

// Client is a long-lived connection to Herald. Run drives it.
type Client struct {
	opts Options

	mu      sync.Mutex
	lastSeq uint64
	epoch   string                 // the epoch lastSeq counts in, from the last hello; "" unknown
	topics  map[string]*topicState // subscribed topics, and Broadcast
	ws      *websocket.Conn        // the open connection, nil between connections
	wmu     sync.Mutex             // one writer at a time (acks and pings)
	queries uint64                 // presence queries sent: the last one's ID
	waiting map[uint64]chan presenceReply
}

// topicState is where a topic stands: the last seq handed to OnPub, once
// one is known (the server's answer to the sub, or a pub).
type topicState struct {
	last  uint64
	known bool
}

// New returns a Client; call Run to connect.
func New(opts Options) (*Client, error) {
	if opts.URL == "" && opts.URLFunc == nil {
		return nil, errors.New("client: URL or URLFunc is required")
	}
	if opts.Token == "" && opts.TokenFunc == nil {
		return nil, errors.New("client: Token or TokenFunc is required")
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 250 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.PingEvery <= 0 {
		opts.PingEvery = 20 * time.Second
	}
	if opts.Dialer == nil {
		opts.Dialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, EnableCompression: true}
	}
	switch opts.Encoding {
	case "", JSON:
	case Protobuf:
		d := *opts.Dialer // the caller's stays as it was
		d.Subprotocols = append([]string{protobufProtocol}, d.Subprotocols...)
		opts.Dialer = &d
	default:
		return nil, fmt.Errorf("client: Encoding %q: use client.JSON or client.Protobuf", opts.Encoding)
	}
	c := &Client{opts: opts, lastSeq: opts.Since, topics: map[string]*topicState{Broadcast: {}}}
	for _, t := range opts.Topics {
		c.topics[t] = &topicState{}
	}
	return c, nil
}

// Subscribe adds topics: they are subscribed to now if the client is
// connected, and on every connection after. The answer comes
// asynchronously: pubs to OnPub, refusals to OnSubRefused.
func (c *Client) Subscribe(topics ...string) error {
	c.mu.Lock()
	var add []string
	for _, t := range topics {
		if _, ok := c.topics[t]; !ok {
			c.topics[t] = &topicState{}
			add = append(add, t)
		}
	}
	ws := c.ws
	c.mu.Unlock()
	if ws == nil || len(add) == 0 {
		return nil
	}
	return c.write(ws, outFrame{Type: "sub", Topics: add})
}

// Unsubscribe drops topics.
func (c *Client) Unsubscribe(topics ...string) error {
	c.mu.Lock()
	for _, t := range topics {
		delete(c.topics, t)
	}
	ws := c.ws
	c.mu.Unlock()
	if ws == nil || len(topics) == 0 {
		return nil
	}
	return c.write(ws, outFrame{Type: "unsub", Topics: topics})
}

// resubscribe subscribes the new connection to every topic of the set,
// each from the last seq seen (the server replays the rest).
func (c *Client) resubscribe(ws *websocket.Conn) {
	c.mu.Lock()
	c.ws = ws
	var topics []string
	since := map[string]uint64{}
	for t, st := range c.topics {
		if t == Broadcast {
			continue
		}
		topics = append(topics, t)
		if st.known {
			since[t] = st.last
		}
	}
	c.mu.Unlock()
	for len(topics) > 0 { // the server takes 100 topics per frame
		n := min(len(topics), 100)
		c.write(ws, outFrame{Type: "sub", Topics: topics[:n], Since: since})
		topics = topics[n:]
	}
}

// LastSeq is the seq of the last message handed to OnMessage.
func (c *Client) LastSeq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastSeq
}

// ErrRefused is returned by Run when the server refuses the token (HTTP 401):
// retrying with the same token cannot help.
var ErrRefused = errors.New("client: token refused")

// Run connects and keeps the connection up until ctx is cancelled (it then
// returns nil) or the token is refused with no TokenFunc to get another.
func (c *Client) Run(ctx context.Context) error {
	backoff := c.opts.MinBackoff
	for {
		start := time.Now()
		err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if c.opts.OnDisconnected != nil {
			c.opts.OnDisconnected(err)
		}
		if errors.Is(err, ErrRefused) && c.opts.TokenFunc == nil {
			return err
		}
		if time.Since(start) > time.Minute {
			backoff = c.opts.MinBackoff // it was up a while: start over
		}
		// Full jitter: a node restart must not turn into a reconnect storm.
		sleep := time.Duration(rand.Int64N(int64(backoff)) + 1)
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return nil
		}
		backoff = min(backoff*2, c.opts.MaxBackoff)
	}
}

func (c *Client) token(ctx context.Context) (string, error) {
	if c.opts.TokenFunc != nil {
		return c.opts.TokenFunc(ctx)
	}
	return c.opts.Token, nil
}

func (c *Client) session(ctx context.Context) error {
	tok, err := c.token(ctx)
	if err != nil {
		return fmt.Errorf("client: get token: %w", err)
	}
	q := url.Values{}
	if c.opts.Device != "" {
		q.Set("device", c.opts.Device)
	}
	// After the first message (or with Since), resume exactly after the last
	// one processed; otherwise let the server pick (device ack, or now).
	c.mu.Lock()
	if c.lastSeq > 0 {
		q.Set("since", strconv.FormatUint(c.lastSeq, 10))
		if c.epoch != "" {
			q.Set("epoch", c.epoch) // another epoch's since: the server replays the new stream whole
		}
	}
	if b := c.topics[Broadcast]; b.known {
		q.Set("broadcast_since", strconv.FormatUint(b.last, 10))
	}
	c.mu.Unlock()
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	base := c.opts.URL
	if c.opts.URLFunc != nil {
		base = c.opts.URLFunc()
	}
	ws, resp, err := c.opts.Dialer.DialContext(ctx, base+"/ws?"+q.Encode(), hdr)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return ErrRefused
		}
		return fmt.Errorf("client: dial: %w", err)
	}
	ws.EnableWriteCompression(false)
	defer ws.Close()
	defer func() {
		c.mu.Lock()
		c.ws = nil
		c.mu.Unlock()
		c.abandonQueries()
	}()
	stop := context.AfterFunc(ctx, func() {
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
		ws.Close()
	})
	defer stop()
	pingDone := make(chan struct{})
	defer close(pingDone)
	go c.pinger(ws, pingDone)

	first := true
	k := codecOf(ws)
	for {
		ws.SetReadDeadline(time.Now().Add(3 * c.opts.PingEvery))
		op, data, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		f, ok := k.decode(op, data)
		if !ok {
			continue // a frame this version does not understand
		}
		switch f.Type {
		case "hello":
			h := f.hello
			h.Encoding = JSON
			if k == protoCodec {
				h.Encoding = Protobuf
			}
			c.mu.Lock()
			c.restart(h)
			if b := c.topics[Broadcast]; !b.known {
				b.last, b.known = h.BroadcastSeq, true
			}
			c.mu.Unlock()
			if first && c.opts.OnConnected != nil {
				c.opts.OnConnected(h)
			}
			first = false
			c.resubscribe(ws)
		case "msg":
			c.handle(ws, f.message())
		case "pub":
			c.handlePub(f.pub())
		case "subscribed":
			c.mu.Lock()
			if st := c.topics[f.Topic]; st != nil && !f.Already && (!st.known || f.Seq < st.last) {
				// The topic's stream starts here; or its newest seq is below
				// the last one handed over: the store was wiped and its seqs
				// began again, and the old position would drop every new one.
				st.last, st.known = f.Seq, true
			}
			c.mu.Unlock()
		case "sub_refused":
			c.mu.Lock()
			delete(c.topics, f.Topic)
			c.mu.Unlock()
			if c.opts.OnSubRefused != nil {
				c.opts.OnSubRefused(f.Topic, f.Code, f.Message)
			}
		case "presence":
			c.answered(f)
		case "join", "leave", "presence_changes":
			c.presenceChanges(f)
		case "refresh":
			// The token expires soon: hand the server a new one, off the
			// read loop (TokenFunc may call the application's backend).
			// Without TokenFunc there is none to give: the server closes
			// the connection at expiry (4001) and Run reports ErrRefused.
			if c.opts.TokenFunc != nil {
				go c.refresh(ctx, ws)
			}
		}
	}
}

// restart forgets the positions of a stream the store no longer has (c.mu
// held): a hello in another epoch than the last one, or whose newest seq is
// below the last message handed over (the store was wiped, or restored from
// a backup), starts the user's stream over, else every new message would be
// dropped as a repeat until its seqs passed the old ones. The server replays
// the new stream from its start (docs/protocol.md, "Epochs").
func (c *Client) restart(h Hello) {
	if (h.Epoch != "" && c.epoch != "" && h.Epoch != c.epoch) || h.Seq < c.lastSeq {
		c.lastSeq = 0
	}
	if h.Epoch != "" {
		c.epoch = h.Epoch
	}
	if b := c.topics[Broadcast]; b.known && h.BroadcastSeq < b.last {
		b.last = h.BroadcastSeq
	}
}

// refresh sends a fresh token on the open connection.
func (c *Client) refresh(ctx context.Context, ws *websocket.Conn) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tok, err := c.opts.TokenFunc(ctx)
	if err != nil || tok == "" {
		return // the server closes with 4001 at expiry; Run reconnects and asks again
	}
	c.write(ws, outFrame{Type: "refresh", Token: tok})
}

// handle drops repeats, hands the message over, and acks it.
func (c *Client) handle(ws *websocket.Conn, m Message) {
	if c.opts.OnFrame != nil {
		c.opts.OnFrame(m)
	}
	c.mu.Lock()
	if m.Seq <= c.lastSeq {
		c.mu.Unlock()
		return // at-least-once delivery: already processed
	}
	c.mu.Unlock()
	if c.opts.OnMessage != nil {
		c.opts.OnMessage(m)
	}
	c.mu.Lock()
	c.lastSeq = m.Seq
	c.mu.Unlock()
	c.write(ws, outFrame{Type: "ack", Seq: &m.Seq})
}

// handlePub drops repeats of a topic's messages and hands the rest over.
func (c *Client) handlePub(p Pub) {
	c.mu.Lock()
	st := c.topics[p.Topic]
	if st == nil || (st.known && p.Seq <= st.last) {
		c.mu.Unlock()
		return // unsubscribed meanwhile, or already processed
	}
	st.last, st.known = p.Seq, true
	c.mu.Unlock()
	if c.opts.OnPub != nil {
		c.opts.OnPub(p)
	}
}

// pinger sends application pings (browsers cannot see WebSocket pings, and a
// proxy may drop a silent connection); the server's pong counts as traffic.
func (c *Client) pinger(ws *websocket.Conn, done <-chan struct{}) {
	t := time.NewTicker(c.opts.PingEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if c.write(ws, outFrame{Type: "ping"}) != nil {
				return
			}
		case <-done:
			return
		}
	}
}

func (c *Client) write(ws *websocket.Conn, f outFrame) error {
	op, b := codecOf(ws).encode(f)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return ws.WriteMessage(op, b)
}
