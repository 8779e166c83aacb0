// Package apns sends notifications through the Apple Push Notification
// service over HTTP/2 with token authentication: a JWT signed with the
// team's .p8 key (ES256, its key ID and team ID), made again before Apple's
// hour is up, through github.com/sideshow/apns2. The hosts are settings, so
// that tests can stand in for Apple.
package apns

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
)

// Key is the team's token-signing key, from the Apple developer account
// (Certificates, Identifiers & Profiles, Keys).
type Key struct {
	P8     []byte // the .p8 file
	KeyID  string
	TeamID string
}

// Options are where requests go and how.
type Options struct {
	Production string       // default https://api.push.apple.com
	Sandbox    string       // default https://api.sandbox.push.apple.com
	Client     *http.Client // must speak HTTP/2; default apns2's
}

// Sender sends with one team's key, to either environment.
type Sender struct {
	production, sandbox *apns2.Client
}

// New checks the key and returns a Sender.
func New(k Key, o Options) (*Sender, error) {
	key, err := token.AuthKeyFromBytes(k.P8)
	if err != nil {
		return nil, fmt.Errorf("apns key: %w", err)
	}
	if k.KeyID == "" || k.TeamID == "" {
		return nil, fmt.Errorf("apns: the key ID and the team ID go with the key")
	}
	// One token for both: it is the team's, whichever host it goes to.
	tok := &token.Token{AuthKey: key, KeyID: k.KeyID, TeamID: k.TeamID}
	client := func(host, def string) *apns2.Client {
		c := apns2.NewTokenClient(tok)
		c.Host = def
		if host != "" {
			c.Host = host
		}
		if o.Client != nil {
			c.HTTPClient = o.Client
		}
		return c
	}
	return &Sender{production: client(o.Production, apns2.HostProduction), sandbox: client(o.Sandbox, apns2.HostDevelopment)}, nil
}

// Message is one alert to one device.
type Message struct {
	Token       string // the device token, hex
	Topic       string // the app's bundle ID
	Environment string // production (the default) or sandbox
	Title, Body string
	Data        map[string]any // custom keys beside "aps"
	CollapseID  string
	TTL         time.Duration // 0: APNs's own (it stores and tries once)
	Priority    string        // "high" (10) or "normal" (5, the default)
}

// Result is APNs's answer.
type Result struct {
	Status int
	// Gone: the token is no longer valid for the app (410 Unregistered or
	// ExpiredToken, BadDeviceToken, DeviceTokenNotForTopic): forget the
	// registration.
	Gone bool
	// AuthFailed: the key was refused (403): nothing sent with it passes
	// until it is fixed.
	AuthFailed bool
	RetryAfter time.Duration // on 429 and 5xx
	Reason     string        // APNs's reason (Unregistered, TooManyRequests, ...)
}

// Send posts m to APNs. An error is a request that got no answer.
func (s *Sender) Send(ctx context.Context, m Message) (Result, error) {
	c := s.production
	if m.Environment == "sandbox" {
		c = s.sandbox
	}
	payload := map[string]any{}
	for k, v := range m.Data {
		payload[k] = v
	}
	payload["aps"] = map[string]any{"alert": map[string]string{"title": m.Title, "body": m.Body}, "sound": "default"}
	n := &apns2.Notification{DeviceToken: m.Token, Topic: m.Topic, CollapseID: m.CollapseID, Payload: payload,
		PushType: apns2.PushTypeAlert, Priority: apns2.PriorityLow}
	if m.Priority == "high" {
		n.Priority = apns2.PriorityHigh
	}
	if m.TTL > 0 {
		n.Expiration = time.Now().Add(m.TTL)
	}
	resp, err := c.PushWithContext(ctx, n)
	if err != nil {
		return Result{}, fmt.Errorf("apns: %w", err)
	}
	r := Result{Status: resp.StatusCode, Reason: resp.Reason}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusGone, resp.Reason == apns2.ReasonBadDeviceToken, resp.Reason == apns2.ReasonDeviceTokenNotForTopic:
		r.Gone = true
	case resp.StatusCode == http.StatusForbidden:
		r.AuthFailed = true
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		// APNs sends no Retry-After: a minute, as its documentation asks
		// of a sender told to slow down.
		r.RetryAfter = time.Minute
	}
	return r, nil
}
