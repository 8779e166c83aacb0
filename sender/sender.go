// Package sender is the Go SDK for business systems that send through
// Herald's collect API: single messages, batches (POST /v1/messages/batch),
// topic messages and broadcasts.
//
// Every call is safe to retry, and the SDK retries it: each request carries
// an Idempotency-Key (the caller's, or one the SDK makes up for the call), so
// a retry after a timeout, a dropped connection or a 503 (to the same collect
// instance or the next one) stores nothing twice and returns the first
// answer. A 202 means the message is on disk.
//
//	s := sender.New(apiKey, "http://127.0.0.1:8080")
//	id, err := s.Send(ctx, sender.Message{Users: []string{"alice"}, Payload: map[string]any{"text": "hi"}})
//	ids, err := s.SendBatch(ctx, msgs, sender.Key("import-2026-11-26"))
package sender

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Message is one message to users.
type Message struct {
	Users   []string
	Payload any // any JSON value but null; json.RawMessage is sent as is
	Topic   string
	Options
}

// Options are a message's optional parts (docs/api.md, POST /v1/messages).
type Options struct {
	// TTL (whole seconds) or ExpiresAt: when the message expires; it is
	// then no longer replayed, returned by the history or pushed.
	TTL       time.Duration
	ExpiresAt time.Time
	// CollapseKey: a newer message of the stream with the same key
	// supersedes this one for a device that resumes.
	CollapseKey string
	// DeliverAt schedules the message: stored now, delivered then.
	DeliverAt time.Time
	// Notification is pushed to the recipients' registered devices that
	// do not get the message; Push is when (if_not_acked, if_offline,
	// always, never; the server's default when empty).
	Notification *Notification
	Push         string
}

// Notification is what a push service shows on a device that is woken.
type Notification struct {
	Title       string          `json:"title,omitempty"`
	Body        string          `json:"body,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"` // a JSON object for the app
	CollapseKey string          `json:"collapse_key,omitempty"`
	TTLSeconds  int             `json:"ttl_seconds,omitempty"`
	Priority    string          `json:"priority,omitempty"` // normal or high
}

// wire is a message's request body.
type wire struct {
	Users        []string      `json:"users,omitempty"`
	Payload      any           `json:"payload"`
	Topic        string        `json:"topic,omitempty"`
	TTLSeconds   int64         `json:"ttl_seconds,omitempty"`
	ExpiresAt    int64         `json:"expires_at,omitempty"`
	CollapseKey  string        `json:"collapse_key,omitempty"`
	DeliverAt    int64         `json:"deliver_at,omitempty"`
	Notification *Notification `json:"notification,omitempty"`
	Push         string        `json:"push,omitempty"`
}

func (o Options) wire(users []string, payload any, topic string) wire {
	w := wire{Users: users, Payload: payload, Topic: topic, TTLSeconds: int64(o.TTL / time.Second), CollapseKey: o.CollapseKey,
		Notification: o.Notification, Push: o.Push}
	if !o.ExpiresAt.IsZero() {
		w.ExpiresAt = o.ExpiresAt.UnixMilli()
	}
	if !o.DeliverAt.IsZero() {
		w.DeliverAt = o.DeliverAt.UnixMilli()
	}
	return w
}

// MarshalJSON writes the message as the API takes it.
func (m Message) MarshalJSON() ([]byte, error) {
	return json.Marshal(m.wire(m.Users, m.Payload, m.Topic))
}

// Client sends to one or more collect instances. Its fields may be set
// before first use.
type Client struct {
	// BaseURLs are the collect instances (http://host:port); each retry goes
	// to the next one.
	BaseURLs []string
	APIKey   string
	HTTP     *http.Client
	// Attempts is how many times a call is tried in all (default 6).
	Attempts int
	// Backoff is the first pause between attempts; it doubles, with jitter,
	// up to MaxBackoff (default 100 ms, up to 5 s). A 429's or 503's
	// Retry-After is honoured.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// OnRetry, when set, is told of each failed attempt that will be tried
	// again (for a retry counter or a log line).
	OnRetry func(err error)
	// MaxBatch is how many messages SendBatch puts in one request (default
	// 1,000, the server's default --max-batch-messages).
	MaxBatch int
	// AuthURL is the auth service's base URL, for Token (default: the
	// first of BaseURLs, as with herald all).
	AuthURL string
}

