package push

import "github.com/heraldpush/herald"

// The hub's topic index: topic key -> its subscriptions on this node, in the
// same shards as the users (topic keys start with '#', user IDs never do).
// A topic may have tens of thousands of local subscribers, so removal is
// O(1): each subscription knows its index (pos) and the last one takes its
// place.

// addSub adds ts to its topic's subscribers, unless the topic has max of
// them here already (0: no bound); false when it did not.
func (h *hub) addSub(ts *topicSub, max int) bool {
	s := h.shard(ts.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.topics == nil {
		s.topics = make(map[string][]*topicSub)
	}
	subs := s.topics[ts.key]
	if max > 0 && len(subs) >= max {
		return false
	}
	ts.pos = len(subs)
	s.topics[ts.key] = append(subs, ts)
	return true
}

// removeSub removes ts; true when the topic has no subscription left here.
func (h *hub) removeSub(ts *topicSub) bool {
	s := h.shard(ts.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	subs := s.topics[ts.key]
	if ts.pos >= len(subs) || subs[ts.pos] != ts {
		return false // not in the index (already removed)
	}
	last := len(subs) - 1
	subs[ts.pos] = subs[last]
	subs[ts.pos].pos = ts.pos
	subs[last] = nil
	subs = subs[:last]
	if len(subs) == 0 {
		delete(s.topics, ts.key)
		return true
	}
	s.topics[ts.key] = subs
	return false
}

// subCount returns how many subscriptions key has on this node.
func (h *hub) subCount(key string) int {
	s := h.shard(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.topics[key])
}

// deliverTopic queues d (a message of the topic d.User names) on each local
// subscription, encoded once for all of them.
func (h *hub) deliverTopic(topic string, d herald.Delivery) int {
	s := h.shard(d.User)
	s.mu.RLock()
	defer s.mu.RUnlock()
	subs := s.topics[d.User]
	if len(subs) == 0 {
		return 0
	}
	fs := frameSet{encode: func(e encoding) []byte { return e.pub(topic, d) }, zmin: h.zmin}
	for _, ts := range subs {
		frame, z := fs.get(ts.c.enc)
		ts.c.enqueue(outItem{seq: d.Seq, frame: frame, z: z, sub: ts})
	}
	return len(subs)
}

// topicKeys returns the keys of the topics with local subscriptions.
func (h *hub) topicKeys() []string {
	var out []string
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for k := range s.topics {
			out = append(out, k)
		}
		s.mu.RUnlock()
	}
	return out
}

// subs returns a copy of key's local subscriptions.
func (h *hub) subs(key string) []*topicSub {
	s := h.shard(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]*topicSub(nil), s.topics[key]...)
}

// broadcast queues d, a broadcast, on every local connection, encoded once.
func (h *hub) broadcast(d herald.Delivery) int {
	fs := frameSet{encode: func(e encoding) []byte { return e.pub(herald.Broadcast, d) }, zmin: h.zmin}
	n := 0
	h.eachSession(func(c *session) {
		frame, z := fs.get(c.enc)
		c.enqueue(outItem{seq: d.Seq, frame: frame, z: z, sub: &c.bcast})
		n++
	})
	return n
}

// eachSession calls fn with every local connection, a shard at a time
// under its read lock (fn only queues).
func (h *hub) eachSession(fn func(c *session)) {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for _, cs := range s.users {
			for _, c := range cs {
				fn(c)
			}
		}
		s.mu.RUnlock()
	}
}
