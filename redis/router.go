// Package redis is the herald.Router on Redis, through go-redis v9's
// UniversalClient: one address is a standalone server, several are a Redis
// Cluster, and a master name selects Sentinel.
//
// Keys (each command touches one key, so Redis Cluster needs no hash tags):
//
//	herald:node:{id}   JSON Node, expires after the heartbeat TTL: the node is alive while it exists
//	herald:nodes       hash id -> JSON Node: every node that announced itself
//	herald:user:{user} hash node id -> JSON {e: node epoch, x: expiry ms, c: connections}
//	herald:user:#{topic} the same for a topic: the nodes with subscribers (herald.TopicKey)
//
// Keep-alive costs O(nodes): a push node refreshes only its own key every few
// seconds. A user's route counts while the node it names is alive with the same
// epoch, so routes to a dead or restarted node are skipped at once; the route's
// own long expiry (x, and the key's TTL) is only the safety net.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
)

const (
	nodeKeyPrefix = "herald:node:"
	nodesKey      = "herald:nodes"
	userKeyPrefix = "herald:user:"
	revokedPrefix = "herald:revoked:"
)

// NodeCacheTTL is how long Lookup trusts its list of live nodes. A dead node
// is skipped at most this long after its heartbeat key expires.
const NodeCacheTTL = time.Second

// Router is a herald.Router on Redis.
type Router struct {
	rdb goredis.UniversalClient

	mu        sync.Mutex
	live      map[string]herald.Node
	liveAt    time.Time
	forcedAt  time.Time
	now       func() time.Time
	cacheTime time.Duration
	held      map[string]bool // holder entries this process wrote (holders.go)
}

var (
	_ herald.Router      = (*Router)(nil)
	_ herald.Directory   = (*Router)(nil)
	_ herald.Revocations = (*Router)(nil)
)

// Options selects the Redis deployment.
type Options struct {
	Addrs      []string // one address: standalone; several: Cluster
	Cluster    bool     // Cluster even with one address (a configuration endpoint)
	MasterName string   // set: Sentinel, Addrs are the sentinels
	Username   string
	Password   string
	DB         int
}

// Open connects and checks that Redis answers.
func Open(ctx context.Context, o Options) (*Router, error) {
	rdb := goredis.NewUniversalClient(&goredis.UniversalOptions{
		Addrs:         o.Addrs,
		IsClusterMode: o.Cluster,
		MasterName:    o.MasterName,
		Username:      o.Username,
		Password:      o.Password,
		DB:            o.DB,
		DialTimeout:   3 * time.Second,
		ReadTimeout:   2 * time.Second,
		WriteTimeout:  2 * time.Second,
	})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis %v unreachable: %w", o.Addrs, err)
	}
	return New(rdb), nil
}

// New wraps an existing client.
func New(rdb goredis.UniversalClient) *Router {
	return &Router{rdb: rdb, now: time.Now, cacheTime: NodeCacheTTL}
}

// Close closes the client.
func (r *Router) Close() error { return r.rdb.Close() }

// Ping implements herald.Router.
func (r *Router) Ping(ctx context.Context) error { return r.rdb.Ping(ctx).Err() }

// Heartbeat implements herald.Router.
func (r *Router) Heartbeat(ctx context.Context, node herald.Node, ttl time.Duration) (bool, error) {
	val, err := json.Marshal(node)
	if err != nil {
		return false, err
	}
	key := nodeKeyPrefix + node.ID
	// XX: only refresh an existing key. Missing means this is the first beat or
	// Redis lost the key (restart without persistence, failover, expiry during a
	// pause): the caller then re-registers every route it holds.
	ok, err := r.rdb.SetXX(ctx, key, val, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("heartbeat %s: %w", node.ID, err)
	}
	if ok {
		r.mu.Lock()
		if n, cached := r.live[node.ID]; cached && n.Epoch != node.Epoch {
			r.liveAt = time.Time{} // this process saw the node restart: its list is stale
		}
		r.mu.Unlock()
		return false, nil
	}
	pipe := r.rdb.Pipeline()
	pipe.Set(ctx, key, val, ttl)
	pipe.HSet(ctx, nodesKey, node.ID, val)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("register node %s: %w", node.ID, err)
	}
	r.forgetLive()
	r.mu.Lock()
	r.held = nil // Redis may have lost them too: written again with the routes
	r.mu.Unlock()
	return true, nil
}

