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
}

// DisconnectResponse is its answer.
type DisconnectResponse struct {
	User      string `json:"user"`
	RevokedAt int64  `json:"revoked_at"` // Unix ms: tokens issued up to this second open no connection
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
	if s.revocations == nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "disconnect needs the routing store (set --redis-addrs)"))
		return
	}
	now := time.Now()
	if err := s.revocations.Revoke(r.Context(), user, now, s.cfg.RevokeTTL); err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "routing store unavailable, retry"))
		return
	}
	reason := req.Reason
	if reason == "" {
		reason = "disconnected by the application"
	}
	payload, _ := json.Marshal(reason)
	order := &herald.Message{ID: "disconnect", Time: now, Users: []string{user}, Seqs: []herald.Seq{0},
		Payload: payload, Kind: herald.KindDisconnect}
	if err := s.dispatcher.Dispatch(r.Context(), []*herald.Message{order}); err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "dispatch unavailable; the revocation holds, retry to close open connections"))
		return
	}
	httpx.JSON(w, http.StatusOK, DisconnectResponse{User: user, RevokedAt: now.UnixMilli()})
}
