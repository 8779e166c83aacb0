package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/internal/lane"
)

// SendRequest is the body of POST /v1/messages.
type SendRequest struct {
	Users   []string        `json:"users"`
	Payload json.RawMessage `json:"payload"`
	Topic   string          `json:"topic,omitempty"`
	// Notification is pushed to each recipient's registered devices that
	// did not get the message (Push: if_not_acked, the default), to all of
	// them (always), or not at all (never).
	Notification *herald.Notification `json:"notification,omitempty"`
	Push         string               `json:"push,omitempty"`
	Lifecycle
}

// Lifecycle are a send request's fields that decide how long the message
// lives and what supersedes it (herald/lifecycle.go).
type Lifecycle struct {
	// TTLSeconds or ExpiresAt (Unix ms): when the message expires; one of
	// them at most.
	TTLSeconds  int64  `json:"ttl_seconds,omitempty"`
	ExpiresAt   int64  `json:"expires_at,omitempty"`
	CollapseKey string `json:"collapse_key,omitempty"`
	// DeliverAt (Unix ms) schedules the message: stored now, delivered
	// then, within --schedule-horizon. Not after now: delivered now.
	DeliverAt int64 `json:"deliver_at,omitempty"`
}

// BatchRequest is the body of POST /v1/messages/batch.
type BatchRequest struct {
	Messages []SendRequest `json:"messages"`
}

// BatchResponse is the 202 answer of POST /v1/messages/batch: the IDs in request order.
type BatchResponse struct {
	IDs []string `json:"ids"`
}

// SendResponse is the 202 answer of POST /v1/messages.
type SendResponse struct {
	ID        string `json:"id"`
	DeliverAt int64  `json:"deliver_at,omitempty"` // a scheduled message's, Unix ms
}

// AppendJSON implements httpx.Appender: {"id":"..."}, the answer to every
// send (and "deliver_at" for a scheduled one).
func (r SendResponse) AppendJSON(b []byte) []byte {
	b = herald.AppendJSONString(append(b, `{"id":`...), r.ID)
	if r.DeliverAt != 0 {
		b = strconv.AppendInt(append(b, `,"deliver_at":`...), r.DeliverAt, 10)
	}
	return append(b, '}')
}

// unixMilli is t in Unix ms, 0 for the zero time.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// StoredMessage is one message in GET /v1/users/{user}/messages.
type StoredMessage struct {
	ID          string          `json:"id"`
	Seq         herald.Seq      `json:"seq"`
	TS          int64           `json:"ts"`
	Topic       string          `json:"topic,omitempty"`
	Payload     json.RawMessage `json:"payload"`
	ExpiresAt   int64           `json:"expires_at,omitempty"` // Unix ms
	CollapseKey string          `json:"collapse_key,omitempty"`
}

// MessagesResponse is the answer of GET /v1/users/{user}/messages.
type MessagesResponse struct {
	User     string          `json:"user"`
	Messages []StoredMessage `json:"messages"`
	LastSeq  herald.Seq      `json:"last_seq"`
	Epoch    string          `json:"epoch,omitempty"` // the stream's (herald.StreamPos)
	// NextSince is the since of the next page: the last seq this page
	// read, shown or not (an expired or superseded message is not).
	NextSince herald.Seq `json:"next_since"`
}

// PresenceResponse is the answer of GET /v1/users/{user}/presence.
type PresenceResponse struct {
	User        string            `json:"user"`
	Online      bool              `json:"online"`
	Connections []herald.Presence `json:"connections"`
}

