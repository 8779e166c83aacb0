package push

import (
	"hash/maphash"
	"sync"

	"github.com/heraldpush/herald"
)

// hubShards splits the user -> connections map so that delivery to one user
// never waits on a lock held for another (Centrifuge's hub does the same).
const hubShards = 64

// hub is the local binding of user to connections (step 3).
type hub struct {
	seed   maphash.Seed
	shards [hubShards]shard
}

type shard struct {
	mu    sync.RWMutex
	users map[string]map[*conn]struct{}
}

func newHub() *hub {
	h := &hub{seed: maphash.MakeSeed()}
	for i := range h.shards {
		h.shards[i].users = make(map[string]map[*conn]struct{})
	}
	return h
}

func (h *hub) shard(user string) *shard {
	return &h.shards[maphash.String(h.seed, user)%hubShards]
}

func (h *hub) add(c *conn) {
	s := h.shard(c.user)
	s.mu.Lock()
	cs := s.users[c.user]
	if cs == nil {
		cs = make(map[*conn]struct{})
		s.users[c.user] = cs
	}
	cs[c] = struct{}{}
	s.mu.Unlock()
}

func (h *hub) remove(c *conn) {
	s := h.shard(c.user)
	s.mu.Lock()
	if cs := s.users[c.user]; cs != nil {
		delete(cs, c)
		if len(cs) == 0 {
			delete(s.users, c.user)
		}
	}
	s.mu.Unlock()
}

// conns returns the user's connections as route entries (for the routing table).
func (h *hub) conns(user string) []herald.Conn {
	s := h.shard(user)
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]herald.Conn, 0, len(s.users[user]))
	for c := range s.users[user] {
		out = append(out, herald.Conn{ID: c.id, Device: c.device, Since: c.since})
	}
	return out
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

// eachConns calls fn with every user and their connections, shard by shard,
// without holding a lock while fn runs.
func (h *hub) eachConns(fn func(user string, conns []*conn)) {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		snap := make(map[string][]*conn, len(s.users))
		for u, cs := range s.users {
			for c := range cs {
				snap[u] = append(snap[u], c)
			}
		}
		s.mu.RUnlock()
		for u, cs := range snap {
			fn(u, cs)
		}
	}
}

// all returns every connection.
func (h *hub) all() []*conn {
	var out []*conn
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for _, cs := range s.users {
			for c := range cs {
				out = append(out, c)
			}
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
	frame := encodeMsg(d)
	for c := range cs {
		c.enqueue(outItem{seq: d.Seq, frame: frame})
	}
	return len(cs)
}

// forEach calls fn with every connection while holding its shard's read
// lock: fn must be quick and must not call back into the hub.
func (h *hub) forEach(fn func(*conn)) {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for _, cs := range s.users {
			for c := range cs {
				fn(c)
			}
		}
		s.mu.RUnlock()
	}
}
