package push

import (
	"encoding/json"
	"strconv"
	"sync/atomic"

	"github.com/heraldpush/herald"
)

// Topics on a connection. A client subscribes with a sub frame; the reader
// checks each topic (the token's topics claim, then the subscribe proxy),
// adds the subscription to the hub and queues its start for the writer. The
// writer waits until the node's route for the topic is written (from then on
// dispatch sends the topic's messages here), reads the topic's newest seq,
// answers "subscribed" and replays from the client's since: the same
// sequence as a connection's handshake, so a topic message is either in the
// replay or arrives live. Live topic messages for a subscription whose
// start the writer has not processed yet are dropped: the start reads them
// from the store.
//
// Broadcast is a subscription every connection has from its handshake on
// (session.bcast), under the topic "*".

// topicSub is one connection's subscription to one topic. It is small:
// every connection embeds one (the broadcast stream).
type topicSub struct {
	c   *session
	key string // herald.TopicKey(topic): where the topic is stored and routed
	pos int    // index in the hub's subscriber list; guarded by the hub shard's lock

	last  atomic.Uint64 // highest seq written; only the writer stores it
	ready atomic.Bool   // the start was processed: live messages count (set by the writer)
	gone  atomic.Bool   // unsubscribed, or the connection finished
}

// topic is the subscription's topic name ("news"; herald.Broadcast).
func (ts *topicSub) topic() string { return ts.key[len(herald.TopicPrefix):] }

// subStart is a new subscription's start, as the client asked for it: the
// writer's work item.
type subStart struct {
	sub      *topicSub
	since    herald.Seq
	hasSince bool
	last     bool // without since, start at the topic's last value (Namespace.LastValue)
	reqID    json.RawMessage
	routed   <-chan error
}

// clientSub is the part of a client frame that sub and unsub use.
type clientSub struct {
	ID     json.RawMessage       `json:"id,omitempty"`
	Topics []string              `json:"topics,omitempty"`
	Since  map[string]herald.Seq `json:"since,omitempty"`
	// Last asks for each topic's last value (a namespace with last_value)
	// before its live messages, where no since is given for it.
	Last bool `json:"last,omitempty"`
}

// maxTopicsPerFrame bounds the topics of one sub or unsub frame (the frame
// size limit bounds it too).
const maxTopicsPerFrame = 100

// subscribe handles a sub frame on the reader.
func (c *session) subscribe(f clientFrame) (int, string) {
	if len(f.Topics) == 0 || len(f.Topics) > maxTopicsPerFrame {
		return ClosePolicy, "sub needs 1 to " + strconv.Itoa(maxTopicsPerFrame) + " topics"
	}
	var ask []string // allowed by neither the claim nor refused yet: the proxy decides
	for _, t := range f.Topics {
		ns, _ := c.s.cfg.Namespaces.Of(t)
		switch {
		case !herald.ValidTopic(t):
			c.refuseTopic(f.ID, t, "invalid", "a topic is 1-128 bytes of A-Z a-z 0-9 _ - . @ :")
		case c.findSub(t) != nil:
			c.enqueue(outItem{frame: c.enc.subscribed(f.ID, t, c.findSub(t).last.Load(), true, false, 0)})
		case ns.Subscribe == herald.SubscribeAny,
			ns.Subscribe != herald.SubscribeProxy && herald.TopicAllowed(c.topicClaims(), t):
			c.addSub(f, t)
		default:
			ask = append(ask, t)
		}
	}
	if len(ask) == 0 {
		return 0, ""
	}
	if c.s.subProxy == nil {
		for _, t := range ask {
			reason := "the token does not allow this topic"
			if ns, _ := c.s.cfg.Namespaces.Of(t); ns.Subscribe == herald.SubscribeProxy {
				reason = "this topic's namespace asks the subscribe proxy, and none is set"
			}
			c.refuseTopic(f.ID, t, "forbidden", reason)
		}
		return 0, ""
	}
	allowed, err := c.s.subProxy.allow(c.user, ask)
	for _, t := range ask {
		switch {
		case err != nil:
			c.refuseTopic(f.ID, t, "unavailable", "the subscribe proxy could not be asked; subscribe again later")
		case allowed[t] && c.findSub(t) != nil: // named twice in the frame
			c.enqueue(outItem{frame: c.enc.subscribed(f.ID, t, c.findSub(t).last.Load(), true, false, 0)})
		case allowed[t]:
			c.addSub(f, t)
		default:
			c.refuseTopic(f.ID, t, "forbidden", "the subscribe proxy refused this topic")
		}
	}
	return 0, ""
}

func (c *session) refuseTopic(id json.RawMessage, topic, code, msg string) {
	c.s.m.subRefused.WithLabelValues(code).Inc()
	c.enqueue(outItem{frame: c.enc.subRefused(id, topic, code, msg)})
}