// Leave implements herald.Router.
func (r *Router) Leave(ctx context.Context, node herald.Node) error {
	pipe := r.rdb.Pipeline()
	pipe.Del(ctx, nodeKeyPrefix+node.ID)
	pipe.HDel(ctx, nodesKey, node.ID)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("leave %s: %w", node.ID, err)
	}
	r.forgetLive()
	return nil
}

// route is the value of one field of a user's hash.
type route struct {
	Epoch   int64         `json:"e"`
	Expires int64         `json:"x"` // Unix ms
	Conns   []herald.Conn `json:"c"`
}

// SetRoutes implements herald.Router, in one pipeline.
func (r *Router) SetRoutes(ctx context.Context, node herald.Node, routes []herald.UserConns, ttl time.Duration) error {
	if len(routes) == 0 {
		return nil
	}
	exp := r.now().Add(ttl).UnixMilli()
	pipe := r.rdb.Pipeline()
	for _, uc := range routes {
		key := userKeyPrefix + uc.User
		if len(uc.Conns) == 0 {
			pipe.HDel(ctx, key, node.ID)
			continue
		}
		val, err := json.Marshal(route{Epoch: node.Epoch, Expires: exp, Conns: uc.Conns})
		if err != nil {
			return err
		}
		pipe.HSet(ctx, key, node.ID, val)
		pipe.PExpire(ctx, key, ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("set %d routes of %s: %w", len(routes), node.ID, err)
	}
	return nil
}

func (r *Router) forgetLive() {
	r.mu.Lock()
	r.liveAt = time.Time{}
	r.mu.Unlock()
}

// forceInterval bounds how often a route to an unknown node forces a re-read
// of the node list (a node that just started; or a dead node's stale routes,
// which must not make every lookup re-read it).
const forceInterval = 100 * time.Millisecond

// liveNodes returns the nodes whose heartbeat key exists, cached for cacheTime.
func (r *Router) liveNodes(ctx context.Context, force bool) (map[string]herald.Node, error) {
	r.mu.Lock()
	if force {
		if r.now().Sub(r.forcedAt) < forceInterval {
			force = false
		} else {
			r.forcedAt = r.now()
		}
	}
	if !force && r.live != nil && r.now().Sub(r.liveAt) < r.cacheTime {
		live := r.live
		r.mu.Unlock()
		return live, nil
	}
	r.mu.Unlock()

	ids, err := r.rdb.HKeys(ctx, nodesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	pipe := r.rdb.Pipeline()
	cmds := make([]*goredis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.Get(ctx, nodeKeyPrefix+id)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("read nodes: %w", err)
	}
	live := make(map[string]herald.Node, len(ids))
	for i, c := range cmds {
		b, err := c.Bytes()
		if err != nil {
			continue // expired: the node is dead
		}
		var n herald.Node
		if json.Unmarshal(b, &n) == nil {
			live[ids[i]] = n
		}
	}
	r.mu.Lock()
	r.live, r.liveAt = live, r.now()
	r.mu.Unlock()
	return live, nil
}

// Nodes returns the live push nodes.
func (r *Router) Nodes(ctx context.Context) ([]herald.Node, error) {
	live, err := r.liveNodes(ctx, false)
	if err != nil {
		return nil, err
	}
	out := make([]herald.Node, 0, len(live))
	for _, n := range live {
		out = append(out, n)
	}
	return out, nil
}

// routes reads the users' hashes in one pipeline and keeps the live routes.
func (r *Router) routes(ctx context.Context, users []string, each func(user string, n herald.Node, rt route)) error {
	live, err := r.liveNodes(ctx, false)
	if err != nil {
		return err
	}
	pipe := r.rdb.Pipeline()
	cmds := make([]*goredis.MapStringStringCmd, len(users))
	for i, u := range users {
		cmds[i] = pipe.HGetAll(ctx, userKeyPrefix+u)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("look up %d users: %w", len(users), err)
	}
	now := r.now().UnixMilli()
	parsed := make([]map[string]route, len(cmds))
	stale := false
	for i, c := range cmds {
		for id, raw := range c.Val() {
			var rt route
			if json.Unmarshal([]byte(raw), &rt) != nil || rt.Expires <= now {
				continue // past its safety expiry
			}
			if n, ok := live[id]; !ok || n.Epoch != rt.Epoch {
				stale = true
			}
			if parsed[i] == nil {
				parsed[i] = map[string]route{}
			}
			parsed[i][id] = rt
		}
	}
	if stale {
		// A route names a node the cache does not know alive in that life:
		// it may have just started. Ask Redis rather than miss its users.
		if live, err = r.liveNodes(ctx, true); err != nil {
			return err
		}
	}
	for i, rts := range parsed {
		for id, rt := range rts {
			if n, ok := live[id]; ok && n.Epoch == rt.Epoch {
				each(users[i], n, rt)
			}
		}
	}
	return nil
}

// Lookup implements herald.Router.
func (r *Router) Lookup(ctx context.Context, users []string) (map[string][]herald.Node, error) {
	out := make(map[string][]herald.Node)
	err := r.routes(ctx, users, func(u string, n herald.Node, _ route) { out[u] = append(out[u], n) })
	return out, err
}

// Presence implements herald.Router.
func (r *Router) Presence(ctx context.Context, user string) ([]herald.Presence, error) {
	var out []herald.Presence
	err := r.routes(ctx, []string{user}, func(_ string, n herald.Node, rt route) {
		for _, c := range rt.Conns {
			out = append(out, herald.Presence{Node: n.ID, Conn: c})
		}
	})
	return out, err
}

// Online implements herald.Router with SCAN over the user keys (on every
// master of a Redis Cluster), keeping users with a live route.
func (r *Router) Online(ctx context.Context, limit int) ([]string, error) {
	var users []string
	scan := func(ctx context.Context, c goredis.Cmdable) error {
		it := c.Scan(ctx, 0, userKeyPrefix+"*", 1000).Iterator()
		for it.Next(ctx) && len(users) < 4*limit {
			u := strings.TrimPrefix(it.Val(), userKeyPrefix)
			if _, topic := herald.IsTopicKey(u); !topic { // topics' routes share the prefix
				users = append(users, u)
			}
		}
		return it.Err()
	}
	var err error
	if c, ok := r.rdb.(*goredis.ClusterClient); ok {
		// SCAN sees one node's keys: ask every master, one at a time.
		var mu sync.Mutex
		err = c.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scan(ctx, m)
		})
	} else {
		err = scan(ctx, r.rdb)
	}
	if err != nil {
		return nil, fmt.Errorf("scan users: %w", err)
	}
	online := map[string]bool{}
	if err := r.routes(ctx, users, func(u string, _ herald.Node, _ route) { online[u] = true }); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(online))
	for u := range online {
		out = append(out, u)
	}
	sort.Strings(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Revoke implements herald.Router.
func (r *Router) Revoke(ctx context.Context, user string, at time.Time, ttl time.Duration) error {
	if err := r.rdb.Set(ctx, revokedPrefix+user, at.UnixMilli(), ttl).Err(); err != nil {
		return fmt.Errorf("revoke %s: %w", user, err)
	}
	return nil
}

// RevokedAt implements herald.Router.
func (r *Router) RevokedAt(ctx context.Context, user string) (time.Time, error) {
	ms, err := r.rdb.Get(ctx, revokedPrefix+user).Int64()
	if errors.Is(err, goredis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("revocation of %s: %w", user, err)
	}
	return time.UnixMilli(ms), nil
}
