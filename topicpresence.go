package herald

import (
	"context"
	"time"
)

// Member is one connection subscribed to a topic whose namespace keeps
// presence (Namespace.Presence).
type Member struct {
	User   string    `json:"user"`
	Device string    `json:"device,omitempty"`
	Conn   string    `json:"conn"`
	Node   string    `json:"node"`
	Since  time.Time `json:"since"` // when it subscribed
}

// PresenceStats counts a topic's members. Users are counted on each node
// and summed: a user subscribed through two push nodes counts twice (the
// member list is exact).
type PresenceStats struct {
	Users       int `json:"users"`       // users subscribed, per node, summed
	Connections int `json:"connections"` // subscribed connections
}

// PresenceChange is one subscription that began (Join) or ended.
type PresenceChange struct {
	Topic string
	Join  bool
	Member
}

// PresenceEvent is a user's first subscription to a topic anywhere in the
// cluster (Join), or the end of their last one: what join and leave frames
// tell a topic's subscribers.
type PresenceEvent struct {
	Topic  string `json:"t"`
	Join   bool   `json:"j,omitempty"`
	User   string `json:"u"`
	Device string `json:"d,omitempty"` // the connection's that made the change
}

// PresenceBatch is what a push node changed since its last write: joins
// and leaves, and its own members' count of each topic they touched.
type PresenceBatch struct {
	Changes []PresenceChange
	Counts  map[string]PresenceStats // topic -> this node's members of it now
}

// TopicPresence keeps who is subscribed to the topics that keep presence.
// Push nodes write it as subscriptions begin and end, in batches (a cost in
// proportion to the changes, not to the members); collect reads it. A
// member counts only while its node is alive: a node that dies leaves no
// members behind once its heartbeat lapses.
type TopicPresence interface {
	// Change records a batch of node's. A batch may repeat joins already
	// recorded (a node writes all its members again after the store lost
	// them, and every so often so that nothing expires).
	// It returns the user-level events the batch made: a user's first
	// member of a topic joining, their last one leaving.
	Change(ctx context.Context, node Node, b PresenceBatch) ([]PresenceEvent, error)
	// Reap removes the members of node, which died, and returns the
	// leaves that made. Only the first of several callers reaps a given
	// node (and epoch); the others get nothing.
	Reap(ctx context.Context, node Node) ([]PresenceEvent, error)
	// Holders returns the nodes (with their epochs) that have members
	// recorded and were not reaped: a node that died before any live node
	// saw it alive (a whole cluster restarted) is found there.
	Holders(ctx context.Context) ([]Node, error)
	// Members returns up to limit members of topic after cursor ("" for
	// the first page), and the cursor of the next page ("" after the last).
	Members(ctx context.Context, topic, cursor string, limit int) ([]Member, string, error)
	// Stats counts topic's members, at a cost in proportion to the push
	// nodes, not to the members.
	Stats(ctx context.Context, topic string) (PresenceStats, error)
}

// PresenceBus carries presence events to every push node, whichever node
// made them: each delivers them to its own subscribers of the topic.
type PresenceBus interface {
	Publish(ctx context.Context, events []PresenceEvent) error
	// Listen calls fn with each published batch until ctx ends.
	Listen(ctx context.Context, fn func([]PresenceEvent)) error
}
