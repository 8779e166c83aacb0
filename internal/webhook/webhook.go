// Package webhook posts events to a business system's URL: in batches,
// signed with HMAC-SHA256 over a timestamp and the body, retried with
// jittered exponential backoff, at least once and in order per node. The
// receipts webhook and the connection webhook are two senders of it.
package webhook

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

// Body is what the webhook receives.
type Body[E any] struct {
	Events []E `json:"events"`
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

// Sender sends events of type E to the business system's URL.
type Sender[E any] struct {
	name        string // in logs and metric names: "receipt", "connection"
	url, secret string
	client      *http.Client
	// BaseDelay is the first retry's delay (500 ms), doubled up to a cap.
	BaseDelay time.Duration

	mu     sync.Mutex
	queue  []E
	wake   chan struct{}
	sent   prometheus.Counter
	failed *prometheus.CounterVec
}

// New returns a Sender named name ("receipt": metrics
// herald_receipt_events_sent_total and herald_receipt_events_dropped_total)
// that posts to url, signed with secret, through client (the caller's
// outbound policy: internal/egress).
func New[E any](name, url, secret string, client *http.Client, reg prometheus.Registerer) *Sender[E] {
	w := &Sender[E]{name: name, url: url, secret: secret, client: client, BaseDelay: 500 * time.Millisecond,
		wake: make(chan struct{}, 1),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_" + name + "_events_sent_total",
			Help: "Events of the " + name + " webhook that it accepted."}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_" + name + "_events_dropped_total",
			Help: "Events of the " + name + " webhook given up on: queue_full, refused (a 4xx), retries (all attempts failed)."}, []string{"reason"}),
	}
	reg.MustRegister(w.sent, w.failed)
	return w
}

// Add queues an event.
func (w *Sender[E]) Add(e E) {
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

// Run sends batches until ctx ends; then what is queued gets one last try,
// bounded by a few seconds (a node shutting down must not hang on it).
func (w *Sender[E]) Run(ctx context.Context) {
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
func (w *Sender[E]) sendQueued(ctx context.Context) {
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
func (w *Sender[E]) send(ctx context.Context, events []E) {
	body, _ := json.Marshal(Body[E]{Events: events})
	delay := w.BaseDelay
	for attempt := 1; ; attempt++ {
		status, err := w.post(ctx, body)
		switch {
		case err == nil && status/100 == 2:
			w.sent.Add(float64(len(events)))
			return
		case err == nil && status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			w.failed.WithLabelValues("refused").Add(float64(len(events)))
			slog.Warn("webhook refused a batch; dropped", "webhook", w.name, "status", status, "events", len(events))
			return
		case attempt == webhookAttempts:
			w.failed.WithLabelValues("retries").Add(float64(len(events)))
			slog.Warn("webhook failed every attempt; batch dropped", "webhook", w.name, "status", status, "err", err, "events", len(events))
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

func (w *Sender[E]) post(ctx context.Context, body []byte) (int, error) {
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
