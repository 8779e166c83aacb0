package push

import (
	"hash/maphash"
	"sync"

	"github.com/heraldpush/herald"
)

// hubShards splits the user -> connections map so that delivery to one user
// never waits on a lock held for another (Centrifuge's hub does the same).
const hubShards = 64

// hub is the node's binding of each user to their local connections.
type hub struct {
	seed   maphash.Seed
	shards [hubShards]shard
	// zmin is the shortest frame worth compressing once for every
	// session that sends it (sharedFrame); MaxInt with compression off.
	zmin int
}

// A user's connections are a slice, not a set: a user has a handful (at
// most MaxUserConns), and a one-entry map costs ~200 bytes more than a
// one-entry slice on every connection of the node.
type shard struct {
	mu     sync.RWMutex
	users  map[string][]*session
	topics map[string][]*topicSub // hub_topics.go; nil until a topic hashes here
}

func newHub(zmin int) *hub {
	h := &hub{seed: maphash.MakeSeed(), zmin: zmin}
	for i := range h.shards {
		h.shards[i].users = make(map[string][]*session)
	}
	return h
}

func (h *hub) shard(user string) *shard {
	return &h.shards[maphash.String(h.seed, user)%hubShards]
}

func (h *hub) add(c *session) {
	s := h.shard(c.user)
	s.mu.Lock()
	s.users[c.user] = append(s.users[c.user], c)
	s.mu.Unlock()
}

func (h *hub) remove(c *session) {
	s := h.shard(c.user)
	s.mu.Lock()
	cs := s.users[c.user]
	for i, x := range cs {
		if x == c {
			last := len(cs) - 1
			cs[i] = cs[last]
			cs[last] = nil
			cs = cs[:last]
			break
		}
	}
	if len(cs) == 0 {
		delete(s.users, c.user)
	} else {
		s.users[c.user] = cs
	}
	s.mu.Unlock()
}

// conns returns the user's connections as route entries (for the routing table).
func (h *hub) conns(user string) []herald.Conn {
	s := h.shard(user)
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]herald.Conn, 0, len(s.users[user]))
	for _, c := range s.users[user] {
		out = append(out, herald.Conn{ID: c.id, Device: c.device, Since: c.since})
	}
	return out
}

// userConns returns a copy of the user's connections.
func (h *hub) userConns(user string) []*session {
	s := h.shard(user)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]*session(nil), s.users[user]...)
}

// count returns how many connections user has on this node.
func (h *hub) count(user string) int {
	s := h.shard(user)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.users[user])
}

// each calls fn with every user and their connections, shard by shard.
func (h *hub) each(fn func(user string, conns []herald.Conn)) {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		users := make([]string, 0, len(s.users))
		for u := range s.users {
			users = append(users, u)
		}
		s.mu.RUnlock()
		for _, u := range users {
			if cs := h.conns(u); len(cs) > 0 {
				fn(u, cs)
			}
		}
	}
}

// all returns every connection.
func (h *hub) all() []*session {
	var out []*session
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for _, cs := range s.users {
			out = append(out, cs...)
		}
		s.mu.RUnlock()
	}
	return out
}

// deliver queues d on each of its user's local connections; the frame is
// encoded once and the same bytes go to every device.
func (h *hub) deliver(d herald.Delivery) int {
	s := h.shard(d.User)
	s.mu.RLock()
	defer s.mu.RUnlock()
	cs := s.users[d.User]
	if len(cs) == 0 {
		return 0
	}
	fs := frameSet{encode: func(e encoding) []byte { return e.msg(d) }, zmin: h.zmin}
	for _, c := range cs {
		frame, z := fs.get(c.enc)
		c.enqueue(outItem{seq: d.Seq, id: d.ID, frame: frame, z: z})
	}
	return len(cs)
}
