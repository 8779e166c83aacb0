package memory

import (
	"context"
	"sort"
	"sync"

	"github.com/heraldpush/herald"
)

// TopicPresence is an in-memory herald.TopicPresence (herald all). A member
// counts while its node is alive in the Router, as a route does.
type TopicPresence struct {
	r      *Router
	mu     sync.Mutex
	topics map[string]map[string]member // topic -> conn -> member
}

type member struct {
	herald.Member
	epoch int64
}

var _ herald.TopicPresence = (*TopicPresence)(nil)

// NewTopicPresence returns an empty TopicPresence whose node liveness is r's.
func NewTopicPresence(r *Router) *TopicPresence {
	return &TopicPresence{r: r, topics: map[string]map[string]member{}}
}

// Change implements herald.TopicPresence.
func (p *TopicPresence) Change(_ context.Context, node herald.Node, b herald.PresenceBatch) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range b.Changes {
		ms := p.topics[c.Topic]
		if !c.Join {
			delete(ms, c.Conn)
			if len(ms) == 0 {
				delete(p.topics, c.Topic)
			}
			continue
		}
		if ms == nil {
			ms = map[string]member{}
			p.topics[c.Topic] = ms
		}
		m := c.Member
		m.Node = node.ID
		ms[c.Conn] = member{Member: m, epoch: node.Epoch}
	}
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