// addSub binds a new subscription and queues its start for the writer.
func (c *session) addSub(f clientFrame, topic string) {
	c.mu.Lock()
	if max := c.s.cfg.MaxTopics; max > 0 && len(c.subs) >= max {
		c.mu.Unlock()
		c.refuseTopic(f.ID, topic, "too_many", "the connection has "+strconv.Itoa(max)+" topics, the limit")
		return
	}
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	ts := &topicSub{c: c, key: herald.TopicKey(topic)}
	st := &subStart{sub: ts, reqID: f.ID}
	st.since, st.hasSince = f.Since[topic]
	ns, _ := c.s.cfg.Namespaces.Of(topic)
	st.last = f.Last && ns.LastValue && !st.hasSince
	c.subs = append(c.subs, ts)
	c.mu.Unlock()
	c.s.m.subscriptions.Inc() // with the append: dropSubs, which may run next, decrements it
	if !c.s.hub.addSub(ts, ns.MaxSubscribers) {
		c.mu.Lock()
		for i, s := range c.subs {
			if s == ts { // else dropSubs has taken it, and counted it down
				c.subs = append(c.subs[:i], c.subs[i+1:]...)
				c.s.m.subscriptions.Dec()
				break
			}
		}
		c.mu.Unlock()
		c.refuseTopic(f.ID, topic, "too_many", "the topic has "+strconv.Itoa(ns.MaxSubscribers)+" subscribers on this node, its namespace's max_subscribers")
		return
	}
	if ts.gone.Load() {
		// The connection finished between the append and the hub: its
		// dropSubs ran before this subscription was in the hub.
		if c.s.hub.removeSub(ts) {
			c.s.routes.mark(ts.key)
		}
		return
	}
	c.connEvent(ConnEvent{Type: "subscribe", Topic: topic})
	if c.s.presence.keeps(topic) {
		c.s.presence.join(c, topic)
		if ts.gone.Load() { // dropSub ran meanwhile, before the join: undo it
			c.s.presence.leave(c, topic)
		}
	}
	// Every new subscription waits for a route write, not only the topic's
	// first here: a second subscriber must not read the store before the
	// first one's registration is done. Marks of one topic are one write.
	st.routed = c.s.routes.mark(ts.key)
	c.enqueue(outItem{sub: ts, start: st})
}

// unsubscribe handles an unsub frame on the reader.
func (c *session) unsubscribe(f clientFrame) (int, string) {
	if len(f.Topics) == 0 || len(f.Topics) > maxTopicsPerFrame {
		return ClosePolicy, "unsub needs 1 to " + strconv.Itoa(maxTopicsPerFrame) + " topics"
	}
	var done []string
	for _, t := range f.Topics {
		c.mu.Lock()
		var ts *topicSub
		for i, s := range c.subs {
			if s.topic() == t {
				ts = s
				c.subs = append(c.subs[:i], c.subs[i+1:]...)
				break
			}
		}
		c.mu.Unlock()
		if ts != nil {
			c.dropSub(ts)
		}
		done = append(done, t) // unsubscribing a topic one is not on is no error
	}
	c.enqueue(outItem{frame: c.enc.unsubscribed(f.ID, done)})
	return 0, ""
}

// dropSub ends a subscription: no more of its messages are written, and the
// node's route for the topic goes when its last local subscriber does.
func (c *session) dropSub(ts *topicSub) {
	ts.gone.Store(true)
	c.connEvent(ConnEvent{Type: "unsubscribe", Topic: ts.topic()})
	if t := ts.topic(); c.s.presence.keeps(t) {
		c.s.presence.leave(c, t)
	}
	if c.s.hub.removeSub(ts) {
		c.s.routes.mark(ts.key) // the last one here: the node's route for the topic goes
	}
	c.s.m.subscriptions.Dec()
}

// dropSubs ends every subscription of a finished connection.
func (c *session) dropSubs() {
	c.mu.Lock()
	subs := c.subs
	c.subs = nil
	c.mu.Unlock()
	for _, ts := range subs {
		c.dropSub(ts)
	}
}

// findSub returns the connection's subscription to topic, nil if none.
func (c *session) findSub(topic string) *topicSub {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		if s.topic() == topic {
			return s
		}
	}
	return nil
}

// topicClaims returns the token's topics claim (the newest token's, after a refresh).
func (c *session) topicClaims() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claims
}

// encodePub builds a pub frame: one message of a topic (or a broadcast).
func encodePub(topic string, d herald.Delivery) []byte {
	b := make([]byte, 0, 112+len(topic)+len(d.ID)+len(d.Payload))
	b = append(b, `{"type":"pub","topic":`...)
	b = herald.AppendJSONString(b, topic)
	b = append(b, `,"id":`...)
	b = herald.AppendJSONString(b, d.ID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, d.Seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, d.Time.UnixMilli(), 10)
	b = append(b, `,"payload":`...)
	b = append(b, d.Payload...)
	return append(b, '}')
}

type subscribedMsg struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id,omitempty"`
	Topic   string          `json:"topic"`
	Seq     herald.Seq      `json:"seq"`
	Already bool            `json:"already,omitempty"`
	Gap     bool            `json:"gap,omitempty"`
	Oldest  herald.Seq      `json:"oldest,omitempty"`
}

func subscribedFrame(id json.RawMessage, topic string, seq herald.Seq, already, gap bool, oldest herald.Seq) []byte {
	b, _ := json.Marshal(subscribedMsg{Type: "subscribed", ID: id, Topic: topic, Seq: seq, Already: already, Gap: gap, Oldest: oldest})
	return b
}

func subRefusedFrame(id json.RawMessage, topic, code, msg string) []byte {
	b, _ := json.Marshal(struct {
		Type    string          `json:"type"`
		ID      json.RawMessage `json:"id,omitempty"`
		Topic   string          `json:"topic"`
		Code    string          `json:"code"`
		Message string          `json:"message"`
	}{"sub_refused", id, topic, code, msg})
	return b
}

func unsubscribedFrame(id json.RawMessage, topics []string) []byte {
	b, _ := json.Marshal(struct {
		Type   string          `json:"type"`
		ID     json.RawMessage `json:"id,omitempty"`
		Topics []string        `json:"topics"`
	}{"unsubscribed", id, topics})
	return b
}
