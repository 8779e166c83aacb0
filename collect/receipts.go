package collect

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

// MessageStatus is the answer of GET /v1/messages/{id}: the message and,
// per recipient and device, what became of it.
type MessageStatus struct {
	ID      string          `json:"id"`
	TS      int64           `json:"ts"`
	Kind    string          `json:"kind"` // user, topic or broadcast
	Topic   string          `json:"topic,omitempty"`
	Payload json.RawMessage `json:"payload"`
	// ExpiresAt is when the message expired or expires (Unix ms), and
	// CollapseKey what supersedes it; both absent when the send set none.
	ExpiresAt   int64  `json:"expires_at,omitempty"`
	CollapseKey string `json:"collapse_key,omitempty"`
	// DeliverAt is a scheduled message's time to go (Unix ms), while it
	// waits; its recipients are then "scheduled".
	DeliverAt int64 `json:"deliver_at,omitempty"`
	// RecalledAt is when the message was recalled (Unix ms).
	RecalledAt int64 `json:"recalled_at,omitempty"`
	// Recipients of a message to users; topic messages and broadcasts have
	// none (no per-subscriber receipts).
	Recipients []RecipientStatus `json:"recipients"`
}

// RecipientStatus is one user's: status is stored (on no device yet),
// pushed (to a device's push service), delivered (written to at least one
// device), acked (by at least one), expired (the message expired before
// any device got it), recalled (it was recalled before any device got it),
// or scheduled (it waits for its deliver_at).
type RecipientStatus struct {
	User    string         `json:"user"`
	Seq     herald.Seq     `json:"seq"`
	Status  string         `json:"status"`
	Devices []DeviceStatus `json:"devices"`
}

// DeviceStatus is one device's receipt (device: the device ID, or the
// connection's ID for a connection without one).
type DeviceStatus struct {
	Device      string `json:"device"`
	Status      string `json:"status"`                 // pushed, push_failed, delivered or acked
	DeliveredAt int64  `json:"delivered_at,omitempty"` // Unix ms
	AckedAt     int64  `json:"acked_at,omitempty"`     // Unix ms
	// The notification's push to the device: when, through which
	// provider, or the provider's refusal.
	PushedAt   int64  `json:"pushed_at,omitempty"`
	Provider   string `json:"provider,omitempty"`
	PushFailed string `json:"push_failed,omitempty"`
}

func (s *Service) handleMessageStatus(w http.ResponseWriter, r *http.Request) {
	rs := s.receipts
	if rs == nil {
		httpx.Error(w, r, herald.Errorf(herald.ENotFound, "this store keeps no receipts"))
		return
	}
	id := r.PathValue("id")
	if id == "" || len(id) > 255 {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "id: a message ID"))
		return
	}
	m, err := rs.Message(r.Context(), id)
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable"))
		return
	}
	if m == nil && s.schedule != nil {
		if m, err = s.schedule.ScheduledMessage(r.Context(), id); err != nil {
			httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable"))
			return
		}
		if m != nil {
			httpx.JSON(w, http.StatusOK, scheduledStatus(m))
			return
		}
	}
	if m == nil {
		httpx.Error(w, r, herald.Errorf(herald.ENotFound, "no message %s (never sent, or removed by retention)", id))
		return
	}
	receipts, err := rs.Receipts(r.Context(), id)
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable"))
		return
	}
	var pushed []herald.PushReceipt
	if pr, ok := rs.(herald.PushReceipts); ok {
		if pushed, err = pr.PushReceipts(r.Context(), id); err != nil {
			httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable"))
			return
		}
	}
	httpx.JSON(w, http.StatusOK, messageStatus(m, receipts, pushed))
}

func messageStatus(m *herald.Message, receipts []herald.Receipt, pushed []herald.PushReceipt) MessageStatus {
	out := MessageStatus{ID: m.ID, TS: m.Time.UnixMilli(), Kind: "user", Topic: m.Topic, Payload: m.Payload, CollapseKey: m.CollapseKey, Recipients: []RecipientStatus{}}
	expired := !m.Expires.IsZero() && !time.Now().Before(m.Expires)
	if !m.Expires.IsZero() {
		out.ExpiresAt = m.Expires.UnixMilli()
	}
	out.RecalledAt = unixMilli(m.Recalled)
	byUser := map[string][]herald.Receipt{}
	for _, rc := range receipts {
		byUser[rc.User] = append(byUser[rc.User], rc)
	}
	for i, u := range m.Users {
		if kind, stream := streamKind(u); stream {
			out.Kind = kind
			continue
		}
		rec := RecipientStatus{User: u, Status: "stored", Devices: []DeviceStatus{}}
		if i < len(m.Seqs) {
			rec.Seq = m.Seqs[i]
		}
		for _, rc := range byUser[u] {
			d := DeviceStatus{Device: rc.Device, Status: "delivered", DeliveredAt: rc.Delivered.UnixMilli()}
			if rec.Status == "stored" || rec.Status == "pushed" {
				rec.Status = "delivered"
			}
			if !rc.Acked.IsZero() {
				d.Status, d.AckedAt, rec.Status = "acked", rc.Acked.UnixMilli(), "acked"
			}
			rec.Devices = append(rec.Devices, d)
		}
		for _, p := range pushed {
			if p.User != u {
				continue
			}
			i := slices.IndexFunc(rec.Devices, func(d DeviceStatus) bool { return d.Device == p.Device })
			if i < 0 {
				rec.Devices = append(rec.Devices, DeviceStatus{Device: p.Device, Status: "pushed"})
				i = len(rec.Devices) - 1
			}
			d := &rec.Devices[i]
			d.Provider = p.Provider
			if p.Failed != "" {
				d.PushFailed = p.Failed
				if d.Status == "pushed" {
					d.Status = "push_failed"
				}
				continue
			}
			d.PushedAt = p.At.UnixMilli()
			if rec.Status == "stored" {
				rec.Status = "pushed"
			}
		}
		switch {
		case rec.Status != "stored" && rec.Status != "pushed":
		case !m.Recalled.IsZero():
			rec.Status = "recalled"
		case expired:
			rec.Status = "expired"
		}
		sort.Slice(rec.Devices, func(a, b int) bool { return rec.Devices[a].Device < rec.Devices[b].Device })
		out.Recipients = append(out.Recipients, rec)
	}
	sort.Slice(out.Recipients, func(a, b int) bool { return out.Recipients[a].User < out.Recipients[b].User })
	return out
}

// scheduledStatus is the answer for a message still waiting for its
// deliver_at: no seq yet, every recipient scheduled.
func scheduledStatus(m *herald.Message) MessageStatus {
	out := MessageStatus{ID: m.ID, TS: m.Time.UnixMilli(), Kind: "user", Topic: m.Topic, Payload: m.Payload, CollapseKey: m.CollapseKey,
		ExpiresAt: unixMilli(m.Expires), DeliverAt: unixMilli(m.DeliverAt), Recipients: []RecipientStatus{}}
	for _, u := range m.Users {
		if kind, stream := streamKind(u); stream {
			out.Kind = kind
			continue
		}
		out.Recipients = append(out.Recipients, RecipientStatus{User: u, Status: "scheduled", Devices: []DeviceStatus{}})
	}
	return out
}

// streamKind says whether recipient u is a topic's key (topic) or the
// broadcasts' (broadcast), not a user.
func streamKind(u string) (string, bool) {
	switch _, topic := herald.IsTopicKey(u); {
	case u == herald.BroadcastKey:
		return "broadcast", true
	case topic:
		return "topic", true
	}
	return "", false
}
