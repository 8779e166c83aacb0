package herald

import (
	"context"
	"time"
)

// Node is a push node as the routing table knows it.
type Node struct {
	ID    string     `json:"id"`
	Addr  string     `json:"addr"`  // internal address dispatch forwards to
	Epoch int64      `json:"epoch"` // start time in ms: tells a restarted node from its former life
	Stats *NodeStats `json:"stats,omitempty"`
}

// NodeStats is what a push node reports with each heartbeat, for operators.
type NodeStats struct {
	Beat        int64   `json:"beat"`        // time of this heartbeat, Unix ms
	Connections int     `json:"connections"` // open WebSocket connections
	InPerSec    float64 `json:"in_per_sec"`  // deliveries received from dispatch per second
	OutPerSec   float64 `json:"out_per_sec"` // message frames written to sockets per second
}

// Conn describes one WebSocket connection, for presence.
type Conn struct {
	ID     string    `json:"id"`
	Device string    `json:"device,omitempty"`
	Since  time.Time `json:"since"`
}

// UserConns is the set of a user's connections on one node. An empty Conns
// removes the user's route to that node.
type UserConns struct {
	User  string
	Conns []Conn
}

// Presence is one connection of a user somewhere in the cluster.
type Presence struct {
	Node string `json:"node"`
	Conn
}

// Router is the routing table: which push nodes hold which users'
// connections, and which push nodes are alive. Push nodes write it;
// dispatch's per-node calls read it.
//
// Keep-alive costs O(nodes): each node heartbeats its own key, and a user's
// route counts only while the node it names (with the same epoch) is alive.
// Routes also carry a long expiry as a safety net.
type Router interface {
	// Heartbeat announces that node is alive for ttl. It returns true when the
	// node's previous heartbeat had vanished (first start, expiry, or the routing
	// store lost its data): the node must then register all its users again.
	Heartbeat(ctx context.Context, node Node, ttl time.Duration) (lost bool, err error)
	// Leave removes the node at once (graceful shutdown).
	Leave(ctx context.Context, node Node) error
	// SetRoutes writes the connections each user holds on node, valid for ttl.
	SetRoutes(ctx context.Context, node Node, routes []UserConns, ttl time.Duration) error
	// Lookup returns, for each user with a route, the live nodes holding it.
	Lookup(ctx context.Context, users []string) (map[string][]Node, error)
}

// Directory answers who is connected where, from the routing table: the
// presence API and the admin page (collect).
type Directory interface {
	// Presence returns the user's live connections across the cluster.
	Presence(ctx context.Context, user string) ([]Presence, error)
	// Nodes returns the live push nodes with their last reported stats.
	Nodes(ctx context.Context) ([]Node, error)
	// Online returns up to limit users with at least one live connection
	// (for operators: it scans, so it is not for a hot path).
	Online(ctx context.Context, limit int) ([]string, error)
}

// Revocations are the users cut off by the application: collect records
// them (POST /v1/users/{user}/disconnect), push nodes refuse the tokens
// issued before, at connect and at refresh.
type Revocations interface {
	// Revoke records that the user's tokens issued at or before at open no
	// connection any more, for ttl (longer than any token lives).
	Revoke(ctx context.Context, user string, at time.Time, ttl time.Duration) error
	// RevokedAt returns the user's last revocation (zero: none in force).
	RevokedAt(ctx context.Context, user string) (time.Time, error)
}
