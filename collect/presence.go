package collect

import (
	"net/http"
	"strconv"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

// Topic presence: who is subscribed to a topic whose namespace keeps it
// (herald.TopicPresence, written by the push nodes).

// TopicPresenceResponse is the answer of GET /v1/topics/{topic}/presence.
type TopicPresenceResponse struct {
	Topic      string          `json:"topic"`
	Members    []herald.Member `json:"members"`
	NextCursor string          `json:"next_cursor,omitempty"` // absent on the last page
}

// TopicPresenceStats is the answer of GET /v1/topics/{topic}/presence/stats.
type TopicPresenceStats struct {
	Topic string `json:"topic"`
	herald.PresenceStats
}

// Pages of members: 100 by default, at most 1,000.
const (
	defaultPresencePage = 100
	maxPresencePage     = 1000
)

func (s *Service) registerPresence(mux *http.ServeMux, keys *httpx.Keys) {
	mux.Handle("/v1/topics/{topic}/presence", httpx.RequireScope(keys, httpx.ScopeRead, httpx.Method(http.MethodGet, s.handleTopicPresence)))
	mux.Handle("/v1/topics/{topic}/presence/stats", httpx.RequireScope(keys, httpx.ScopeRead, httpx.Method(http.MethodGet, s.handleTopicPresenceStats)))
}

// presenceTopic reads the path's topic and checks that its presence is kept.
func (s *Service) presenceTopic(w http.ResponseWriter, r *http.Request) (string, bool) {
	topic := r.PathValue("topic")
	if !herald.ValidTopic(topic) {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "topic: 1-128 bytes of A-Z a-z 0-9 _ - . @ :"))
		return "", false
	}
	if ns, _ := s.cfg.Namespaces.Of(topic); !ns.Presence {
		httpx.Error(w, r, herald.Errorf(herald.ENotFound, "presence is not kept for %q: its namespace needs presence: true (--namespaces)", topic))
		return "", false
	}
	if s.presence == nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "presence needs the routing store (set --redis-addrs)"))
		return "", false
	}
	return topic, true
}

func (s *Service) handleTopicPresence(w http.ResponseWriter, r *http.Request) {
	topic, ok := s.presenceTopic(w, r)
	if !ok {
		return
	}
	limit := defaultPresencePage
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPresencePage {
			httpx.Error(w, r, herald.Errorf(herald.EInvalid, "limit: 1 to %d", maxPresencePage))
			return
		}
		limit = n
	}
	cursor := r.URL.Query().Get("cursor")
	if len(cursor) > 512 {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "cursor: the next_cursor of the page before, as it came"))
		return
	}
	ms, next, err := s.presence.Members(r.Context(), topic, cursor, limit)
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "routing store unavailable"))
		return
	}
	if ms == nil {
		ms = []herald.Member{}
	}
	httpx.JSON(w, http.StatusOK, TopicPresenceResponse{Topic: topic, Members: ms, NextCursor: next})
}

func (s *Service) handleTopicPresenceStats(w http.ResponseWriter, r *http.Request) {
	topic, ok := s.presenceTopic(w, r)
	if !ok {
		return
	}
	st, err := s.presence.Stats(r.Context(), topic)
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "routing store unavailable"))
		return
	}
	httpx.JSON(w, http.StatusOK, TopicPresenceStats{Topic: topic, PresenceStats: st})
}