// New returns a Client for the collect instances at baseURLs (comma-separated
// or several arguments) with the API key.
func New(apiKey string, baseURLs ...string) *Client {
	var urls []string
	for _, u := range baseURLs {
		for _, p := range strings.Split(u, ",") {
			if p = strings.TrimRight(strings.TrimSpace(p), "/"); p != "" {
				urls = append(urls, p)
			}
		}
	}
	return &Client{BaseURLs: urls, APIKey: apiKey, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Option changes one call.
type Option func(*callOptions)

type callOptions struct{ key string }

// Key sets the call's Idempotency-Key: the same key on a later call (a
// retry by the business system itself, after a crash) returns the first
// call's answer and stores nothing. Without it the SDK makes one up per
// call, which covers its own retries only.
func Key(k string) Option { return func(o *callOptions) { o.key = k } }

// Error is an answer the server refused with: not retried (except 408, 429
// and 5xx, which are retried until Attempts run out).
type Error struct {
	Status  int
	Code    string // the API's error code (docs/api.md): invalid_request, unauthorized, ...
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("herald: %d %s: %s", e.Status, e.Code, e.Message)
}

// Send stores one message and returns its ID.
func (c *Client) Send(ctx context.Context, m Message, opts ...Option) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := c.call(ctx, http.MethodPost, "/v1/messages", m, &out, opts)
	return out.ID, err
}

// SendBatch stores msgs, MaxBatch to a request (each request one durable
// write, all or nothing), and returns their IDs in order. A batch larger
// than MaxBatch is split; with a Key, each part's key is the key and the
// part's number, so the whole call can be retried with the same key. On an
// error the parts before the failed one are stored: their IDs are returned.
func (c *Client) SendBatch(ctx context.Context, msgs []Message, opts ...Option) ([]string, error) {
	o := options(opts)
	size := c.MaxBatch
	if size <= 0 {
		size = 1000
	}
	ids := make([]string, 0, len(msgs))
	for part := 0; len(msgs) > 0; part++ {
		n := min(len(msgs), size)
		var out struct {
			IDs []string `json:"ids"`
		}
		key := o.key
		if key != "" && (part > 0 || n < len(msgs)) {
			key += "#" + strconv.Itoa(part)
		}
		body := struct {
			Messages []Message `json:"messages"`
		}{msgs[:n]}
		if err := c.call(ctx, http.MethodPost, "/v1/messages/batch", body, &out, []Option{Key(key)}); err != nil {
			return ids, err
		}
		ids = append(ids, out.IDs...)
		msgs = msgs[n:]
	}
	return ids, nil
}

// Published is the answer to a topic message or a broadcast.
type Published struct {
	ID    string `json:"id"`
	Topic string `json:"topic"`
	Seq   uint64 `json:"seq"` // the message's place in the topic (0 for a scheduled one, until it goes)
}

// Publish stores a message to every subscriber of topic.
func (c *Client) Publish(ctx context.Context, topic string, payload any, opts ...Option) (Published, error) {
	return c.PublishWith(ctx, topic, payload, Options{}, opts...)
}

// PublishWith is Publish with a message's options (expiry, collapse key,
// schedule, notification).
func (c *Client) PublishWith(ctx context.Context, topic string, payload any, mo Options, opts ...Option) (Published, error) {
	var out Published
	err := c.call(ctx, http.MethodPost, "/v1/topics/"+url.PathEscape(topic)+"/messages", mo.wire(nil, payload, ""), &out, opts)
	return out, err
}

// Broadcast stores a message to every connection.
func (c *Client) Broadcast(ctx context.Context, payload any, opts ...Option) (Published, error) {
	return c.BroadcastWith(ctx, payload, Options{}, opts...)
}

// BroadcastWith is Broadcast with a message's options.
func (c *Client) BroadcastWith(ctx context.Context, payload any, mo Options, opts ...Option) (Published, error) {
	var out Published
	err := c.call(ctx, http.MethodPost, "/v1/broadcast", mo.wire(nil, payload, ""), &out, opts)
	return out, err
}

// Token mints a token for user's connection (POST /v1/tokens on the auth
// service), allowed the topics given.
func (c *Client) Token(ctx context.Context, user string, topics ...string) (string, error) {
	one := *c
	one.BaseURLs = []string{c.AuthURL}
	if c.AuthURL == "" && len(c.BaseURLs) > 0 {
		one.BaseURLs = c.BaseURLs[:1]
	}
	body := map[string]any{"user": user}
	if len(topics) > 0 {
		body["topics"] = topics
	}
	var out struct {
		Token string `json:"token"`
	}
	err := one.call(ctx, http.MethodPost, "/v1/tokens", body, &out, nil)
	return out.Token, err
}

// Recalled is the answer to Recall.
type Recalled struct {
	ID         string `json:"id"`
	Status     string `json:"status"`      // recalled, or cancelled (it was scheduled)
	RecalledAt int64  `json:"recalled_at"` // Unix ms
}

// Recall takes a message back: a scheduled one never goes out; a stored
// one is passed over by every replay from now on, and connections that
// asked are told (docs/api.md, DELETE /v1/messages/{id}).
func (c *Client) Recall(ctx context.Context, id string) (Recalled, error) {
	var out Recalled
	err := c.call(ctx, http.MethodDelete, "/v1/messages/"+url.PathEscape(id), nil, &out, nil)
	return out, err
}

func options(opts []Option) callOptions {
	var o callOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// call sends body (nil: none) to path until it is answered 2xx (decoded
// into out), a refusal that a retry cannot change, ctx ends, or attempts
// run out.
func (c *Client) call(ctx context.Context, method, path string, body, out any, opts []Option) error {
	if len(c.BaseURLs) == 0 {
		return errors.New("herald: no collect URL")
	}
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return fmt.Errorf("herald: encode request: %w", err)
		}
	}
	key := options(opts).key
	if key == "" {
		// Made up once per call, so every attempt of it is the same request.
		var b [16]byte
		crand.Read(b[:]) // never fails (Go 1.24+)
		key = "sdk-" + hex.EncodeToString(b[:])
	}
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = 6
	}
	pause := c.Backoff
	if pause <= 0 {
		pause = 100 * time.Millisecond
	}
	maxPause := c.MaxBackoff
	if maxPause <= 0 {
		maxPause = 5 * time.Second
	}
	start := rand.IntN(len(c.BaseURLs))
	var last error
	for i := range attempts {
		if i > 0 {
			wait := pause/2 + rand.N(pause) // jitter: retries from many senders do not arrive together
			if ra := retryAfter(last); ra > wait {
				wait = ra
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return fmt.Errorf("herald: %w (last error: %v)", ctx.Err(), last)
			}
			pause = min(pause*2, maxPause)
		}
		base := c.BaseURLs[(start+i)%len(c.BaseURLs)]
		var retry bool
		retry, last = c.once(ctx, method, base+path, key, raw, out)
		if last == nil || !retry {
			return last
		}
		if c.OnRetry != nil && i+1 < attempts {
			c.OnRetry(last)
		}
	}
	return last
}

// retryable carries a Retry-After with the error it came with.
type retryable struct {
	err   error
	after time.Duration
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

func retryAfter(err error) time.Duration {
	var r *retryable
	if errors.As(err, &r) {
		return r.after
	}
	return 0
}

// once makes one attempt and says whether another may help.
func (c *Client) once(ctx context.Context, method, u, key string, body []byte, out any) (bool, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return false, fmt.Errorf("herald: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	req.Header.Set("Idempotency-Key", key)
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("herald: %w", err) // the message may be stored: the key makes the retry safe
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return true, fmt.Errorf("herald: read answer: %w", err)
	}
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, out); err != nil {
			return false, fmt.Errorf("herald: decode answer: %w", err)
		}
		return false, nil
	}
	e := &Error{Status: resp.StatusCode}
	var eb struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
	} else {
		e.Message = strings.TrimSpace(string(data))
	}
	switch s := resp.StatusCode; {
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return true, &retryable{err: e, after: time.Duration(min(secs, 60)) * time.Second}
	}
	return false, e
}
