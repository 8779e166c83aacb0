package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
)

// Users online, on Redis: herald:online:{U} counts user U's connections
// across the cluster, herald:online:{U}:p is a pending offline (set when
// the count reaches 0, for twice the grace), both in U's slot; each node
// (and epoch) keeps herald:online-node:N:E, user -> its connections, so
// that a dead node's can be taken off.
const (
	onlinePrefix     = "herald:online:{"
	onlineNodePrefix = "herald:online-node:"
	onlineReaped     = "herald:online-reaped:"
)

// onlineTTL is the counters' safety expiry, refreshed at every connect.
const onlineTTL = 24 * time.Hour

func onlineKeys(user string) (count, pending string) {
	k := onlinePrefix + user + "}"
	return k, k + ":p"
}

// openScript returns 1 for a user's first connection (online), 2 for a
// first connection that took a pending offline back (a reload: neither),
// 0 for another connection.
var openScript = goredis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if n ~= 1 then return 0 end
if redis.call('DEL', KEYS[2]) == 1 then return 2 end
return 1
`)

// closeScript takes ARGV[1] connections off; 1 when none is left (an
// offline pending for ARGV[2] ms).
var closeScript = goredis.NewScript(`
local n = redis.call('DECRBY', KEYS[1], ARGV[1])
if n > 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], 1, 'PX', ARGV[2])
return 1
`)

// confirmScript takes the pending offline if no connection came back.
var confirmScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return redis.call('DEL', KEYS[2])
`)

// Online is a herald.UserOnline on Redis.
type Online struct{ r *Router }

var _ herald.UserOnline = Online{}

// UserOnline returns the user online counters on r's Redis.
func (r *Router) UserOnline() Online { return Online{r: r} }

func onlineIndex(node herald.Node) string {
	return onlineNodePrefix + node.ID + ":" + strconv.FormatInt(node.Epoch, 10)
}

// Opened implements herald.UserOnline.
func (o Online) Opened(ctx context.Context, node herald.Node, user string) (bool, error) {
	count, pending := onlineKeys(user)
	pipe := o.r.rdb.Pipeline()
	res := openScript.Eval(ctx, pipe, []string{count, pending}, onlineTTL.Milliseconds())
	pipe.HIncrBy(ctx, onlineIndex(node), user, 1)
	pipe.PExpire(ctx, onlineIndex(node), onlineTTL)
	undo := o.r.hold(ctx, pipe, onlineHolders, node)
	if _, err := pipe.Exec(ctx); err != nil {
		undo()
		return false, fmt.Errorf("online %s: %w", user, err)
	}
	n, _ := res.Int()
	return n == 1, nil
}

// Closed implements herald.UserOnline.
func (o Online) Closed(ctx context.Context, node herald.Node, user string, grace time.Duration) (bool, error) {
	count, pending := onlineKeys(user)
	pipe := o.r.rdb.Pipeline()
	res := closeScript.Eval(ctx, pipe, []string{count, pending}, 1, (2 * grace).Milliseconds())
	pipe.HIncrBy(ctx, onlineIndex(node), user, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("offline %s: %w", user, err)
	}
	n, _ := res.Int()
	return n == 1, nil
}

// ConfirmOffline implements herald.UserOnline.
func (o Online) ConfirmOffline(ctx context.Context, user string) (bool, error) {
	count, pending := onlineKeys(user)
	n, err := confirmScript.Run(ctx, o.r.rdb, []string{count, pending}).Int()
	if err != nil {
		return false, fmt.Errorf("offline %s: %w", user, err)
	}
	return n == 1, nil
}

// ReapOnline implements herald.UserOnline.
func (o Online) ReapOnline(ctx context.Context, node herald.Node, grace time.Duration) ([]string, error) {
	index := onlineIndex(node)
	won, err := o.r.rdb.SetNX(ctx, onlineReaped+node.ID+":"+strconv.FormatInt(node.Epoch, 10), 1, onlineTTL).Result()
	if err != nil || !won {
		return nil, err
	}
	users, err := o.r.rdb.HGetAll(ctx, index).Result()
	if err != nil {
		return nil, fmt.Errorf("reap %s: %w", node.ID, err)
	}
	pipe := o.r.rdb.Pipeline()
	var names []string
	var cmds []*goredis.Cmd
	for u, v := range users {
		k, _ := strconv.Atoi(v)
		if k <= 0 {
			continue
		}
		count, pending := onlineKeys(u)
		names = append(names, u)
		cmds = append(cmds, closeScript.Eval(ctx, pipe, []string{count, pending}, k, (2*grace).Milliseconds()))
	}
	pipe.Del(ctx, index)
	pipe.SRem(ctx, onlineHolders, holderEntry(node))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("reap %s: %w", node.ID, err)
	}
	var last []string
	for i, c := range cmds {
		if n, _ := c.Int(); n == 1 {
			last = append(last, names[i])
		}
	}
	return last, nil
}
