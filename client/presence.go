package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/heraldpush/herald/clientpb"
)

// PresenceChange is a user joining a topic (their first subscription to
// it anywhere in the cluster) or leaving it (their last one ended), in a
// namespace with join_leave (docs/protocol.md, "Namespaces"). Device is
// the joining connection's.
type PresenceChange struct {
	Topic  string
	User   string
	Device string
	Join   bool
}

// ErrNotConnected is returned by Presence between connections.
var ErrNotConnected = errors.New("client: not connected")

// PresenceError is the server's refusal of a presence query: Code is
// forbidden (not subscribed, or the namespace does not allow it) or
// unavailable (ask again later).
type PresenceError struct {
	Code, Message string
}

func (e *PresenceError) Error() string { return "client: presence: " + e.Code + ": " + e.Message }

// presenceReply is a presence answer handed to the query waiting for it.
type presenceReply struct {
	users []string
	more  bool
	err   error
}

// who is one user of a presence_changes frame.
type who struct {
	User   string `json:"user"`
	Device string `json:"device"`
}

// Presence asks the server which users are subscribed to topic, a topic
// this client is subscribed to in a namespace with client_presence. At
// most 1,000 users come back; more says there are others (the HTTP API
// pages through all of them). The connection closing before the answer is
// an error: ask again after the next OnConnected.
func (c *Client) Presence(ctx context.Context, topic string) (users []string, more bool, err error) {
	c.mu.Lock()
	ws := c.ws
	if ws == nil {
		c.mu.Unlock()
		return nil, false, ErrNotConnected
	}
	c.queries++
	id := c.queries
	ch := make(chan presenceReply, 1)
	if c.waiting == nil {
		c.waiting = map[uint64]chan presenceReply{}
	}
	c.waiting[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
	}()
	if err := c.write(ws, outFrame{Type: "presence", ID: strconv.FormatUint(id, 10), Topic: topic}); err != nil {
		return nil, false, fmt.Errorf("client: presence: %w", err)
	}
	select {
	case r := <-ch:
		return r.users, r.more, r.err
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// answered hands a presence answer to its query.
func (c *Client) answered(f inFrame) {
	id, _ := strconv.ParseUint(f.ID, 10, 64)
	r := presenceReply{users: f.Users, more: f.More}
	if f.Code != "" {
		r.err = &PresenceError{Code: f.Code, Message: f.Message}
	}
	c.mu.Lock()
	ch := c.waiting[id]
	c.mu.Unlock()
	if ch != nil {
		select {
		case ch <- r:
		default: // answered already (an ID the server repeated)
		}
	}
}

// abandonQueries fails the queries waiting on a connection that ended.
func (c *Client) abandonQueries() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, ch := range c.waiting {
		select {
		case ch <- presenceReply{err: fmt.Errorf("client: presence: %w before the answer", ErrNotConnected)}:
		default:
		}
		delete(c.waiting, id)
	}
}

// presenceChanges hands a join, leave or presence_changes frame to
// OnPresence, a change at a time.
func (c *Client) presenceChanges(f inFrame) {
	fn := c.opts.OnPresence
	if fn == nil {
		return
	}
	switch f.Type {
	case "join", "leave":
		fn(PresenceChange{Topic: f.Topic, User: f.User, Device: f.Device, Join: f.Type == "join"})
	case "presence_changes":
		for _, w := range f.Joins {
			fn(PresenceChange{Topic: f.Topic, User: w.User, Device: w.Device, Join: true})
		}
		for _, w := range f.Leaves {
			fn(PresenceChange{Topic: f.Topic, User: w.User, Device: w.Device})
		}
	}
}

// decodePresence reads the protobuf presence frames into their JSON shapes.
func decodePresence(pf *clientpb.ServerFrame) (inFrame, bool) {
	switch x := pf.Frame.(type) {
	case *clientpb.ServerFrame_Presence:
		a := x.Presence
		return inFrame{Type: "presence", ID: strconv.FormatUint(a.GetId(), 10), Topic: a.GetTopic(), Users: a.GetUsers(),
			More: a.GetMore(), Code: a.GetCode(), Message: a.GetMessage()}, true
	case *clientpb.ServerFrame_PresenceEvents:
		e := x.PresenceEvents
		f := inFrame{Type: "presence_changes", Topic: e.GetTopic()}
		for _, w := range e.GetJoins() {
			f.Joins = append(f.Joins, who{User: w.GetUser(), Device: w.GetDevice()})
		}
		for _, w := range e.GetLeaves() {
			f.Leaves = append(f.Leaves, who{User: w.GetUser(), Device: w.GetDevice()})
		}
		return f, true
	}
	return inFrame{}, false
}

// presenceQuery is a presence frame in protobuf.
func presenceQuery(f outFrame) *clientpb.ClientFrame {
	id, _ := strconv.ParseUint(f.ID, 10, 64)
	return &clientpb.ClientFrame{Frame: &clientpb.ClientFrame_Presence{Presence: &clientpb.PresenceQuery{Id: id, Topic: f.Topic}}}
}