// Register adds the collect endpoints to mux, all behind the API key.
func (s *Service) Register(mux *http.ServeMux, keys *httpx.Keys) {
	mux.Handle("/v1/messages", httpx.RequireScope(keys, httpx.ScopeSend, httpx.Method(http.MethodPost, s.handleSend)))
	// GET reads the message's receipts (scope read), DELETE recalls it (send).
	mux.Handle("/v1/messages/{id}", httpx.Methods(map[string]http.Handler{
		http.MethodGet:    httpx.RequireScope(keys, httpx.ScopeRead, http.HandlerFunc(s.handleMessageStatus)),
		http.MethodDelete: httpx.RequireScope(keys, httpx.ScopeSend, http.HandlerFunc(s.handleRecall)),
	}))
	mux.Handle("/v1/messages/batch", httpx.RequireScope(keys, httpx.ScopeSend, httpx.Method(http.MethodPost, s.handleBatch)))
	mux.Handle("/v1/users/{user}/messages", httpx.RequireScope(keys, httpx.ScopeRead, httpx.Method(http.MethodGet, s.handleMessages)))
	mux.Handle("/v1/users/{user}/presence", httpx.RequireScope(keys, httpx.ScopeRead, httpx.Method(http.MethodGet, s.handlePresence)))
	mux.Handle("/v1/users/{user}/disconnect", httpx.RequireScope(keys, httpx.ScopeAdmin, httpx.Method(http.MethodPost, s.handleDisconnect)))
	s.registerTopics(mux, keys)
	s.registerPush(mux, keys)
}

// LaneRoutes are the endpoints that the lane (internal/lane) serves without
// net/http when a request is plain: the two a business system sends through,
// many times a second. The key is checked from the head, before the body is
// read (a client without one holds no body buffer), and then the handler
// runs without checking it again.
func (s *Service) LaneRoutes(keys *httpx.Keys) []lane.Route {
	admit := func(w http.ResponseWriter, r *http.Request) bool { return httpx.Admit(keys, httpx.ScopeSend, w, r) }
	return []lane.Route{
		{Method: http.MethodPost, Path: "/v1/messages", Admit: admit, Handler: http.HandlerFunc(s.handleSend)},
		{Method: http.MethodPost, Path: "/v1/messages/batch", Admit: admit, Handler: http.HandlerFunc(s.handleBatch)},
	}
}

// Validate checks a send request and turns it into a message. It is exported
// so the batch API and the tests share one set of rules.
func (s *Service) Validate(req *SendRequest, now time.Time) (*herald.Message, error) {
	if len(req.Users) == 0 {
		return nil, herald.Errorf(herald.EInvalid, "users: at least one user is required")
	}
	if len(req.Users) > s.cfg.MaxUsers {
		return nil, herald.Errorf(herald.EInvalid, "users: at most %d users per message", s.cfg.MaxUsers)
	}
	seen := make(map[string]struct{}, len(req.Users))
	users := make([]string, 0, len(req.Users))
	for i, u := range req.Users {
		if !herald.ValidID(u) {
			return nil, herald.Errorf(herald.EInvalid, "users[%d]: a user ID is 1-128 bytes of A-Z a-z 0-9 _ - . @ :", i)
		}
		if _, dup := seen[u]; dup {
			continue // one copy per user, however often it is named
		}
		seen[u] = struct{}{}
		users = append(users, u)
	}
	m, err := s.newMessage(req.Payload, now)
	if err != nil {
		return nil, err
	}
	if req.Topic != "" && !herald.ValidID(req.Topic) {
		return nil, herald.Errorf(herald.EInvalid, "topic: 1-128 bytes of A-Z a-z 0-9 _ - . @ :")
	}
	m.Topic, m.Users = req.Topic, users
	if err := s.validateLifecycle(req.Lifecycle, m); err != nil {
		return nil, err
	}
	if err := s.validatePush(req.Notification, req.Push, m); err != nil {
		return nil, err
	}
	return m, nil
}

