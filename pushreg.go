package herald

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Push providers: how a device that is not connected is woken.
const (
	ProviderFCM     = "fcm"     // Firebase Cloud Messaging, HTTP v1 API
	ProviderAPNs    = "apns"    // Apple Push Notification service, HTTP/2
	ProviderWebPush = "webpush" // Web Push (RFC 8030) with VAPID (RFC 8292)
)

// PushRegistration is how one device of a user is reached through its
// platform's push service. A device has at most one: registering again
// replaces it.
type PushRegistration struct {
	User     string `json:"user"`
	Device   string `json:"device"`
	Provider string `json:"provider"`
	Token    string `json:"token,omitempty"` // fcm, apns: the device token
	// Topic is the app's bundle ID (apns-topic); Environment production
	// (the default) or sandbox, which decides APNs's host.
	Topic        string               `json:"topic,omitempty"`
	Environment  string               `json:"environment,omitempty"`
	Subscription *WebPushSubscription `json:"subscription,omitempty"` // webpush
	// Topics are the topics whose messages (sent with a notification)
	// are pushed to the device while it is offline: an offline device is
	// on no topic, so its registration says which it stands for. Every
	// registration gets the broadcasts'.
	Topics  []string  `json:"topics,omitempty"`
	Updated time.Time `json:"updated"`
}

// PushRegistrationRequest is a registration as a business system sends it
// (PUT /v1/users/{user}/devices/{device}/push) or a client for its own
// device (a push_register frame): the fields, without whose it is.
type PushRegistrationRequest struct {
	Provider     string               `json:"provider"`
	Token        string               `json:"token,omitempty"`
	Topic        string               `json:"topic,omitempty"`
	Environment  string               `json:"environment,omitempty"`
	Subscription *WebPushSubscription `json:"subscription,omitempty"`
	Topics       []string             `json:"topics,omitempty"`
}

// For is the request as the registration of user's device, made at now
// (not yet validated).
func (q PushRegistrationRequest) For(user, device string, now time.Time) PushRegistration {
	return PushRegistration{User: user, Device: device, Provider: q.Provider, Token: q.Token, Topic: q.Topic, Environment: q.Environment,
		Subscription: q.Subscription, Topics: q.Topics, Updated: now.UTC().Truncate(time.Millisecond)}
}

// MaxPushTopics bounds a registration's topics.
const MaxPushTopics = 256

// WebPushSubscription is a browser's PushSubscription (its toJSON()).
type WebPushSubscription struct {
	Endpoint string      `json:"endpoint"`
	Keys     WebPushKeys `json:"keys"`
}

// WebPushKeys are the subscription's keys, base64url: the browser's P-256
// public key (65 bytes, uncompressed) and its 16-byte authentication secret.
type WebPushKeys struct {
	P256dh string `json:"p256dh"`
	Auth   string `json:"auth"`
}

// PushRegistrations keeps the registrations, in the store: they outlive
// every process, as the devices do.
type PushRegistrations interface {
	// PutRegistration stores r, replacing the device's registration.
	PutRegistration(ctx context.Context, r PushRegistration) error
	// Registrations returns the user's, by device.
	Registrations(ctx context.Context, user string) ([]PushRegistration, error)
	// DeleteRegistration removes a device's; false when it had none.
	DeleteRegistration(ctx context.Context, user, device string) (bool, error)
	// TopicRegistrations returns up to limit registrations that list
	// topic (every registration for Broadcast) after the cursor after
	// ("": from the start), and the cursor of the next page ("": none).
	// Cursors are the store's own.
	TopicRegistrations(ctx context.Context, topic, after string, limit int) (regs []PushRegistration, next string, err error)
}

// Validate checks what a registration's provider needs and that its values
// have the shape that provider gives them (not whether the provider knows
// them: only a push tells). A Web Push endpoint's host is the caller's to
// check against what may be reached.
func (r *PushRegistration) Validate() error {
	if !ValidID(r.User) || !ValidID(r.Device) {
		return Errorf(EInvalid, "user and device: 1-128 bytes of A-Z a-z 0-9 _ - . @ :")
	}
	switch r.Provider {
	case ProviderFCM:
		if r.Token == "" || len(r.Token) > 4096 || !printable(r.Token) {
			return Errorf(EInvalid, "token: the FCM registration token, 1-4096 printable ASCII characters")
		}
	case ProviderAPNs:
		if b, err := hex.DecodeString(r.Token); err != nil || len(b) < 32 || len(b) > 100 {
			return Errorf(EInvalid, "token: the APNs device token, 64-200 hex digits")
		}
		r.Token = strings.ToLower(r.Token)
		if !bundleID(r.Topic) {
			return Errorf(EInvalid, "topic: the app's bundle ID (apns-topic), e.g. com.example.app")
		}
		switch r.Environment {
		case "":
			r.Environment = "production"
		case "production", "sandbox":
		default:
			return Errorf(EInvalid, "environment: production or sandbox")
		}
	case ProviderWebPush:
		if r.Subscription == nil {
			return Errorf(EInvalid, "subscription: the browser's PushSubscription, {endpoint, keys: {p256dh, auth}}")
		}
		u, err := url.Parse(r.Subscription.Endpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || len(r.Subscription.Endpoint) > 2048 {
			return Errorf(EInvalid, "subscription.endpoint: an https URL of at most 2048 bytes")
		}
		key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(r.Subscription.Keys.P256dh, "="))
		if err == nil {
			_, err = ecdh.P256().NewPublicKey(key)
		}
		if err != nil || len(key) != 65 {
			return Errorf(EInvalid, "subscription.keys.p256dh: a P-256 public key, 65 bytes uncompressed, base64url")
		}
		auth, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(r.Subscription.Keys.Auth, "="))
		if err != nil || len(auth) != 16 {
			return Errorf(EInvalid, "subscription.keys.auth: 16 bytes, base64url")
		}
	default:
		return Errorf(EInvalid, "provider: fcm, apns or webpush")
	}
	if len(r.Topics) > MaxPushTopics {
		return Errorf(EInvalid, "topics: at most %d", MaxPushTopics)
	}
	for _, t := range r.Topics {
		if !ValidTopic(t) {
			return Errorf(EInvalid, "topics: names of 1-128 bytes of A-Z a-z 0-9 _ - . @ : (%q is not)", t)
		}
	}
	slices.Sort(r.Topics)
	r.Topics = slices.Compact(r.Topics)
	if field := r.foreign(); field != "" {
		return Errorf(EInvalid, "%s: not a field of a %s registration", field, r.Provider)
	}
	return nil
}

// foreign names a field set that r's provider does not take.
func (r *PushRegistration) foreign() string {
	switch {
	case r.Provider == ProviderWebPush && r.Token != "":
		return "token"
	case r.Provider != ProviderAPNs && r.Topic != "":
		return "topic"
	case r.Provider != ProviderAPNs && r.Environment != "":
		return "environment"
	case r.Provider != ProviderWebPush && r.Subscription != nil:
		return "subscription"
	}
	return ""
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// bundleID reports whether s is a reverse-DNS bundle ID: dot-separated
// parts of A-Z a-z 0-9 - (and the suffixes APNs topics may carry, such as
// .voip, which are such parts too).
func bundleID(s string) bool {
	if len(s) == 0 || len(s) > 255 || !strings.Contains(s, ".") {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
