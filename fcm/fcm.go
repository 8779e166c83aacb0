// Package fcm sends notifications through the Firebase Cloud Messaging
// HTTP v1 API, authenticated as a Google service account: an OAuth2
// JWT-bearer grant (RFC 7523) signed with the account's key, through
// golang.org/x/oauth2/jwt, whose access token is cached and renewed before
// it expires. Both the token endpoint and the FCM endpoint are settings, so
// that tests (and a proxy) can stand in for Google.
package fcm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/heraldpush/herald/internal/httpx"
)

// Scope is the OAuth2 scope of the FCM send API.
const Scope = "https://www.googleapis.com/auth/firebase.messaging"

// ServiceAccount is what a service account's JSON key file holds that
// sending needs.
type ServiceAccount struct {
	ProjectID    string `json:"project_id"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
}

// ParseServiceAccount reads a service account's JSON key file.
func ParseServiceAccount(b []byte) (ServiceAccount, error) {
	var sa ServiceAccount
	if err := json.Unmarshal(b, &sa); err != nil {
		return sa, fmt.Errorf("service account JSON: %w", err)
	}
	if sa.ProjectID == "" || sa.ClientEmail == "" || !strings.Contains(sa.PrivateKey, "PRIVATE KEY") {
		return sa, errors.New("service account JSON: project_id, client_email and private_key are required (Firebase console, Project settings, Service accounts)")
	}
	if sa.TokenURI == "" {
		sa.TokenURI = "https://oauth2.googleapis.com/token"
	}
	return sa, nil
}

// Options are where requests go and how.
type Options struct {
	Endpoint string       // FCM's base URL; default https://fcm.googleapis.com
	TokenURL string       // overrides the account's token_uri
	Client   *http.Client // for both endpoints
}

// Sender sends as one service account to its project.
type Sender struct {
	project  string
	endpoint string
	client   *http.Client
	tokens   oauth2.TokenSource
}

// New returns a Sender for sa.
func New(sa ServiceAccount, o Options) (*Sender, error) {
	if o.Client == nil {
		o.Client = http.DefaultClient
	}
	if o.Endpoint == "" {
		o.Endpoint = "https://fcm.googleapis.com"
	}
	cfg := &jwt.Config{Email: sa.ClientEmail, PrivateKey: []byte(sa.PrivateKey), PrivateKeyID: sa.PrivateKeyID,
		Scopes: []string{Scope}, TokenURL: sa.TokenURI}
	if o.TokenURL != "" {
		cfg.TokenURL = o.TokenURL
	}
	// The token source keeps the client it was made with for every grant
	// after: background, not a request's context, which ends.
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, o.Client)
	return &Sender{project: sa.ProjectID, endpoint: strings.TrimSuffix(o.Endpoint, "/"), client: o.Client,
		tokens: oauth2.ReuseTokenSource(nil, cfg.TokenSource(ctx))}, nil
}

// Message is one notification to one registration token.
type Message struct {
	Token       string
	Title, Body string
	Data        map[string]string // FCM's data is strings only
	CollapseKey string
	TTL         time.Duration // 0: FCM's default (4 weeks)
	Priority    string        // "high" or "normal" (the default)
}

// Result is FCM's answer.
type Result struct {
	Status int
	// Gone: the token is no longer valid (UNREGISTERED, or 404): forget
	// the registration.
	Gone bool
	// AuthFailed: the credentials were refused (the grant, or 401/403
	// from FCM): nothing this account sends will pass until they are fixed.
	AuthFailed bool
	RetryAfter time.Duration // from Retry-After, on 429 and 5xx
	Reason     string        // FCM's error code (UNREGISTERED, QUOTA_EXCEEDED, ...) or status
}

type fcmError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type      string `json:"@type"`
			ErrorCode string `json:"errorCode"`
		} `json:"details"`
	} `json:"error"`
}

// Send posts m to FCM. An error is a request that got no answer; an
// answer, whatever its status, is a Result.
func (s *Sender) Send(ctx context.Context, m Message) (Result, error) {
	tok, err := s.tokens.Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			why := re.ErrorCode
			if why == "" {
				why = strings.TrimSpace(string(re.Body[:min(len(re.Body), 200)]))
			}
			return Result{Status: re.Response.StatusCode, AuthFailed: true, Reason: "token grant refused: " + why}, nil
		}
		return Result{}, fmt.Errorf("fcm access token: %w", err)
	}
	body, err := json.Marshal(request(m))
	if err != nil {
		return Result{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint+"/v1/projects/"+s.project+"/messages:send", bytes.NewReader(body))
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := s.client.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("fcm: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	r := Result{Status: resp.StatusCode}
	if resp.StatusCode == http.StatusOK {
		return r, nil
	}
	var e fcmError
	json.Unmarshal(b, &e)
	r.Reason = e.Error.Status
	for _, d := range e.Error.Details {
		if d.ErrorCode != "" {
			r.Reason = d.ErrorCode
		}
	}
	if r.Reason == "" {
		r.Reason = http.StatusText(resp.StatusCode)
	}
	switch {
	case r.Reason == "UNREGISTERED" || resp.StatusCode == http.StatusNotFound:
		r.Gone = true
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		r.AuthFailed = true
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		r.RetryAfter = httpx.RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return r, nil
}

// request is the v1 API's body for m: the notification for every
// platform, with each one's collapse, lifetime and priority fields.
func request(m Message) map[string]any {
	msg := map[string]any{"token": m.Token}
	if m.Title != "" || m.Body != "" {
		msg["notification"] = map[string]string{"title": m.Title, "body": m.Body}
	}
	if len(m.Data) > 0 {
		msg["data"] = m.Data
	}
	android := map[string]any{}
	apns := map[string]string{}
	webpush := map[string]string{}
	if m.CollapseKey != "" {
		android["collapse_key"] = m.CollapseKey
		apns["apns-collapse-id"] = m.CollapseKey
		webpush["Topic"] = m.CollapseKey
	}
	if m.TTL > 0 {
		secs := int64(m.TTL / time.Second)
		android["ttl"] = strconv.FormatInt(secs, 10) + "s"
		apns["apns-expiration"] = strconv.FormatInt(time.Now().Add(m.TTL).Unix(), 10)
		webpush["TTL"] = strconv.FormatInt(secs, 10)
	}
	if m.Priority == "high" {
		android["priority"] = "HIGH"
		apns["apns-priority"] = "10"
		webpush["Urgency"] = "high"
	} else {
		android["priority"] = "NORMAL"
		apns["apns-priority"] = "5"
	}
	msg["android"] = android
	msg["apns"] = map[string]any{"headers": apns}
	if len(webpush) > 0 {
		msg["webpush"] = map[string]any{"headers": webpush}
	}
	return map[string]any{"message": msg}
}
