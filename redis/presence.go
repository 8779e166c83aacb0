package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
)

// Topic presence on Redis, four keys per topic, in one hash slot (the
// topic is the hash tag):
//
//	herald:presence:{T}     sorted set of connection IDs, all of score 0:
//	                        pages in ID order (ZRANGE BYLEX)
//	herald:presence:{T}:m   hash, connection ID -> member (and its node's epoch)
//	herald:presence:{T}:u   hash, user -> their members: 0 -> 1 is a join,
//	                        1 -> 0 a leave
//	herald:presence:{T}:n   hash, node ID -> that node's counts and epoch
//
// and per node (and epoch) a set of its members, herald:presence-node:N:E,
// so that a dead node's can be removed. A join or a leave is one script on
// the topic's keys; a node's counts are one field it rewrites per batch, so
// Stats reads O(nodes) fields. Members and counts of a node that is not
// alive are left out of pages and stats at once; the node's members are
// removed, with their leaves, by the first live node that notices (Reap).
const (
	presencePrefix     = "herald:presence:{"
	presenceNodePrefix = "herald:presence-node:"
	presenceReaped     = "herald:presence-reaped:"
	presenceChannel    = "herald:presence-events"
)

func presenceKeys(topic string) (ids, members, users, nodes string) {
	k := presencePrefix + topic + "}"
	return k, k + ":m", k + ":u", k + ":n"
}

// indexSep joins a topic and a connection ID in a node's index: no topic
// holds it (and keys stay readable in redis-cli, which NUL did not).
const indexSep = "|"

