package collect

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/apns"
	"github.com/heraldpush/herald/fcm"
	"github.com/heraldpush/herald/webpush"
)

// Each provider gets the notification in its own shape, and Herald's
// message ID and seq beside the app's data ("herald_id", "herald_seq"),
// so that the app can fetch the message itself, or skip it once it has it;
// for a topic message or a broadcast, the topic too ("herald_topic", "*"
// for a broadcast), whose stream the seq counts in.

// defaultPushTTL is a push's lifetime when the notification sets none:
// FCM's and the browsers' longest, 28 days.
const defaultPushTTL = herald.MaxPushTTL * time.Second

func pushTTL(n herald.Notification) time.Duration {
	if n.TTLSeconds > 0 {
		return time.Duration(n.TTLSeconds) * time.Second
	}
	return defaultPushTTL
}

// WebPushProvider pushes to browsers. The payload is JSON for the page's
// service worker: {title, body, data, id, seq, collapse_key, topic}.
func WebPushProvider(s *webpush.Sender) Provider { return webPushProvider{s} }

type webPushProvider struct{ s *webpush.Sender }

// webPushTopic is what a Topic header may hold (RFC 8030: 32 characters of
// the base64url alphabet): a collapse key of other characters is not sent.
var webPushTopic = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func (w webPushProvider) Push(ctx context.Context, reg herald.PushRegistration, p herald.PendingPush) PushResult {
	if reg.Subscription == nil {
		return PushResult{Reason: "a webpush registration without a subscription"}
	}
	n := p.Notification
	body := map[string]any{"title": n.Title, "body": n.Body, "data": n.Data, "id": p.MsgID, "seq": p.Seq, "collapse_key": n.CollapseKey}
	if p.Topic != "" {
		body["topic"] = p.Topic
	}
	payload, _ := json.Marshal(body)
	m := webpush.Message{Payload: payload, TTL: pushTTL(n), Urgency: "normal"}
	if n.Priority == "high" {
		m.Urgency = "high"
	}
	if webPushTopic.MatchString(n.CollapseKey) {
		m.Topic = n.CollapseKey
	}
	r, err := w.s.Send(ctx, *reg.Subscription, m)
	if err != nil {
		return PushResult{Retry: true, Reason: err.Error(), Code: "no_answer"}
	}
	return result(r.Status, r.Gone, r.Status == 401 || r.Status == 403, r.RetryAfter, r.Body, "http_"+strconv.Itoa(r.Status))
}

// FCMProvider pushes through Firebase Cloud Messaging. FCM's data is
// strings: each of the notification's data fields goes as its JSON text
// (a string as the string itself).
func FCMProvider(s *fcm.Sender) Provider { return fcmProvider{s} }

type fcmProvider struct{ s *fcm.Sender }

func (f fcmProvider) Push(ctx context.Context, reg herald.PushRegistration, p herald.PendingPush) PushResult {
	n := p.Notification
	data := map[string]string{"herald_id": p.MsgID, "herald_seq": strconv.FormatUint(p.Seq, 10)}
	if p.Topic != "" {
		data["herald_topic"] = p.Topic
	}
	var fields map[string]json.RawMessage
	json.Unmarshal(n.Data, &fields)
	for k, v := range fields {
		var str string
		if json.Unmarshal(v, &str) == nil {
			data[k] = str
		} else {
			data[k] = string(v)
		}
	}
	r, err := f.s.Send(ctx, fcm.Message{Token: reg.Token, Title: n.Title, Body: n.Body, Data: data, CollapseKey: n.CollapseKey,
		TTL: pushTTL(n), Priority: n.Priority})
	if err != nil {
		return PushResult{Retry: true, Reason: err.Error(), Code: "no_answer"}
	}
	return result(r.Status, r.Gone, r.AuthFailed, r.RetryAfter, r.Reason, code(r.Reason, r.Status))
}

// APNsProvider pushes through Apple's service: the notification as an
// alert, the data's fields beside "aps".
func APNsProvider(s *apns.Sender) Provider { return apnsProvider{s} }

type apnsProvider struct{ s *apns.Sender }

func (a apnsProvider) Push(ctx context.Context, reg herald.PushRegistration, p herald.PendingPush) PushResult {
	n := p.Notification
	data := map[string]any{}
	json.Unmarshal(n.Data, &data)
	data["herald_id"], data["herald_seq"] = p.MsgID, p.Seq
	if p.Topic != "" {
		data["herald_topic"] = p.Topic
	}
	r, err := a.s.Send(ctx, apns.Message{Token: reg.Token, Topic: reg.Topic, Environment: reg.Environment, Title: n.Title, Body: n.Body,
		Data: data, CollapseID: n.CollapseKey, TTL: pushTTL(n), Priority: n.Priority})
	if err != nil {
		return PushResult{Retry: true, Reason: err.Error(), Code: "no_answer"}
	}
	return result(r.Status, r.Gone, r.AuthFailed, r.RetryAfter, r.Reason, code(r.Reason, r.Status))
}

// code is a provider's error code when it is one (letters and _ only,
// from the provider's fixed list), else http_<status>: a metric label
// must not take free text.
func code(reason string, status int) string {
	if reason != "" && len(reason) <= 40 && strings.Trim(reason, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_") == "" {
		return reason
	}
	return "http_" + strconv.Itoa(status)
}

// result reads a provider's answer: 2xx sent; gone and refused credentials
// as the provider said; 429 and 5xx worth another try; the rest a refusal
// of this push.
func result(status int, gone, authFailed bool, retryAfter time.Duration, reason, code string) PushResult {
	switch {
	case status >= 200 && status < 300:
		return PushResult{OK: true}
	case gone:
		return PushResult{Gone: true, Reason: reason, Code: code}
	case authFailed:
		return PushResult{AuthFailed: true, Reason: reason, Code: code}
	case status == 429 || status >= 500:
		return PushResult{Retry: true, RetryAfter: retryAfter, Reason: reason, Code: code}
	}
	return PushResult{Reason: strconv.Itoa(status) + " " + reason, Code: code}
}
