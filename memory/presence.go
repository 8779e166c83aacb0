package memory

import (
	"context"
	"sort"
	"sync"

	"github.com/heraldpush/herald"
)

// TopicPresence is an in-memory herald.TopicPresence and herald.PresenceBus
// (herald all). A member counts while its node is alive in the Router, as a
// route does.
type TopicPresence struct {
	r      *Router
	mu     sync.Mutex
	topics map[string]map[string]member // topic -> conn -> member
	users  map[string]map[string]int    // topic -> user -> members
	reaped map[herald.Node]bool
	subs   []func([]herald.PresenceEvent)
	subsMu sync.Mutex
}

type member struct {
	herald.Member
	epoch int64
}

var (
	_ herald.TopicPresence = (*TopicPresence)(nil)
	_ herald.PresenceBus   = (*TopicPresence)(nil)
)

// NewTopicPresence returns an empty TopicPresence whose node liveness is r's.
func NewTopicPresence(r *Router) *TopicPresence {
	return &TopicPresence{r: r, topics: map[string]map[string]member{}, users: map[string]map[string]int{}, reaped: map[herald.Node]bool{}}
}

// Change implements herald.TopicPresence.
func (p *TopicPresence) Change(_ context.Context, node herald.Node, b herald.PresenceBatch) ([]herald.PresenceEvent, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var events []herald.PresenceEvent
	for _, c := range b.Changes {
		ms := p.topics[c.Topic]
		if !c.Join {
			old, ok := ms[c.Conn]
			if !ok {
				continue
			}
			delete(ms, c.Conn)
			if len(ms) == 0 {
				delete(p.topics, c.Topic)
			}
			events = p.count(events, c.Topic, old.Member, -1)
			continue
		}
		if ms == nil {
			ms = map[string]member{}
			p.topics[c.Topic] = ms
		}
		m := c.Member
		m.Node = node.ID
		if _, again := ms[c.Conn]; !again {
			events = p.count(events, c.Topic, m, +1)
		}
		ms[c.Conn] = member{Member: m, epoch: node.Epoch}
	}
	return events, nil
}

// count adds d to m's user's members of topic, noting a join or a leave
// when that crosses zero (p.mu held).
func (p *TopicPresence) count(events []herald.PresenceEvent, topic string, m herald.Member, d int) []herald.PresenceEvent {
	us := p.users[topic]
	if us == nil {
		us = map[string]int{}
		p.users[topic] = us
	}
	us[m.User] += d
	switch n := us[m.User]; {
	case d > 0 && n == 1:
		events = append(events, herald.PresenceEvent{Topic: topic, Join: true, User: m.User, Device: m.Device})
	case d < 0 && n <= 0:
		delete(us, m.User)
		if len(us) == 0 {
			delete(p.users, topic)
		}
		events = append(events, herald.PresenceEvent{Topic: topic, User: m.User, Device: m.Device})
	}
	return events
}

// Reap implements herald.TopicPresence.
func (p *TopicPresence) Reap(_ context.Context, node herald.Node) ([]herald.PresenceEvent, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	node = herald.Node{ID: node.ID, Epoch: node.Epoch}
	if p.reaped[node] {
		return nil, nil
	}
	p.reaped[node] = true
	var events []herald.PresenceEvent
	for topic, ms := range p.topics {
		for conn, m := range ms {
			if m.Node == node.ID && m.epoch == node.Epoch {
				delete(ms, conn)
				events = p.count(events, topic, m.Member, -1)
			}
		}
		if len(ms) == 0 {
			delete(p.topics, topic)
		}
	}
	return events, nil
}

// Holders implements herald.TopicPresence.
func (p *TopicPresence) Holders(context.Context) ([]herald.Node, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[herald.Node]bool{}
	var out []herald.Node
	for _, ms := range p.topics {
		for _, m := range ms {
			if n := (herald.Node{ID: m.Node, Epoch: m.epoch}); !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// Publish implements herald.PresenceBus: every listener, at once.
func (p *TopicPresence) Publish(_ context.Context, events []herald.PresenceEvent) error {
	p.subsMu.Lock()
	subs := p.subs
	p.subsMu.Unlock()
	for _, fn := range subs {
		fn(events)
	}
	return nil
}

// Listen implements herald.PresenceBus.
func (p *TopicPresence) Listen(ctx context.Context, fn func([]herald.PresenceEvent)) error {
	p.subsMu.Lock()
	p.subs = append(p.subs, fn)
	p.subsMu.Unlock()
	<-ctx.Done()
	return nil
}

// live returns topic's members on live nodes, by connection ID.
func (p *TopicPresence) live(topic string) []herald.Member {
	p.r.mu.Lock()
	now := p.r.now()
	alive := map[string]int64{}
	for id, e := range p.r.nodes {
		if now.Before(e.expires) {
			alive[id] = e.node.Epoch
		}
	}
	p.r.mu.Unlock()
	p.mu.Lock()
	var out []herald.Member
	for _, m := range p.topics[topic] {
		if e, ok := alive[m.Node]; ok && e == m.epoch {
			out = append(out, m.Member)
		}
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Conn < out[j].Conn })
	return out
}

// Members implements herald.TopicPresence: pages in connection ID order,
// the cursor being the last ID of the page before.
func (p *TopicPresence) Members(_ context.Context, topic, cursor string, limit int) ([]herald.Member, string, error) {
	all := p.live(topic)
	i := sort.Search(len(all), func(i int) bool { return all[i].Conn > cursor })
	page := all[i:min(i+limit, len(all))]
	next := ""
	if i+limit < len(all) && len(page) > 0 {
		next = page[len(page)-1].Conn
	}
	return page, next, nil
}

// Stats implements herald.TopicPresence, counting the members (in memory
// that is cheap; users are distinct per node, as in Redis).
func (p *TopicPresence) Stats(_ context.Context, topic string) (herald.PresenceStats, error) {
	all := p.live(topic)
	users := map[[2]string]struct{}{}
	for _, m := range all {
		users[[2]string{m.Node, m.User}] = struct{}{}
	}
	return herald.PresenceStats{Users: len(users), Connections: len(all)}, nil
}