// validateLifecycle checks a request's expiry and collapse key onto m
// (m.Time set): an expiry after now, and no later than retention keeps the
// message anyway.
func (s *Service) validateLifecycle(l Lifecycle, m *herald.Message) error {
	base := m.Time // what ttl_seconds counts from: the delivery
	if l.DeliverAt != 0 {
		at := time.UnixMilli(l.DeliverAt)
		switch {
		case s.schedule == nil:
			return herald.Errorf(herald.EInvalid, "deliver_at: this deployment's store keeps no schedule")
		case l.DeliverAt < 0:
			return herald.Errorf(herald.EInvalid, "deliver_at: a time, Unix ms")
		case at.After(m.Time.Add(s.cfg.ScheduleHorizon)):
			return herald.Errorf(herald.EInvalid, "deliver_at: within --schedule-horizon (%v) of now", s.cfg.ScheduleHorizon)
		case at.After(m.Time):
			m.DeliverAt, base = at, at
		}
	}
	switch {
	case l.TTLSeconds != 0 && l.ExpiresAt != 0:
		return herald.Errorf(herald.EInvalid, "ttl_seconds and expires_at: one or the other")
	case l.TTLSeconds < 0:
		return herald.Errorf(herald.EInvalid, "ttl_seconds: 1 or more")
	case l.TTLSeconds > 0:
		if s.cfg.Retention > 0 && l.TTLSeconds > int64(s.cfg.Retention/time.Second) {
			return herald.Errorf(herald.EInvalid, "ttl_seconds: at most %d (--retention removes the message then anyway)", int64(s.cfg.Retention/time.Second))
		}
		m.Expires = base.Add(time.Duration(l.TTLSeconds) * time.Second)
	case l.ExpiresAt != 0:
		at := time.UnixMilli(l.ExpiresAt)
		if !at.After(base) {
			return herald.Errorf(herald.EInvalid, "expires_at: a time (Unix ms) after now, and after deliver_at")
		}
		if s.cfg.Retention > 0 && at.After(base.Add(s.cfg.Retention)) {
			return herald.Errorf(herald.EInvalid, "expires_at: within --retention (%v) of now; the message is removed then anyway", s.cfg.Retention)
		}
		m.Expires = at
	}
	if l.CollapseKey != "" {
		if !herald.ValidID(l.CollapseKey) || len(l.CollapseKey) > herald.MaxCollapseKey {
			return herald.Errorf(herald.EInvalid, "collapse_key: 1-%d bytes of A-Z a-z 0-9 _ - . @ :", herald.MaxCollapseKey)
		}
		m.CollapseKey = l.CollapseKey
	}
	return nil
}

// validatePush checks a request's notification and push mode onto m. A
// message to a topic (or the broadcasts; m.Users is its key) is not
// acked: it is pushed if_offline by default, and if_not_acked is refused.
func (s *Service) validatePush(notification *herald.Notification, mode string, m *herald.Message) error {
	_, topic := herald.IsTopicKey(m.Users[0])
	switch {
	case notification == nil && mode != "" && mode != herald.PushNever:
		return herald.Errorf(herald.EInvalid, "push: %q needs a notification", mode)
	case notification == nil:
		return nil
	case s.queue == nil:
		return herald.Errorf(herald.EInvalid, "notification: this deployment's store keeps no push queue")
	case topic && mode == herald.PushIfNotAcked:
		return herald.Errorf(herald.EInvalid, "push: topic messages and broadcasts are not acked: if_offline (the default), always or never")
	case topic && mode == "":
		mode = herald.PushIfOffline
	}
	n := *notification
	if n.CollapseKey == "" {
		n.CollapseKey = m.CollapseKey // a push supersedes as its message does
	}
	if err := n.Validate(&mode); err != nil {
		return err
	}
	m.Notification, m.Push = &n, mode
	return nil
}

// newMessage checks a payload and makes a message of it, with its ID and
// time; the caller sets the recipients.
func (s *Service) newMessage(payload json.RawMessage, now time.Time) (*herald.Message, error) {
	p := bytes.TrimSpace(payload)
	if len(p) == 0 || bytes.Equal(p, []byte("null")) {
		return nil, herald.Errorf(herald.EInvalid, "payload: required (any JSON value but null)")
	}
	if int64(len(p)) > s.cfg.MaxPayload {
		return nil, herald.Errorf(herald.ETooLarge, "payload: %d bytes is over the limit of %d", len(p), s.cfg.MaxPayload)
	}
	// Compact drops insignificant white space; the value is otherwise kept as sent.
	buf := bytes.NewBuffer(make([]byte, 0, len(p))) // compact is never longer
	if err := json.Compact(buf, p); err != nil {
		return nil, herald.Errorf(herald.EInvalid, "payload: %v", err)
	}
	now = now.Truncate(time.Millisecond)
	return &herald.Message{ID: newID(now), NewID: true, Time: now, Payload: buf.Bytes()}, nil
}

