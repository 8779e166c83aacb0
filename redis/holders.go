package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
)

// The nodes (and epochs) that have topic members or user connections
// recorded, one set each: "<epoch>:<node ID>". A live node reaps the
// entries whose node is gone, including nodes it never saw alive (every
// node of a cluster restarted at once). A node adds itself once per life,
// in the pipeline of its first write, and again after Redis lost its keys.
const (
	presenceHolders = "herald:presence-nodes"
	onlineHolders   = "herald:online-nodes"
)

func holderEntry(node herald.Node) string {
	return strconv.FormatInt(node.Epoch, 10) + ":" + node.ID
}

// hold adds node to set in pipe unless this process did already; undo
// takes that back when the pipeline failed.
func (r *Router) hold(ctx context.Context, pipe goredis.Pipeliner, set string, node herald.Node) (undo func()) {
	k := set + " " + holderEntry(node)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held[k] {
		return func() {}
	}
	if r.held == nil {
		r.held = map[string]bool{}
	}
	r.held[k] = true
	pipe.SAdd(ctx, set, holderEntry(node))
	return func() {
		r.mu.Lock()
		delete(r.held, k)
		r.mu.Unlock()
	}
}

// holders reads set.
func (r *Router) holders(ctx context.Context, set string) ([]herald.Node, error) {
	entries, err := r.rdb.SMembers(ctx, set).Result()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", set, err)
	}
	out := make([]herald.Node, 0, len(entries))
	for _, e := range entries {
		epoch, id, ok := strings.Cut(e, ":")
		n, err := strconv.ParseInt(epoch, 10, 64)
		if !ok || err != nil || id == "" {
			continue
		}
		out = append(out, herald.Node{ID: id, Epoch: n})
	}
	return out, nil
}

// Holders implements herald.TopicPresence.
func (p TopicPresence) Holders(ctx context.Context) ([]herald.Node, error) {
	return p.r.holders(ctx, presenceHolders)
}

// OnlineHolders implements herald.UserOnline.
func (o Online) OnlineHolders(ctx context.Context) ([]herald.Node, error) {
	return o.r.holders(ctx, onlineHolders)
}
