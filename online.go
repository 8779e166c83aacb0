package herald

import (
	"context"
	"time"
)

// UserOnline counts each user's connections across the cluster, to tell a
// user's first connection anywhere (online) from the others, and their
// last one closing (offline) after a grace in which a new connection (a
// page reload) cancels it. Push nodes write it at every connect and
// disconnect: O(changes).
type UserOnline interface {
	// Opened records a connection of user on node. online: it is the
	// user's first anywhere and no offline was pending (a reconnect
	// within the grace is neither).
	Opened(ctx context.Context, node Node, user string) (online bool, err error)
	// Closed records that one ended. last: it was the user's last
	// connection; an offline is pending for grace, for ConfirmOffline.
	Closed(ctx context.Context, node Node, user string, grace time.Duration) (last bool, err error)
	// ConfirmOffline reports whether user's pending offline stands (no
	// connection came back), and takes it: one caller gets true.
	ConfirmOffline(ctx context.Context, user string) (bool, error)
	// ReapOnline removes the connections of node, which died, and returns
	// the users for whom they were the last (offline pending, as Closed).
	// Only the first of several callers reaps a given node and epoch.
	ReapOnline(ctx context.Context, node Node, grace time.Duration) ([]string, error)
	// OnlineHolders returns the nodes (with their epochs) that have
	// connections recorded and were not reaped, as TopicPresence.Holders.
	OnlineHolders(ctx context.Context) ([]Node, error)
}
