package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
)

// Topic presence on Redis, three keys per topic, in one hash slot (the
// topic is the hash tag):
//
//	herald:presence:{T}     sorted set of connection IDs, all of score 0:
//	                        pages in ID order (ZRANGE BYLEX)
//	herald:presence:{T}:m   hash, connection ID -> member (and its node's epoch)
//	herald:presence:{T}:n   hash, node ID -> that node's counts and epoch
//
// A join or a leave is one write to the first two; a node's counts are
// one field it rewrites per batch, so Stats reads O(nodes) fields. Members
// and counts of a node that is not alive (or restarted: another epoch) are
// left out, and the members removed as a page meets them.
const presencePrefix = "herald:presence:{"

func presenceKeys(topic string) (ids, members, nodes string) {
	k := presencePrefix + topic + "}"
	return k, k + ":m", k + ":n"
}

// presenceTTL is the keys' safety expiry: a node writes its members and
// counts again every --route-refresh (2 h), well within it.
const presenceTTL = 6 * time.Hour

type storedMember struct {
	User   string `json:"u"`
	Device string `json:"d,omitempty"`
	Node   string `json:"n"`
	Epoch  int64  `json:"e"`
	Since  int64  `json:"s"` // Unix ms
}

type nodeCount struct {
	Epoch int64 `json:"e"`
	Users int   `json:"u"`
	Conns int   `json:"c"`
}

// TopicPresence is a herald.TopicPresence on Redis; node liveness is the
// Router's.
type TopicPresence struct{ r *Router }

var _ herald.TopicPresence = TopicPresence{}

// TopicPresence returns the topic presence that shares r's Redis and node list.
func (r *Router) TopicPresence() TopicPresence { return TopicPresence{r: r} }

// Change implements herald.TopicPresence in one pipeline.
func (p TopicPresence) Change(ctx context.Context, node herald.Node, b herald.PresenceBatch) error {
	pipe := p.r.rdb.Pipeline()
	touched := map[string]bool{}
	for _, c := range b.Changes {
		ids, members, _ := presenceKeys(c.Topic)
		touched[c.Topic] = true
		if !c.Join {
			pipe.ZRem(ctx, ids, c.Conn)
			pipe.HDel(ctx, members, c.Conn)
			continue
		}
		v, err := json.Marshal(storedMember{User: c.User, Device: c.Device, Node: node.ID, Epoch: node.Epoch, Since: c.Since.UnixMilli()})
		if err != nil {
			return err
		}
		pipe.ZAdd(ctx, ids, goredis.Z{Member: c.Conn})
		pipe.HSet(ctx, members, c.Conn, v)
	}
	for topic, st := range b.Counts {
		_, _, nodes := presenceKeys(topic)
		touched[topic] = true
		if st.Connections == 0 {
			pipe.HDel(ctx, nodes, node.ID)
			continue
		}
		v, _ := json.Marshal(nodeCount{Epoch: node.Epoch, Users: st.Users, Conns: st.Connections})
		pipe.HSet(ctx, nodes, node.ID, v)
	}
	for topic := range touched {
		ids, members, nodes := presenceKeys(topic)
		pipe.PExpire(ctx, ids, presenceTTL)
		pipe.PExpire(ctx, members, presenceTTL)
		pipe.PExpire(ctx, nodes, presenceTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("presence of %s: %w", node.ID, err)
	}
	return nil
}

// Members implements herald.TopicPresence: pages in connection ID order,
// the cursor being the last ID of the page before.
func (p TopicPresence) Members(ctx context.Context, topic, cursor string, limit int) ([]herald.Member, string, error) {
	ids, members, _ := presenceKeys(topic)
	live, err := p.r.liveNodes(ctx, false)
	if err != nil {
		return nil, "", err
	}
	from := "-"
	if cursor != "" {
		from = "(" + cursor
	}
	var out []herald.Member
	for len(out) < limit {
		want := limit - len(out)
		conns, err := p.r.rdb.ZRangeArgs(ctx, goredis.ZRangeArgs{Key: ids, Start: from, Stop: "+", ByLex: true, Count: int64(want + 1)}).Result()
		if err != nil {
			return nil, "", fmt.Errorf("presence of %s: %w", topic, err)
		}
		if len(conns) == 0 {
			return out, "", nil
		}
		more := len(conns) > want
		conns = conns[:min(len(conns), want)]
		vals, err := p.r.rdb.HMGet(ctx, members, conns...).Result()
		if err != nil {
			return nil, "", fmt.Errorf("presence of %s: %w", topic, err)
		}
		var gone []string
		for i, v := range vals {
			var m storedMember
			s, _ := v.(string)
			if s == "" || json.Unmarshal([]byte(s), &m) != nil {
				gone = append(gone, conns[i])
				continue
			}
			if n, ok := live[m.Node]; !ok || n.Epoch != m.Epoch {
				// The node list may be a second old: a node that just
				// started, or restarted, is read again before its
				// members count as a dead node's.
				if live, err = p.r.liveNodes(ctx, true); err != nil {
					return nil, "", err
				}
				if n, ok := live[m.Node]; !ok || n.Epoch != m.Epoch {
					gone = append(gone, conns[i])
					continue
				}
			}
			out = append(out, herald.Member{User: m.User, Device: m.Device, Conn: conns[i], Node: m.Node, Since: time.UnixMilli(m.Since)})
		}
		if len(gone) > 0 {
			// A dead node's members: it will not remove them itself.
			pipe := p.r.rdb.Pipeline()
			pipe.ZRem(ctx, ids, toAny(gone)...)
			pipe.HDel(ctx, members, gone...)
			pipe.Exec(ctx)
		}
		from = "(" + conns[len(conns)-1]
		if !more {
			return out, "", nil
		}
	}
	return out, out[len(out)-1].Conn, nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Stats implements herald.TopicPresence from the live nodes' counts.
func (p TopicPresence) Stats(ctx context.Context, topic string) (herald.PresenceStats, error) {
	_, _, nodes := presenceKeys(topic)
	live, err := p.r.liveNodes(ctx, false)
	if err != nil {
		return herald.PresenceStats{}, err
	}
	counts, err := p.r.rdb.HGetAll(ctx, nodes).Result()
	if err != nil {
		return herald.PresenceStats{}, fmt.Errorf("presence of %s: %w", topic, err)
	}
	var st herald.PresenceStats
	for id, v := range counts {
		var c nodeCount
		if n, ok := live[id]; !ok || json.Unmarshal([]byte(v), &c) != nil || n.Epoch != c.Epoch {
			continue
		}
		st.Users += c.Users
		st.Connections += c.Conns
	}
	return st, nil
}