// bodyLimit is the largest request body: the payload plus the users list.
func (s *Service) bodyLimit() int64 {
	return s.cfg.MaxPayload + int64(s.cfg.MaxUsers)*(herald.MaxIDLen+8) + 4096
}

func (s *Service) handleSend(w http.ResponseWriter, r *http.Request) {
	var req SendRequest
	if err := httpx.Decode(w, r, s.bodyLimit(), &req); err != nil {
		s.reject(w, r, err)
		return
	}
	m, err := s.Validate(&req, time.Now())
	if err != nil {
		s.reject(w, r, err)
		return
	}
	if s.submitOne(w, r, m) {
		httpx.JSON(w, http.StatusAccepted, SendResponse{ID: m.ID, DeliverAt: unixMilli(m.DeliverAt)})
	}
}

// submitOne stores one message, with the request's Idempotency-Key (when it
// has one) as its ID, and reports whether it did; when not, it has answered
// with the error.
func (s *Service) submitOne(w http.ResponseWriter, r *http.Request, m *herald.Message) bool {
	if key, ok, err := idempotencyKey(r); err != nil {
		s.reject(w, r, err)
		return false
	} else if ok {
		m.ID, m.NewID = idempotentID(key), false
	}
	if err := s.Submit(r.Context(), []*herald.Message{m}); err != nil {
		s.reject(w, r, err)
		return false
	}
	if m.Dup {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	return true
}

// handleBatch takes many messages in one request: validated all or nothing
// (a 400 names the first bad item), stored in one durable write, answered
// with their IDs in request order.
func (s *Service) handleBatch(w http.ResponseWriter, r *http.Request) {
	var req BatchRequest
	if err := httpx.Decode(w, r, s.cfg.MaxBatchBytes, &req); err != nil {
		s.reject(w, r, err)
		return
	}
	if len(req.Messages) == 0 || len(req.Messages) > s.cfg.MaxBatchAPI {
		s.reject(w, r, herald.Errorf(herald.EInvalid, "messages: 1 to %d messages per batch", s.cfg.MaxBatchAPI))
		return
	}
	key, keyed, err := idempotencyKey(r)
	if err != nil {
		s.reject(w, r, err)
		return
	}
	now := time.Now()
	msgs := make([]*herald.Message, len(req.Messages))
	for i := range req.Messages {
		m, err := s.Validate(&req.Messages[i], now)
		if err != nil {
			var e *herald.Error
			errors.As(err, &e)
			s.reject(w, r, herald.Errorf(e.Code, "messages[%d]: %s", i, e.Message))
			return
		}
		if keyed {
			// One key names the batch; each message's ID comes from the key
			// and its place in it, so a retried batch maps onto the first.
			m.ID, m.NewID = idempotentID(key+"\x00"+strconv.Itoa(i)), false
		}
		msgs[i] = m
	}
	if err := s.Submit(r.Context(), msgs); err != nil {
		s.reject(w, r, err)
		return
	}
	out := BatchResponse{IDs: make([]string, len(msgs))}
	replayed := keyed
	for i, m := range msgs {
		out.IDs[i] = m.ID
		replayed = replayed && m.Dup
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	httpx.JSON(w, http.StatusAccepted, out)
}

func (s *Service) reject(w http.ResponseWriter, r *http.Request, err error) {
	code := herald.ErrorCode(err)
	if code == herald.EInternal {
		// Anything unexpected on the write path means the message was not
		// stored: say so as 503, so the sender retries.
		err = herald.Errorf(herald.EUnavailable, "message not stored, retry later")
		code = herald.EUnavailable
	}
	s.m.rejected.WithLabelValues(code).Inc()
	httpx.Error(w, r, err)
}

// pathUser returns the {user} of the path, answering 400 when it is not valid.
func pathUser(w http.ResponseWriter, r *http.Request) (string, bool) {
	user := r.PathValue("user")
	if !herald.ValidID(user) {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "user: not a valid user ID"))
		return "", false
	}
	return user, true
}

