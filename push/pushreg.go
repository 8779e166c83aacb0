package push

import (
	"context"
	"encoding/json"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/webpush"
)

// A client registers its own device for offline pushes (the JS SDK: a
// browser's Web Push subscription), so that a page needs no round trip
// through its back end. The registration is the one PUT
// /v1/users/{user}/devices/{device}/push takes, checked the same way, for
// the connection's user and device; the topics it lists must be ones the
// token allows. Answered on the reader, as a presence question is.

// pushRegAnswer is push_registered, push_unregistered or push_refused.
type pushRegAnswer struct {
	Type    string          `json:"type"`
	ID      json.RawMessage `json:"id,omitempty"`
	Code    string          `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
}

func (c *session) answerPushRegistration(f clientFrame) {
	a := pushRegAnswer{Type: "push_registered", ID: f.ID}
	if f.Type == "push_unregister" {
		a.Type = "push_unregistered"
	}
	if code, msg := c.pushRegister(f); code != "" {
		a.Type, a.Code, a.Message = "push_refused", code, msg
	}
	b, _ := json.Marshal(a)
	c.enqueue(outItem{frame: b})
}

// pushRegister writes or removes the device's registration; a refusal's
// code (invalid, forbidden, unavailable) and message otherwise.
func (c *session) pushRegister(f clientFrame) (code, msg string) {
	switch {
	case c.s.registrations == nil:
		return "unavailable", "this server keeps no push registrations"
	case c.device == "":
		return "invalid", "a push registration is a device's: connect with a device ID"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if f.Type == "push_unregister" {
		if _, err := c.s.registrations.DeleteRegistration(ctx, c.user, c.device); err != nil {
			return "unavailable", "the registration could not be removed; try again later"
		}
		return "", ""
	}
	reg := f.Registration.For(c.user, c.device, time.Now())
	if err := reg.Validate(); err != nil {
		return "invalid", herald.ErrorMessage(err)
	}
	c.mu.Lock()
	claims := c.claims
	c.mu.Unlock()
	for _, t := range reg.Topics {
		if !herald.TopicAllowed(claims, t) {
			return "forbidden", "the token does not allow the topic " + t
		}
	}
	if reg.Provider == herald.ProviderWebPush {
		if err := webpush.CheckEndpoint(ctx, reg.Subscription.Endpoint, c.s.cfg.WebPushHosts, c.s.outbound); err != nil {
			return "invalid", herald.ErrorMessage(err)
		}
	}
	if err := c.s.registrations.PutRegistration(ctx, reg); err != nil {
		return "unavailable", "the registration could not be stored; try again later"
	}
	return "", ""
}
