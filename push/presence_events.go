package push

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/clientpb"
)

// Join and leave frames. The node whose batch made a user-level change
// (TopicPresence.Change, or Reap for a dead node's members) publishes it on
// the bus; every node hands the events of a topic to its own subscribers,
// gathered for presenceEventWait: one event is a join or leave frame, more
// become one presence_changes frame, so a storm of joins costs each
// subscriber a frame per interval, not a frame per join.

const presenceEventWait = 100 * time.Millisecond

// publish puts the events of namespaces with join_leave on the bus.
func (w *presenceWriter) publish(ctx context.Context, events []herald.PresenceEvent) {
	if w.bus == nil {
		return
	}
	var out []herald.PresenceEvent
	for _, e := range events {
		if ns, _ := w.s.cfg.Namespaces.Of(e.Topic); ns.JoinLeave {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return
	}
	if err := w.bus.Publish(ctx, out); err != nil && ctx.Err() == nil {
		slog.Warn("publish presence events", "node", w.s.node.ID, "events", len(out), "err", err)
	}
}

// presenceFanout gathers the bus's events by topic and writes them to this
// node's subscribers.
type presenceFanout struct {
	s       *Service
	mu      sync.Mutex
	pending map[string][]herald.PresenceEvent
	kick    chan struct{}
}

func newPresenceFanout(s *Service) *presenceFanout {
	return &presenceFanout{s: s, pending: map[string][]herald.PresenceEvent{}, kick: make(chan struct{}, 1)}
}

// add takes a published batch (the bus's listener).
func (f *presenceFanout) add(events []herald.PresenceEvent) {
	f.mu.Lock()
	for _, e := range events {
		if f.s.hub.subCount(herald.TopicKey(e.Topic)) > 0 {
			f.pending[e.Topic] = append(f.pending[e.Topic], e)
		}
	}
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *presenceFanout) run(ctx context.Context) {
	for {
		select {
		case <-f.kick:
		case <-ctx.Done():
			return
		}
		select {
		case <-time.After(presenceEventWait):
		case <-ctx.Done():
			return
		}
		f.mu.Lock()
		pending := f.pending
		f.pending = map[string][]herald.PresenceEvent{}
		f.mu.Unlock()
		for topic, events := range pending {
			f.deliver(topic, events)
		}
	}
}

// who is one user in a presence_changes frame.
type who struct {
	User   string `json:"user"`
	Device string `json:"device,omitempty"`
}

// netChanges folds a topic's events in order: a user who joined and left
// within the interval (or left and came back) is no change at all.
func netChanges(events []herald.PresenceEvent) (joins, leaves []who) {
	first := map[string]herald.PresenceEvent{}
	last := map[string]herald.PresenceEvent{}
	var order []string
	for _, e := range events {
		if _, ok := first[e.User]; !ok {
			first[e.User] = e
			order = append(order, e.User)
		}
		last[e.User] = e
	}
	for _, u := range order {
		f, l := first[u], last[u]
		switch {
		case f.Join && l.Join:
			joins = append(joins, who{u, l.Device})
		case !f.Join && !l.Join:
			leaves = append(leaves, who{u, l.Device})
		}
	}
	return joins, leaves
}

func (f *presenceFanout) deliver(topic string, events []herald.PresenceEvent) {
	joins, leaves := netChanges(events)
	if len(joins)+len(leaves) == 0 {
		return
	}
	fs := frameSet{encode: func(e encoding) []byte { return e.presenceEvents(topic, joins, leaves) }, zmin: f.s.hub.zmin}
	for _, ts := range f.s.hub.subs(herald.TopicKey(topic)) {
		frame, z := fs.get(ts.c.enc)
		ts.c.enqueue(outItem{frame: frame, z: z})
	}
}

// presenceEvents is the frame of a topic's joins and leaves.
func (e encoding) presenceEvents(topic string, joins, leaves []who) []byte {
	if e == encProto {
		pe := &clientpb.PresenceEvents{Topic: topic}
		for _, j := range joins {
			pe.Joins = append(pe.Joins, &clientpb.Who{User: j.User, Device: j.Device})
		}
		for _, l := range leaves {
			pe.Leaves = append(pe.Leaves, &clientpb.Who{User: l.User, Device: l.Device})
		}
		return marshal(&clientpb.ServerFrame{Frame: &clientpb.ServerFrame_PresenceEvents{PresenceEvents: pe}})
	}
	type single struct {
		Type   string `json:"type"`
		Topic  string `json:"topic"`
		User   string `json:"user"`
		Device string `json:"device,omitempty"`
	}
	var v any
	switch {
	case len(joins) == 1 && len(leaves) == 0:
		v = single{"join", topic, joins[0].User, joins[0].Device}
	case len(leaves) == 1 && len(joins) == 0:
		v = single{"leave", topic, leaves[0].User, leaves[0].Device}
	default:
		v = struct {
			Type   string `json:"type"`
			Topic  string `json:"topic"`
			Joins  []who  `json:"joins"`
			Leaves []who  `json:"leaves"`
		}{"presence_changes", topic, orEmpty(joins), orEmpty(leaves)}
	}
	b, _ := json.Marshal(v)
	return b
}

func orEmpty(w []who) []who {
	if w == nil {
		return []who{}
	}
	return w
}

// reaper notices push nodes that died (or restarted: another epoch) and
// has the stores remove their members and connections, publishing the
// leaves and offlines. Every live node tries; the stores let one of them
// do it. A node seen alive is reaped as soon as it is gone; a node the
// stores name as a holder that this one never saw alive (it died before
// this node started, or the whole cluster restarted) is reaped when it is
// still not alive a beat later, so that a node that just started and is
// not yet in a cached node list is left alone.
type reaper struct {
	seen    map[string]herald.Node
	suspect map[herald.Node]bool
}

func newReaper() *reaper {
	return &reaper{seen: map[string]herald.Node{}, suspect: map[herald.Node]bool{}}
}

func (s *Service) reap(ctx context.Context, r *reaper) {
	if s.directory == nil || s.presence == nil && s.online == nil {
		return
	}
	nodes, err := s.directory.Nodes(ctx)
	if err != nil {
		return
	}
	now := make(map[string]herald.Node, len(nodes))
	for _, n := range nodes {
		now[n.ID] = herald.Node{ID: n.ID, Epoch: n.Epoch}
	}
	for id, old := range r.seen {
		if n, ok := now[id]; ok && n.Epoch == old.Epoch || id == s.node.ID {
			continue
		}
		if s.reapNode(ctx, old) {
			delete(r.seen, id)
		}
	}
	for id, n := range now {
		r.seen[id] = n
	}
	suspects := map[herald.Node]bool{}
	for _, h := range s.holders(ctx) {
		if live, ok := now[h.ID]; ok && live.Epoch == h.Epoch || h.ID == s.node.ID && h.Epoch == s.node.Epoch {
			continue
		}
		if !r.suspect[h] {
			suspects[h] = true
			continue
		}
		if !s.reapNode(ctx, h) {
			suspects[h] = true
		}
	}
	r.suspect = suspects
}

// holders are the nodes the stores hold members or connections of.
func (s *Service) holders(ctx context.Context) []herald.Node {
	var out []herald.Node
	if s.presence != nil {
		if hs, err := s.presence.store.Holders(ctx); err == nil {
			out = append(out, hs...)
		}
	}
	if s.online != nil {
		if hs, err := s.online.OnlineHolders(ctx); err == nil {
			out = append(out, hs...)
		}
	}
	return out
}

// reapNode removes a dead node's members and connections; false when a
// store failed (tried again at the next beat).
func (s *Service) reapNode(ctx context.Context, old herald.Node) bool {
	if s.presence != nil {
		events, err := s.presence.store.Reap(ctx, old)
		if err != nil {
			slog.Warn("remove a dead node's presence", "node", s.node.ID, "dead", old.ID, "err", err)
			return false
		}
		s.presence.publish(ctx, events)
	}
	if s.online != nil {
		users, err := s.online.ReapOnline(ctx, old, s.cfg.OfflineGrace)
		if err != nil {
			slog.Warn("remove a dead node's connections", "node", s.node.ID, "dead", old.ID, "err", err)
			return false
		}
		for _, u := range users {
			s.confirmOffline(ConnEvent{Type: "offline", User: u})
		}
	}
	return true
}
