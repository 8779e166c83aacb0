package push

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/heraldpush/herald"
)

// presenceWriter records the subscriptions of topics whose namespace keeps
// presence (herald.TopicPresence). Subscribes and unsubscribes queue a
// change; one goroutine writes what queued in one batch, with this node's
// count of each topic touched, so a storm of joins costs a few round trips
// and a quiet topic costs nothing.
type presenceWriter struct {
	s       *Service
	store   herald.TopicPresence
	bus     herald.PresenceBus // nil: no join and leave frames
	mu      sync.Mutex
	pending []herald.PresenceChange
	local   map[string]map[string]herald.Member // topic -> conn -> this node's members
	touched map[string]bool                     // topics whose local count changed since the last write
	kick    chan struct{}
}

// presenceBatchWait lets a burst of changes gather into one write.
const presenceBatchWait = 50 * time.Millisecond

func newPresenceWriter(s *Service, store herald.TopicPresence, bus herald.PresenceBus) *presenceWriter {
	return &presenceWriter{s: s, store: store, bus: bus, local: map[string]map[string]herald.Member{}, touched: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// keeps reports whether topic's presence is kept.
func (w *presenceWriter) keeps(topic string) bool {
	if w == nil {
		return false
	}
	ns, _ := w.s.cfg.Namespaces.Of(topic)
	return ns.Presence
}

// join records that c subscribed to topic.
func (w *presenceWriter) join(c *session, topic string) {
	m := herald.Member{User: c.user, Device: c.device, Conn: c.id, Node: w.s.node.ID, Since: time.Now()}
	w.mu.Lock()
	ms := w.local[topic]
	if ms == nil {
		ms = map[string]herald.Member{}
		w.local[topic] = ms
	}
	ms[c.id] = m
	w.touched[topic] = true
	w.pending = append(w.pending, herald.PresenceChange{Topic: topic, Join: true, Member: m})
	w.mu.Unlock()
	w.signal()
}

// leave records that c's subscription to topic ended.
func (w *presenceWriter) leave(c *session, topic string) {
	w.mu.Lock()
	ms := w.local[topic]
	if _, ok := ms[c.id]; !ok {
		w.mu.Unlock()
		return
	}
	delete(ms, c.id)
	if len(ms) == 0 {
		delete(w.local, topic)
	}
	w.touched[topic] = true
	w.pending = append(w.pending, herald.PresenceChange{Topic: topic, Member: herald.Member{User: c.user, Conn: c.id}})
	w.mu.Unlock()
	w.signal()
}

func (w *presenceWriter) signal() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *presenceWriter) run(ctx context.Context) {
	for {
		select {
		case <-w.kick:
		case <-ctx.Done():
			return
		}
		select {
		case <-time.After(presenceBatchWait):
		case <-ctx.Done():
			return
		}
		w.flush(ctx)
	}
}

// counts is this node's count of topic's members (w.mu held).
func (w *presenceWriter) counts(topic string) herald.PresenceStats {
	ms := w.local[topic]
	users := make(map[string]struct{}, len(ms))
	for _, m := range ms {
		users[m.User] = struct{}{}
	}
	return herald.PresenceStats{Users: len(users), Connections: len(ms)}
}

func (w *presenceWriter) flush(ctx context.Context) {
	w.mu.Lock()
	b := herald.PresenceBatch{Changes: w.pending, Counts: make(map[string]herald.PresenceStats, len(w.touched))}
	for t := range w.touched {
		b.Counts[t] = w.counts(t)
	}
	w.pending, w.touched = nil, map[string]bool{}
	w.mu.Unlock()
	if len(b.Changes) == 0 && len(b.Counts) == 0 {
		return
	}
	events, err := w.store.Change(ctx, w.s.node, b)
	w.publish(ctx, events)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		slog.Warn("write presence", "node", w.s.node.ID, "changes", len(b.Changes), "err", err)
		// Put the batch back, ahead of what came since, and try again.
		w.mu.Lock()
		w.pending = append(b.Changes, w.pending...)
		for t := range b.Counts {
			w.touched[t] = true
		}
		w.mu.Unlock()
		time.AfterFunc(time.Second, w.signal)
	}
}

// refreshAll writes every local member again: after the routing store lost
// its data, and every --route-refresh so that the store's safety expiry
// never removes a member. The joins go through the queue like any other
// change, so a leave queued after one is written after it too.
func (w *presenceWriter) refreshAll() {
	if w == nil {
		return
	}
	w.mu.Lock()
	for t, ms := range w.local {
		for _, m := range ms {
			w.pending = append(w.pending, herald.PresenceChange{Topic: t, Join: true, Member: m})
		}
		w.touched[t] = true
	}
	w.mu.Unlock()
	w.signal()
}
