package collect

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

// Recall: DELETE /v1/messages/{id}. A scheduled message is taken off the
// schedule (it never goes out). A stored one is marked recalled, so that
// no replay, history or push gives it to anyone from then on; its pending
// pushes are dropped; and the push nodes tell the connections that asked
// (?recall=true) with a recall frame. A device that had it already keeps
// it: a recall cannot reach into a phone.

// RecallResponse is the answer of DELETE /v1/messages/{id}.
type RecallResponse struct {
	ID string `json:"id"`
	// Status is cancelled (it was scheduled, and will not go out) or
	// recalled.
	Status     string `json:"status"`
	RecalledAt int64  `json:"recalled_at,omitempty"` // Unix ms, the first recall's
}

func (s *Service) handleRecall(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx := r.Context()
	if s.schedule != nil {
		ok, err := s.schedule.CancelScheduled(ctx, id)
		if err != nil {
			httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable, retry"))
			return
		}
		if ok {
			httpx.JSON(w, http.StatusOK, RecallResponse{ID: id, Status: "cancelled"})
			return
		}
	}
	if s.recalls == nil {
		httpx.Error(w, r, herald.Errorf(herald.ENotFound, "this store cannot recall messages"))
		return
	}
	m, err := s.recalls.Recall(ctx, id, time.Now())
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable, retry"))
		return
	}
	if m == nil {
		httpx.Error(w, r, herald.Errorf(herald.ENotFound, "no message %s (never sent, removed by retention, or already delivered from the schedule and gone)", id))
		return
	}
	if s.queue != nil {
		if err := s.queue.CancelPushes(ctx, id); err != nil {
			httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable, retry (the message is recalled; its pushes may still go)"))
			return
		}
	}
	s.tellRecall(ctx, m)
	httpx.JSON(w, http.StatusOK, RecallResponse{ID: id, Status: "recalled", RecalledAt: m.Recalled.UnixMilli()})
}

// tellRecall sends the recall order to the push nodes of m's recipients.
// The recall stands whether they hear of it or not: it is in the store,
// which every replay reads; a node that misses the order only leaves its
// connected devices untold.
func (s *Service) tellRecall(ctx context.Context, m *herald.Message) {
	order := &herald.Message{ID: m.ID, Time: m.Time, Topic: m.Topic, Users: m.Users, Seqs: m.Seqs, Payload: []byte("null"), Kind: herald.KindRecall}
	if err := s.dispatcher.Dispatch(ctx, []*herald.Message{order}); err != nil {
		slog.Warn("recall order not dispatched; connected devices are not told (replays pass the message over)", "id", m.ID, "err", err)
	}
}