func nodeIndex(node herald.Node) string {
	return presenceNodePrefix + node.ID + ":" + strconv.FormatInt(node.Epoch, 10)
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

// changeScript joins (ARGV[2] "1": ARGV[3] the member, ARGV[4] its user)
// or leaves connection ARGV[1], keeping the user's count: it returns the
// count after a new member joined (1: the user joined), 0 for a member
// already there, and for a leave {count, user, device} (count 0: the user
// left) or nil if the member was not there.
var changeScript = goredis.NewScript(`
local ids, members, users = KEYS[1], KEYS[2], KEYS[3]
local conn, ttl = ARGV[1], ARGV[5]
if ARGV[2] == "1" then
  redis.call('ZADD', ids, 0, conn)
  local new = redis.call('HSET', members, conn, ARGV[3])
  redis.call('PEXPIRE', ids, ttl)
  redis.call('PEXPIRE', members, ttl)
  if new == 1 then
    local n = redis.call('HINCRBY', users, ARGV[4], 1)
    redis.call('PEXPIRE', users, ttl)
    return n
  end
  return 0
end
local v = redis.call('HGET', members, conn)
if not v then return false end
redis.call('HDEL', members, conn)
redis.call('ZREM', ids, conn)
local m = cjson.decode(v)
local n = redis.call('HINCRBY', users, m.u, -1)
if n <= 0 then redis.call('HDEL', users, m.u) end
return {n, m.u, m.d or ""}
`)

// TopicPresence is a herald.TopicPresence and herald.PresenceBus on Redis;
// node liveness is the Router's.
type TopicPresence struct{ r *Router }

var (
	_ herald.TopicPresence = TopicPresence{}
	_ herald.PresenceBus   = TopicPresence{}
)

// TopicPresence returns the topic presence that shares r's Redis and node list.
func (r *Router) TopicPresence() TopicPresence { return TopicPresence{r: r} }

// leaveResult reads a leave's script result into an event, if it was the
// user's last member.
func leaveResult(topic string, v any) (herald.PresenceEvent, bool) {
	a, ok := v.([]any)
	if !ok || len(a) != 3 {
		return herald.PresenceEvent{}, false
	}
	n, _ := a[0].(int64)
	user, _ := a[1].(string)
	device, _ := a[2].(string)
	return herald.PresenceEvent{Topic: topic, User: user, Device: device}, n <= 0
}

// Change implements herald.TopicPresence in one pipeline.
func (p TopicPresence) Change(ctx context.Context, node herald.Node, b herald.PresenceBatch) ([]herald.PresenceEvent, error) {
	pipe := p.r.rdb.Pipeline()
	ttl := strconv.FormatInt(presenceTTL.Milliseconds(), 10)
	index := nodeIndex(node)
	cmds := make([]*goredis.Cmd, len(b.Changes))
	for i, c := range b.Changes {
		ids, members, users, _ := presenceKeys(c.Topic)
		keys := []string{ids, members, users}
		if !c.Join {
			cmds[i] = changeScript.Eval(ctx, pipe, keys, c.Conn, "0", "", "", ttl)
			pipe.SRem(ctx, index, c.Topic+indexSep+c.Conn)
			continue
		}
		v, err := json.Marshal(storedMember{User: c.User, Device: c.Device, Node: node.ID, Epoch: node.Epoch, Since: c.Since.UnixMilli()})
		if err != nil {
			return nil, err
		}
		cmds[i] = changeScript.Eval(ctx, pipe, keys, c.Conn, "1", string(v), c.User, ttl)
		pipe.SAdd(ctx, index, c.Topic+indexSep+c.Conn)
	}
	undo := func() {}
	if len(b.Changes) > 0 {
		pipe.PExpire(ctx, index, presenceTTL)
		undo = p.r.hold(ctx, pipe, presenceHolders, node)
	}
	for topic, st := range b.Counts {
		_, _, _, nodes := presenceKeys(topic)
		if st.Connections == 0 {
			pipe.HDel(ctx, nodes, node.ID)
			continue
		}
		v, _ := json.Marshal(nodeCount{Epoch: node.Epoch, Users: st.Users, Conns: st.Connections})
		pipe.HSet(ctx, nodes, node.ID, v)
		pipe.PExpire(ctx, nodes, presenceTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != goredis.Nil {
		undo()
		return nil, fmt.Errorf("presence of %s: %w", node.ID, err)
	}
	var events []herald.PresenceEvent
	for i, c := range b.Changes {
		v, err := cmds[i].Result()
		if err != nil && err != goredis.Nil {
			return events, fmt.Errorf("presence of %s: %w", node.ID, err)
		}
		if c.Join {
			if n, _ := v.(int64); n == 1 {
				events = append(events, herald.PresenceEvent{Topic: c.Topic, Join: true, User: c.User, Device: c.Device})
			}
		} else if ev, left := leaveResult(c.Topic, v); left {
			events = append(events, ev)
		}
	}
	return events, nil
}

// Reap implements herald.TopicPresence: the first caller claims the dead
// node (and epoch), removes each of its members with the same script as a
// leave, and drops its counts and its index.
func (p TopicPresence) Reap(ctx context.Context, node herald.Node) ([]herald.PresenceEvent, error) {
	index := nodeIndex(node)
	won, err := p.r.rdb.SetNX(ctx, presenceReaped+node.ID+":"+strconv.FormatInt(node.Epoch, 10), 1, presenceTTL).Result()
	if err != nil || !won {
		return nil, err
	}
	entries, err := p.r.rdb.SMembers(ctx, index).Result()
	if err != nil {
		return nil, fmt.Errorf("reap %s: %w", node.ID, err)
	}
	pipe := p.r.rdb.Pipeline()
	ttl := strconv.FormatInt(presenceTTL.Milliseconds(), 10)
	topics := make([]string, len(entries))
	cmds := make([]*goredis.Cmd, len(entries))
	seen := map[string]bool{}
	for i, e := range entries {
		topic, conn, ok := strings.Cut(e, indexSep)
		if !ok {
			topic, conn, _ = strings.Cut(e, "\x00") // written by an older version
		}
		ids, members, users, nodes := presenceKeys(topic)
		topics[i] = topic
		cmds[i] = changeScript.Eval(ctx, pipe, []string{ids, members, users}, conn, "0", "", "", ttl)
		if !seen[topic] {
			seen[topic] = true
			pipe.HDel(ctx, nodes, node.ID)
		}
	}
	pipe.Del(ctx, index)
	pipe.SRem(ctx, presenceHolders, holderEntry(node))
	if _, err := pipe.Exec(ctx); err != nil && err != goredis.Nil {
		return nil, fmt.Errorf("reap %s: %w", node.ID, err)
	}
	var events []herald.PresenceEvent
	for i := range entries {
		v, _ := cmds[i].Result()
		if ev, left := leaveResult(topics[i], v); left {
			events = append(events, ev)
		}
	}
	return events, nil
}

// Publish implements herald.PresenceBus with Redis Pub/Sub.
func (p TopicPresence) Publish(ctx context.Context, events []herald.PresenceEvent) error {
	b, err := json.Marshal(events)
	if err != nil {
		return err
	}
	if err := p.r.rdb.Publish(ctx, presenceChannel, b).Err(); err != nil {
		return fmt.Errorf("publish presence events: %w", err)
	}
	return nil
}

// Listen implements herald.PresenceBus. Events published while the
// subscription is down (a Redis restart) are not delivered: join and leave
// frames are a notification, the presence itself is the record.
func (p TopicPresence) Listen(ctx context.Context, fn func([]herald.PresenceEvent)) error {
	sub := p.r.rdb.Subscribe(ctx, presenceChannel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			var events []herald.PresenceEvent
			if json.Unmarshal([]byte(m.Payload), &events) == nil {
				fn(events)
			}
		}
	}
}

// Members implements herald.TopicPresence: pages in connection ID order,
// the cursor being the last ID of the page before.
func (p TopicPresence) Members(ctx context.Context, topic, cursor string, limit int) ([]herald.Member, string, error) {
	ids, members, _, _ := presenceKeys(topic)
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
		for i, v := range vals {
			var m storedMember
			s, _ := v.(string)
			if s == "" || json.Unmarshal([]byte(s), &m) != nil {
				continue
			}
			if n, ok := live[m.Node]; !ok || n.Epoch != m.Epoch {
				// The node list may be a second old: a node that just
				// started, or restarted, is read again before its
				// members are left out as a dead node's (which Reap
				// removes).
				if live, err = p.r.liveNodes(ctx, true); err != nil {
					return nil, "", err
				}
				if n, ok := live[m.Node]; !ok || n.Epoch != m.Epoch {
					continue
				}
			}
			out = append(out, herald.Member{User: m.User, Device: m.Device, Conn: conns[i], Node: m.Node, Since: time.UnixMilli(m.Since)})
		}
		from = "(" + conns[len(conns)-1]
		if !more {
			return out, "", nil
		}
	}
	return out, out[len(out)-1].Conn, nil
}

// Stats implements herald.TopicPresence from the live nodes' counts.
func (p TopicPresence) Stats(ctx context.Context, topic string) (herald.PresenceStats, error) {
	_, _, _, nodes := presenceKeys(topic)
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
