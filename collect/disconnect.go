package collect

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

// DisconnectRequest is the optional body of POST /v1/users/{user}/disconnect.
type DisconnectRequest struct {
	Reason string `json:"reason,omitempty"` // sent to the client as the close reason
	Device string `json:"device,omitempty"` // only this device's connections; nothing revoked
}

// DisconnectResponse is its answer.
type DisconnectResponse struct {
	User      string `json:"user"`
	Device    string `json:"device,omitempty"`
	RevokedAt int64  `json:"revoked_at,omitempty"` // Unix ms: tokens issued up to this second open no connection
}

// handleDisconnect is POST /v1/users/{user}/disconnect: the business system
// cuts a user off (logout everywhere, a banned account, a leaked token).
// Two things happen: the revocation is written to the routing store, so
// that every push node refuses the user's tokens issued up to now (at
// connect and at refresh), and an order to close goes to every node that
// holds the user's connections, the way messages travel (they close with
// 4003 within a round trip). The 200 comes after both; the order is not
// retried: a node it misses has no route for the user, or checks the
// revocation on the next token refresh.
//
// With a device, only that device's connections close and nothing is
// revoked: a token names a user, not a device, so revoking would log every
// device out. The SDKs ask the application for a new token after a 4003,
// which keeps the device out if the application mints none for it.
func (s *Service) handleDisconnect(w http.ResponseWriter, r *http.Request) {
	user, ok := pathUser(w, r)
	if !ok {
		return
	}
	var req DisconnectRequest
	if r.ContentLength != 0 {
		if err := httpx.Decode(w, r, 4<<10, &req); err != nil {
			httpx.Error(w, r, err)
			return
		}
	}
	if len(req.Reason) > 100 {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "reason: at most 100 bytes (it travels in a close frame)"))
		return
	}
	if req.Device != "" && !herald.ValidID(req.Device) {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "device: 1-128 bytes of A-Z a-z 0-9 _ - . @"))
		return
	}
	now := time.Now()
	res := DisconnectResponse{User: user, Device: req.Device}
	if req.Device == "" {
		if s.revocations == nil {
			httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "disconnect needs the routing store (set --redis-addrs)"))
			return
		}
		if err := s.revocations.Revoke(r.Context(), user, now, s.cfg.RevokeTTL); err != nil {
			httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "routing store unavailable, retry"))
			return
		}
		res.RevokedAt = now.UnixMilli()
	}
	o := herald.DisconnectOrder{Reason: req.Reason, Device: req.Device}
	if o.Reason == "" {
		o.Reason = "disconnected by the application"
	}
	payload, _ := json.Marshal(o)
	order := &herald.Message{ID: "disconnect", Time: now, Users: []string{user}, Seqs: []herald.Seq{0},
		Payload: payload, Kind: herald.KindDisconnect}
	if err := s.dispatcher.Dispatch(r.Context(), []*herald.Message{order}); err != nil {
		msg := "dispatch unavailable; the revocation holds, retry to close open connections"
		if req.Device != "" {
			msg = "dispatch unavailable, retry"
		}
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "%s", msg))
		return
	}
	httpx.JSON(w, http.StatusOK, res)
}
