// Package webpush sends Web Push messages (RFC 8030) to browsers' push
// services: the payload encrypted for the subscription (RFC 8291,
// aes128gcm) and signed for by the application server's VAPID key (RFC
// 8292), through github.com/SherClockHolmes/webpush-go. Requests go out on
// the caller's HTTP client, so that what an endpoint may reach is decided
// where every other outbound URL's is (internal/egress).
package webpush

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	wp "github.com/SherClockHolmes/webpush-go"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

// Keys is a VAPID key pair on P-256, base64url without padding: the public
// key uncompressed (65 bytes), what browsers take as applicationServerKey,
// and the private scalar (32 bytes).
type Keys struct {
	Public  string `json:"public_key"`
	Private string `json:"private_key"`
}

// GenerateKeys makes a new VAPID key pair.
func GenerateKeys() (Keys, error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return Keys{}, err
	}
	return Keys{Public: b64(k.PublicKey().Bytes()), Private: b64(k.Bytes())}, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Check reports whether the private key is a P-256 scalar whose public key
// is Public.
func (k Keys) Check() error {
	d, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.Private, "="))
	if err != nil || len(d) != 32 {
		return errors.New("the VAPID private key is 32 bytes, base64url")
	}
	priv, err := ecdh.P256().NewPrivateKey(d)
	if err != nil {
		return fmt.Errorf("the VAPID private key: %w", err)
	}
	if b64(priv.PublicKey().Bytes()) != strings.TrimRight(k.Public, "=") {
		return errors.New("the VAPID public key is not the private key's")
	}
	return nil
}

// LoadOrCreate reads a key pair from path (JSON), or makes one and writes
// it there, readable by its owner only: herald all keeps its VAPID keys
// beside its other generated secrets, since a browser's subscription is
// tied to the key it was made with.
func LoadOrCreate(path string) (Keys, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		var k Keys
		if err := json.Unmarshal(b, &k); err != nil {
			return Keys{}, fmt.Errorf("%s: %w", path, err)
		}
		if err := k.Check(); err != nil {
			return Keys{}, fmt.Errorf("%s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Keys{}, err
	}
	k, err := GenerateKeys()
	if err != nil {
		return Keys{}, err
	}
	b, _ = json.MarshalIndent(k, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return Keys{}, err
	}
	return k, nil
}

// Sender sends Web Push messages with one VAPID identity.
type Sender struct {
	keys    Keys
	subject string // without "mailto:", which the library adds to an address
	client  *http.Client
}

// NewSender checks keys and subject (a mailto: address or an https URL,
// which push services use to reach the sender's operator) and sends with
// client.
func NewSender(keys Keys, subject string, client *http.Client) (*Sender, error) {
	if err := keys.Check(); err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(subject, "https://") && len(subject) > len("https://"):
	case strings.HasPrefix(subject, "mailto:") && strings.Contains(subject, "@"):
		subject = strings.TrimPrefix(subject, "mailto:")
	default:
		return nil, fmt.Errorf("the VAPID subject is a mailto: address or an https URL, not %q", subject)
	}
	return &Sender{keys: keys, subject: subject, client: client}, nil
}

// PublicKey is what a page passes to PushManager.subscribe as its
// applicationServerKey.
func (s *Sender) PublicKey() string { return s.keys.Public }

// Message is one push: its payload (at most 3,993 bytes, what fits one
// 4,096-byte aes128gcm record) and the push service's options.
type Message struct {
	Payload []byte
	TTL     time.Duration // how long the push service keeps it for an offline browser; 0: deliver now or drop
	Urgency string        // very-low, low, normal (the default) or high
	Topic   string        // a newer message with the same topic replaces a pending one
}

// MaxPayload is the largest payload one record carries.
const MaxPayload = 4096 - 16 - 86 - 1

// Result is the push service's answer.
type Result struct {
	Status     int
	Gone       bool          // 404 or 410: the subscription is no more; forget it
	RetryAfter time.Duration // from Retry-After, on 429 and 5xx
	Body       string        // the start of the answer, for a log line or a receipt
}

// Send encrypts m for sub and posts it to sub's endpoint. An error is a
// request that got no answer (or could not be made); an answer, whatever
// its status, is a Result.
func (s *Sender) Send(ctx context.Context, sub herald.WebPushSubscription, m Message) (Result, error) {
	if len(m.Payload) > MaxPayload {
		return Result{}, fmt.Errorf("web push payload of %d bytes: at most %d", len(m.Payload), MaxPayload)
	}
	opts := &wp.Options{
		HTTPClient:      s.client,
		Subscriber:      s.subject,
		TTL:             int(m.TTL / time.Second),
		Urgency:         wp.Urgency(m.Urgency),
		Topic:           m.Topic,
		VAPIDPublicKey:  s.keys.Public,
		VAPIDPrivateKey: s.keys.Private,
	}
	resp, err := wp.SendNotificationWithContext(ctx, m.Payload, &wp.Subscription{Endpoint: sub.Endpoint,
		Keys: wp.Keys{P256dh: sub.Keys.P256dh, Auth: sub.Keys.Auth}}, opts)
	if err != nil {
		return Result{}, fmt.Errorf("web push: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	r := Result{Status: resp.StatusCode, Gone: resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone,
		Body: strings.TrimSpace(string(body))}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		r.RetryAfter = httpx.RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return r, nil
}
