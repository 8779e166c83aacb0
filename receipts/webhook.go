package receipts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald/internal/egress"
)

// The receipts webhook: batches of events POSTed to the business system's
// URL, signed, retried with backoff. Each push node sends the events of the
// deliveries it made. Delivery of events is at least once (a retry after a
// lost answer repeats a batch), in order per node.

// Event is one receipt event.
type Event struct {
	Type        string `json:"type"` // acked, not_acked
	ID          string `json:"id"`   // the message
	User        string `json:"user"`
	Device      string `json:"device"` // the device ID, or the connection ID
	Seq         uint64 `json:"seq"`
	DeliveredAt int64  `json:"delivered_at"`       // Unix ms
	AckedAt     int64  `json:"acked_at,omitempty"` // Unix ms; acked only
}

// WebhookBody is what the webhook receives.
type WebhookBody struct {
	Events []Event `json:"events"`
}

// Headers of a webhook request. The signature is
// hex(HMAC-SHA256(secret, timestamp + "." + body)).
const (
	SignatureHeader = "X-Herald-Signature" // "sha256=" + the hex signature
	TimestampHeader = "X-Herald-Timestamp" // Unix seconds, signed with the body
)

// Sign returns the signature header value of body sent at ts.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

const (
	webhookBatch    = 500              // events per request
	webhookQueue    = 100_000          // events waiting; past it they are dropped and counted
	webhookAttempts = 8                // per batch, then it is dropped and counted
	webhookMaxDelay = 30 * time.Second // cap of the backoff
)

// Webhook sends receipt events to the business system's URL.
type Webhook struct {
	url, secret string
	client      *http.Client
	// BaseDelay is the first retry's delay (500 ms), doubled up to a cap.
	BaseDelay time.Duration

	mu     sync.Mutex
	queue  []Event
	wake   chan struct{}
	sent   prometheus.Counter
	failed *prometheus.CounterVec
}

// NewWebhook returns a Webhook that posts to url, signed with secret,
// through client (the caller's outbound policy: internal/egress).
func NewWebhook(url, secret string, client *http.Client, reg prometheus.Registerer) *Webhook {
	w := &Webhook{url: url, secret: secret, client: client, BaseDelay: 500 * time.Millisecond,
		wake:   make(chan struct{}, 1),
		sent:   prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_receipt_events_sent_total", Help: "Receipt events the webhook accepted."}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_receipt_events_dropped_total", Help: "Receipt events given up on: queue_full, refused (a 4xx), retries (all attempts failed)."}, []string{"reason"}),
	}
	reg.MustRegister(w.sent, w.failed)
	return w
}

// Add queues an event.
func (w *Webhook) Add(e Event) {
	w.mu.Lock()
	if len(w.queue) >= webhookQueue {
		w.mu.Unlock()
		w.failed.WithLabelValues("queue_full").Inc()
		return
	}
	w.queue = append(w.queue, e)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run sends batches until ctx ends; then what is queued gets one last try,
// bounded by a few seconds (a node shutting down must not hang on it).
// Run sends what is queued until ctx ends.
func (w *Webhook) Run(ctx context.Context) {
	for {
		select {
		case <-w.wake:
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			w.sendQueued(last)
			return
		}
		w.sendQueued(ctx)
	}
}

// sendQueued sends what is queued, a batch at a time.
func (w *Webhook) sendQueued(ctx context.Context) {
	for ctx.Err() == nil {
		w.mu.Lock()
		n := min(len(w.queue), webhookBatch)
		batch := w.queue[:n:n]
		w.queue = w.queue[n:]
		if len(w.queue) == 0 {
			w.queue = nil
		}
		w.mu.Unlock()
		if n == 0 {
			return
		}
		w.send(ctx, batch)
	}
}

// send posts one batch, retrying with jittered exponential backoff on
// network errors, 408, 429 and 5xx.
func (w *Webhook) send(ctx context.Context, events []Event) {
	body, _ := json.Marshal(WebhookBody{Events: events})
	delay := w.BaseDelay
	for attempt := 1; ; attempt++ {
		status, err := w.post(ctx, body)
		switch {
		case err == nil && status/100 == 2:
			w.sent.Add(float64(len(events)))
			return
		case err == nil && status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			w.failed.WithLabelValues("refused").Add(float64(len(events)))
			slog.Warn("receipts webhook refused a batch; dropped", "status", status, "events", len(events))
			return
		case attempt == webhookAttempts:
			w.failed.WithLabelValues("retries").Add(float64(len(events)))
			slog.Warn("receipts webhook failed every attempt; batch dropped", "status", status, "err", err, "events", len(events))
			return
		}
		sleep := delay/2 + time.Duration(rand.Int64N(int64(delay)))
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return
		}
		delay = min(delay*2, webhookMaxDelay)
	}
}

func (w *Webhook) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TimestampHeader, strconv.FormatInt(ts, 10))
	req.Header.Set(SignatureHeader, Sign(w.secret, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, egress.Cause(err) // the URL's query may hold the receiver's secret: not for logs
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
