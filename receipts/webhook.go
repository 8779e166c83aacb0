package receipts

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald/internal/webhook"
)

// The receipts webhook: batches of events POSTed to the business system's
// URL, signed, retried with backoff. Each push node sends the events of the
// deliveries it made. Delivery of events is at least once (a retry after a
// lost answer repeats a batch), in order per node.

// Event is one receipt event: acked and not_acked from the push nodes,
// pushed and push_failed from the collect instances that push.
type Event struct {
	Type        string `json:"type"` // acked, not_acked, pushed, push_failed
	ID          string `json:"id"`   // the message
	User        string `json:"user"`
	Device      string `json:"device"` // the device ID, or the connection ID
	Seq         uint64 `json:"seq"`
	DeliveredAt int64  `json:"delivered_at,omitempty"` // Unix ms; acked, not_acked
	AckedAt     int64  `json:"acked_at,omitempty"`     // Unix ms; acked only
	// Pushes: when, through which provider, why it failed ("will retry:
	// ..." when it is tried again, a pushed event following if it goes
	// through), and the topic of a topic message's push ("*": a broadcast).
	PushedAt int64  `json:"pushed_at,omitempty"` // Unix ms
	Provider string `json:"provider,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Topic    string `json:"topic,omitempty"`
}

// Event types.
const (
	EventAcked      = "acked"
	EventNotAcked   = "not_acked"
	EventPushed     = "pushed"
	EventPushFailed = "push_failed"
)

// WebhookBody is what the webhook receives.
type WebhookBody = webhook.Body[Event]

// Webhook sends receipt events (internal/webhook).
type Webhook = webhook.Sender[Event]

// Headers of a webhook request (internal/webhook).
const (
	SignatureHeader = webhook.SignatureHeader
	TimestampHeader = webhook.TimestampHeader
)

// Sign returns the signature header value of body sent at ts.
func Sign(secret string, ts int64, body []byte) string { return webhook.Sign(secret, ts, body) }

// NewWebhook returns a Webhook that posts to url, signed with secret,
// through client (the caller's outbound policy: internal/egress).
func NewWebhook(url, secret string, client *http.Client, reg prometheus.Registerer) *Webhook {
	return webhook.New[Event]("receipt", url, secret, client, reg)
}