func (s *Service) handleMessages(w http.ResponseWriter, r *http.Request) {
	user, ok := pathUser(w, r)
	if !ok {
		return
	}
	h, ok := s.history(w, r, user)
	if !ok {
		return
	}
	httpx.JSON(w, http.StatusOK, MessagesResponse{User: user, Messages: h.messages, LastSeq: h.last.Seq, Epoch: h.last.Epoch, NextSince: h.next})
}

// historyPage is a page of a stream's history.
type historyPage struct {
	messages []StoredMessage
	last     herald.StreamPos // the stream's newest
	next     herald.Seq       // the since of the next page
}

// history reads a page of key's stored messages (a user's, or a topic's)
// after ?since=, at most ?limit= read, and the newest seq; false when it
// has already answered with an error. Expired messages are left out, and
// with ?collapsed=true those a newer one with their collapse key
// supersedes (what a device resuming gets).
func (s *Service) history(w http.ResponseWriter, r *http.Request, key string) (historyPage, bool) {
	q := r.URL.Query()
	since, err := parseUint(q.Get("since"), 0)
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "since: %v", err))
		return historyPage{}, false
	}
	limit, err := parseUint(q.Get("limit"), 100)
	if err != nil || limit < 1 || limit > 1000 {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "limit: a number from 1 to 1000"))
		return historyPage{}, false
	}
	var collapsed bool
	switch q.Get("collapsed") {
	case "", "false":
	case "true":
		collapsed = true
	default:
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "collapsed: true or false"))
		return historyPage{}, false
	}
	ds, err := s.store.Messages(r.Context(), key, since, int(limit))
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable"))
		return historyPage{}, false
	}
	var newest map[string]herald.Seq
	if s.collapse != nil && collapsed {
		if keys := herald.CollapseKeys(ds); keys != nil {
			if newest, err = s.collapse.NewestByKey(r.Context(), key, keys); err != nil {
				httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable"))
				return historyPage{}, false
			}
		}
	}
	h := historyPage{messages: make([]StoredMessage, 0, len(ds)), next: since}
	if h.last, err = s.store.LastSeq(r.Context(), key); err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable"))
		return historyPage{}, false
	}
	now := time.Now()
	for _, d := range ds {
		h.next = d.Seq
		if d.Expired(now) || d.Superseded(newest) {
			continue
		}
		h.messages = append(h.messages, storedMessage(d))
	}
	return h, true
}

// storedMessage is a delivery as the history API shows it.
func storedMessage(d herald.Delivery) StoredMessage {
	m := StoredMessage{ID: d.ID, Seq: d.Seq, TS: d.Time.UnixMilli(), Topic: d.Topic, Payload: d.Payload, CollapseKey: d.CollapseKey}
	if !d.Expires.IsZero() {
		m.ExpiresAt = d.Expires.UnixMilli()
	}
	return m
}

func (s *Service) handlePresence(w http.ResponseWriter, r *http.Request) {
	user, ok := pathUser(w, r)
	if !ok {
		return
	}
	if s.directory == nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "presence needs the routing store (set --redis-addrs)"))
		return
	}
	ps, err := s.directory.Presence(r.Context(), user)
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "routing store unavailable"))
		return
	}
	if ps == nil {
		ps = []herald.Presence{}
	}
	httpx.JSON(w, http.StatusOK, PresenceResponse{User: user, Online: len(ps) > 0, Connections: ps})
}

func parseUint(s string, def uint64) (uint64, error) {
	if s == "" {
		return def, nil
	}
	return strconv.ParseUint(s, 10, 64)
}
