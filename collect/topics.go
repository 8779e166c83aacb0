package collect

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

// Topic messages and broadcasts are stored once, under the topic's key
// (herald.TopicKey), with the topic's own seq: not once per subscriber. The
// write, the group commit and the path to the push nodes are those of a
// message to one user; the push nodes fan out to their subscribers.

// TopicSendRequest is the body of POST /v1/topics/{topic}/messages and
// POST /v1/broadcast.
type TopicSendRequest struct {
	Payload json.RawMessage `json:"payload"`
	// Notification is pushed to the registered devices whose registration
	// lists the topic (every registered device for a broadcast) and that
	// have no connection when it is due (Push: if_offline, the default),
	// to all of them (always), or not at all (never).
	Notification *herald.Notification `json:"notification,omitempty"`
	Push         string               `json:"push,omitempty"`
	Lifecycle
}

// TopicSendResponse is their 202 answer: the message's ID and its seq in
// the topic (in the broadcast stream for a broadcast).
type TopicSendResponse struct {
	ID    string     `json:"id"`
	Topic string     `json:"topic"`
	Seq   herald.Seq `json:"seq,omitempty"` // none yet for a scheduled message
	// DeliverAt is a scheduled message's (Unix ms); it gets its seq then.
	DeliverAt int64 `json:"deliver_at,omitempty"`
}

// TopicMessagesResponse is the answer of GET /v1/topics/{topic}/messages.
type TopicMessagesResponse struct {
	Topic    string          `json:"topic"`
	Messages []StoredMessage `json:"messages"`
	LastSeq  herald.Seq      `json:"last_seq"`
	Epoch    string          `json:"epoch,omitempty"` // the stream's (herald.StreamPos)
	// NextSince is the since of the next page (MessagesResponse's).
	NextSince herald.Seq `json:"next_since"`
}

func (s *Service) registerTopics(mux *http.ServeMux, keys *httpx.Keys) {
	// One path, two scopes: sending needs send, reading the history read.
	mux.Handle("/v1/topics/{topic}/messages", httpx.Methods(map[string]http.Handler{
		http.MethodPost: httpx.RequireScope(keys, httpx.ScopeSend, http.HandlerFunc(s.handleTopicSend)),
		http.MethodGet:  httpx.RequireScope(keys, httpx.ScopeRead, http.HandlerFunc(s.handleTopicMessages)),
	}))
	mux.Handle("/v1/topics/{topic}/last", httpx.RequireScope(keys, httpx.ScopeRead, httpx.Method(http.MethodGet, s.handleTopicLast)))
	mux.Handle("/v1/broadcast", httpx.RequireScope(keys, httpx.ScopeSend, httpx.Method(http.MethodPost, s.handleBroadcast)))
	s.registerPresence(mux, keys)
}

func (s *Service) handleTopicSend(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if !herald.ValidTopic(topic) {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "topic: 1-128 bytes of A-Z a-z 0-9 _ - . @ :"))
		return
	}
	s.sendTo(w, r, topic, herald.TopicKey(topic))
}

func (s *Service) handleBroadcast(w http.ResponseWriter, r *http.Request) {
	s.sendTo(w, r, herald.Broadcast, herald.BroadcastKey)
}

// sendTo stores one message under key (a topic's or the broadcast's) and
// answers with its ID and seq.
func (s *Service) sendTo(w http.ResponseWriter, r *http.Request, topic, key string) {
	var req TopicSendRequest
	if err := httpx.Decode(w, r, s.bodyLimit(), &req); err != nil {
		s.reject(w, r, err)
		return
	}
	m, err := s.newMessage(req.Payload, time.Now())
	if err != nil {
		s.reject(w, r, err)
		return
	}
	m.Users, m.Topic = []string{key}, topic
	if err := s.validateLifecycle(req.Lifecycle, m); err != nil {
		s.reject(w, r, err)
		return
	}
	if err := s.validatePush(req.Notification, req.Push, m); err != nil {
		s.reject(w, r, err)
		return
	}
	if s.submitOne(w, r, m) {
		out := TopicSendResponse{ID: m.ID, Topic: topic, DeliverAt: unixMilli(m.DeliverAt)}
		if len(m.Seqs) > 0 {
			out.Seq = m.Seqs[0]
		}
		httpx.JSON(w, http.StatusAccepted, out)
	}
}

func (s *Service) handleTopicMessages(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if topic != herald.Broadcast && !herald.ValidTopic(topic) {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "topic: 1-128 bytes of A-Z a-z 0-9 _ - . @ :, or * for the broadcasts"))
		return
	}
	h, ok := s.history(w, r, herald.TopicKey(topic))
	if !ok {
		return
	}
	out := TopicMessagesResponse{Topic: topic, Messages: h.messages, LastSeq: h.last.Seq, Epoch: h.last.Epoch, NextSince: h.next}
	httpx.JSON(w, http.StatusOK, out)
}

// TopicLastResponse is the answer of GET /v1/topics/{topic}/last.
type TopicLastResponse struct {
	Topic   string        `json:"topic"`
	Message StoredMessage `json:"message"`
	LastSeq herald.Seq    `json:"last_seq"`
}

// handleTopicLast answers a last_value namespace's topic's newest message
// that has not expired.
func (s *Service) handleTopicLast(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if !herald.ValidTopic(topic) {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "topic: 1-128 bytes of A-Z a-z 0-9 _ - . @ :"))
		return
	}
	if ns, _ := s.cfg.Namespaces.Of(topic); !ns.LastValue {
		httpx.Error(w, r, herald.Errorf(herald.ENotFound, "%s is in no namespace with last_value (--namespaces, the push nodes' value)", topic))
		return
	}
	key := herald.TopicKey(topic)
	last, err := s.store.LastSeq(r.Context(), key)
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable"))
		return
	}
	d, err := herald.LastValue(r.Context(), s.store, key, last.Seq, time.Now())
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable"))
		return
	}
	if d == nil {
		httpx.Error(w, r, herald.Errorf(herald.ENotFound, "%s has no message (or only expired ones)", topic))
		return
	}
	httpx.JSON(w, http.StatusOK, TopicLastResponse{Topic: topic, Message: storedMessage(*d), LastSeq: last.Seq})
}
