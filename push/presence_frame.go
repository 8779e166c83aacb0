package push

import (
	"context"
	"encoding/json"
	"time"
)

// presenceAnswer is the answer to a client's presence frame: the users
// subscribed to the topic, or why not.
type presenceAnswer struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id,omitempty"`
	Topic   string          `json:"topic"`
	Users   []string        `json:"users,omitempty"`
	More    bool            `json:"more,omitempty"`
	Code    string          `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
}

// presenceAnswerUsers bounds the users one answer lists.
const presenceAnswerUsers = 1000

// answerPresence answers a presence frame, on the reader (as a refresh is
// checked there): a subscriber of a topic whose namespace allows it gets
// the users subscribed, up to presenceAnswerUsers of them.
func (c *session) answerPresence(f clientFrame) {
	a := presenceAnswer{Topic: f.Topic}
	ns, _ := c.s.cfg.Namespaces.Of(f.Topic)
	switch {
	case !ns.ClientPresence || c.s.presence == nil:
		a.Code, a.Message = "forbidden", "this topic's namespace does not let clients ask for its presence"
	case c.findSub(f.Topic) == nil:
		a.Code, a.Message = "forbidden", "subscribe to the topic first"
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		seen := map[string]bool{}
		cursor := ""
		for {
			ms, next, err := c.s.presence.store.Members(ctx, f.Topic, cursor, presenceAnswerUsers)
			if err != nil {
				a.Users, a.Code, a.Message = nil, "unavailable", "presence could not be read; ask again later"
				break
			}
			for _, m := range ms {
				if !seen[m.User] {
					if len(a.Users) == presenceAnswerUsers {
						a.More = true
						break
					}
					seen[m.User] = true
					a.Users = append(a.Users, m.User)
				}
			}
			if next == "" || a.More {
				break
			}
			cursor = next
		}
	}
	c.enqueue(outItem{frame: c.enc.presence(f.ID, a)})
}
