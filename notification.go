package herald

import (
	"bytes"
	"context"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// Notification is what a device's push service shows when Herald wakes a
// device that did not get a message: a send request's "notification".
type Notification struct {
	Title       string          `json:"title,omitempty"`
	Body        string          `json:"body,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`         // a JSON object, handed to the app
	CollapseKey string          `json:"collapse_key,omitempty"` // a newer one with the same key replaces a pending one
	TTLSeconds  int             `json:"ttl_seconds,omitempty"`  // how long the push service keeps it for an offline device
	Priority    string          `json:"priority,omitempty"`     // normal (the default) or high
}

// When a message's notification goes out (a send request's "push").
const (
	// PushIfNotAcked: to each registered device that has not acked the
	// message --push-after after it was accepted (the default with a
	// notification).
	PushIfNotAcked = "if_not_acked"
	// PushAlways: to each registered device, acked or not.
	PushAlways = "always"
	// PushNever: no push, notification or not.
	PushNever = "never"
	// PushIfOffline: to each registered device with no connection when
	// the push is due (the default for topic messages and broadcasts,
	// which are not acked).
	PushIfOffline = "if_offline"
)

// MaxNotification bounds a notification's JSON: what every provider takes
// in one push (FCM 4,096 bytes, one Web Push record 3,993).
const MaxNotification = 3072

// MaxPushTTL is the longest a push service is asked to keep a push (FCM's
// and Web Push services' limit: 28 days).
const MaxPushTTL = 28 * 24 * 3600

// Validate checks a notification and push mode together, and gives the
// mode its default: a notification without a mode is pushed if_not_acked.
func (n *Notification) Validate(mode *string) error {
	switch *mode {
	case "":
		*mode = PushIfNotAcked
	case PushIfNotAcked, PushIfOffline, PushAlways, PushNever:
	default:
		return Errorf(EInvalid, "push: if_not_acked, if_offline, always or never")
	}
	if n.Title == "" && n.Body == "" {
		return Errorf(EInvalid, "notification: a title or a body")
	}
	if !utf8.ValidString(n.Title) || !utf8.ValidString(n.Body) {
		return Errorf(EInvalid, "notification: title and body are UTF-8")
	}
	if len(n.Data) > 0 {
		d := bytes.TrimSpace(n.Data)
		var obj map[string]json.RawMessage
		if len(d) == 0 || d[0] != '{' || json.Unmarshal(d, &obj) != nil {
			return Errorf(EInvalid, "notification.data: a JSON object")
		}
		var buf bytes.Buffer
		json.Compact(&buf, d)
		n.Data = buf.Bytes()
	}
	if n.CollapseKey != "" && (!ValidID(n.CollapseKey) || len(n.CollapseKey) > 64) {
		return Errorf(EInvalid, "notification.collapse_key: 1-64 bytes of A-Z a-z 0-9 _ - . @ :")
	}
	if n.TTLSeconds < 0 || n.TTLSeconds > MaxPushTTL {
		return Errorf(EInvalid, "notification.ttl_seconds: 0 to %d (28 days)", MaxPushTTL)
	}
	switch n.Priority {
	case "":
		n.Priority = "normal"
	case "normal", "high":
	default:
		return Errorf(EInvalid, "notification.priority: normal or high")
	}
	if b, _ := json.Marshal(n); len(b) > MaxNotification {
		return Errorf(ETooLarge, "notification: %d bytes of JSON is over the limit of %d (what every push service takes)", len(b), MaxNotification)
	}
	return nil
}

// PendingPush is a message's notification waiting to go to one recipient's
// devices: queued when the message is stored, taken when it is due.
type PendingPush struct {
	MsgID        string       `json:"m"`
	User         string       `json:"u"`
	Seq          Seq          `json:"s"`
	Mode         string       `json:"pm"`
	Notification Notification `json:"n"`
	Due          time.Time    `json:"due"`            // accepted + --push-after; later after a retry
	Done         []string     `json:"done,omitempty"` // devices pushed already: a retry skips them
	Attempts     int          `json:"a,omitempty"`
	// Topic, on a push to a user, limits it to the registrations that
	// list the topic (all of them for Broadcast): the user's share of a
	// topic message. A push to a topic (User is its TopicKey) is spread
	// into those, a page of registrations at a time, After being the
	// cursor of the next page.
	Topic string `json:"t,omitempty"`
	After string `json:"after,omitempty"`
	// Expires is the message's: a push due after it is not made.
	Expires time.Time `json:"exp,omitempty"`
}

// PushQueue keeps the pending pushes in the store, so that they outlive
// the process that queued them and any one instance that takes them.
type PushQueue interface {
	// QueuePushes adds pushes; one already queued for the same message
	// and user stays as it is (a retried request queues again).
	QueuePushes(ctx context.Context, ps []PendingPush) error
	// ClaimPushes takes up to limit pushes due by now that no one holds,
	// and holds them for lease: another instance gets them only after.
	ClaimPushes(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]PendingPush, error)
	// FinishPush removes a claimed push.
	FinishPush(ctx context.Context, p PendingPush) error
	// RetryPush stores a claimed push's new Due, Done and Attempts and
	// lets it go.
	RetryPush(ctx context.Context, p PendingPush) error
	// CancelPushes removes every pending push of a message (it was
	// recalled).
	CancelPushes(ctx context.Context, msgID string) error
	// SpreadPush queues ps (as QueuePushes) and stores the claimed p's
	// After, still holding p. A store that cannot do both in one write
	// queues first: an instance that dies between the two leaves that
	// page to be queued again (its pushes may go twice, none is skipped).
	SpreadPush(ctx context.Context, p PendingPush, ps []PendingPush) error
}
