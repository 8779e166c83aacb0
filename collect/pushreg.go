package collect

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/webpush"
)

// RegistrationRequest is the body of PUT /v1/users/{user}/devices/{device}/push.
type RegistrationRequest = herald.PushRegistrationRequest

// RegistrationsResponse is the answer of GET /v1/users/{user}/push.
type RegistrationsResponse struct {
	User          string                    `json:"user"`
	Registrations []herald.PushRegistration `json:"registrations"`
}

// VAPIDKeyResponse is the answer of GET /v1/push/vapid-key.
type VAPIDKeyResponse struct {
	PublicKey string `json:"public_key"`
}

func (s *Service) registerPush(mux *http.ServeMux, keys *httpx.Keys) {
	// The public key is for pages (PushManager.subscribe's
	// applicationServerKey), which hold no API key: it needs none.
	mux.Handle("/v1/push/vapid-key", httpx.Method(http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.VAPIDPublicKey == "" {
			httpx.Error(w, r, herald.Errorf(herald.ENotFound, "Web Push is not set up here (--vapid-public-key)"))
			return
		}
		httpx.JSON(w, http.StatusOK, VAPIDKeyResponse{PublicKey: s.cfg.VAPIDPublicKey})
	}))
	mux.Handle("/v1/users/{user}/push", httpx.RequireScope(keys, httpx.ScopeRead, httpx.Method(http.MethodGet, s.handleRegistrations)))
	mux.Handle("/v1/users/{user}/devices/{device}/push", httpx.Methods(map[string]http.Handler{
		http.MethodPut:    httpx.RequireScope(keys, httpx.ScopeSend, http.HandlerFunc(s.handlePutRegistration)),
		http.MethodDelete: httpx.RequireScope(keys, httpx.ScopeSend, http.HandlerFunc(s.handleDeleteRegistration)),
		http.MethodGet:    httpx.RequireScope(keys, httpx.ScopeRead, http.HandlerFunc(s.handleGetRegistration)),
	}))
}

// pathDevice reads {user} and {device}, answering 400 for either invalid.
func pathDevice(w http.ResponseWriter, r *http.Request) (string, string, bool) {
	user, ok := pathUser(w, r)
	if !ok {
		return "", "", false
	}
	device := r.PathValue("device")
	if !herald.ValidID(device) {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "device: not a valid device ID"))
		return "", "", false
	}
	return user, device, true
}

// registrations answers 503 where the store keeps none.
func (s *Service) registrationStore(w http.ResponseWriter, r *http.Request) (herald.PushRegistrations, bool) {
	if s.registrations == nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "this store keeps no push registrations"))
		return nil, false
	}
	return s.registrations, true
}

// handlePutRegistration is PUT /v1/users/{user}/devices/{device}/push: the
// device's registration, replacing the one before. A Web Push endpoint
// must be https on a known push service's host and reach no address that
// is not public (unless --allow-private-networks lets it): it is refused
// here with a 400, not at the first push.
func (s *Service) handlePutRegistration(w http.ResponseWriter, r *http.Request) {
	store, user, device, ok := s.deviceStore(w, r)
	if !ok {
		return
	}
	var req RegistrationRequest
	if err := httpx.Decode(w, r, 48<<10, &req); err != nil { // room for MaxPushTopics topics
		httpx.Error(w, r, err)
		return
	}
	reg := req.For(user, device, time.Now())
	if err := reg.Validate(); err != nil {
		httpx.Error(w, r, err)
		return
	}
	if reg.Provider == herald.ProviderWebPush {
		if err := webpush.CheckEndpoint(r.Context(), reg.Subscription.Endpoint, s.cfg.WebPushHosts, s.egress); err != nil {
			httpx.Error(w, r, err)
			return
		}
	}
	if err := store.PutRegistration(r.Context(), reg); err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable, retry"))
		return
	}
	httpx.JSON(w, http.StatusOK, reg)
}

// deviceStore reads {user} and {device}, and the registrations' store;
// false when it has answered (400, 503).
func (s *Service) deviceStore(w http.ResponseWriter, r *http.Request) (herald.PushRegistrations, string, string, bool) {
	user, device, ok := pathDevice(w, r)
	if !ok {
		return nil, "", "", false
	}
	store, ok := s.registrationStore(w, r)
	return store, user, device, ok
}

func (s *Service) handleGetRegistration(w http.ResponseWriter, r *http.Request) {
	store, user, device, ok := s.deviceStore(w, r)
	if !ok {
		return
	}
	regs, err := store.Registrations(r.Context(), user)
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable, retry"))
		return
	}
	for _, reg := range regs {
		if reg.Device == device {
			httpx.JSON(w, http.StatusOK, reg)
			return
		}
	}
	httpx.Error(w, r, herald.Errorf(herald.ENotFound, "%s's device %s has no push registration", user, device))
}

func (s *Service) handleDeleteRegistration(w http.ResponseWriter, r *http.Request) {
	store, user, device, ok := s.deviceStore(w, r)
	if !ok {
		return
	}
	found, err := store.DeleteRegistration(r.Context(), user, device)
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable, retry"))
		return
	}
	if !found {
		httpx.Error(w, r, herald.Errorf(herald.ENotFound, "%s's device %s has no push registration", user, device))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleRegistrations is GET /v1/users/{user}/push: every device's.
func (s *Service) handleRegistrations(w http.ResponseWriter, r *http.Request) {
	user, ok := pathUser(w, r)
	if !ok {
		return
	}
	store, ok := s.registrationStore(w, r)
	if !ok {
		return
	}
	regs, err := store.Registrations(r.Context(), user)
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "store unavailable, retry"))
		return
	}
	if regs == nil {
		regs = []herald.PushRegistration{}
	}
	httpx.JSON(w, http.StatusOK, RegistrationsResponse{User: user, Registrations: regs})
}

// queuePushes queues the notifications of committed msgs, before their
// 202: a notification accepted is a notification on disk. A retried
// message (Dup) queues again, which the queue takes as a no-op.
func (s *Service) queuePushes(ctx context.Context, msgs []*herald.Message) error {
	var ps []herald.PendingPush
	for _, m := range msgs {
		if m.Notification == nil || m.Push == herald.PushNever {
			continue
		}
		for i, u := range m.Users {
			ps = append(ps, herald.PendingPush{MsgID: m.ID, User: u, Seq: m.Seqs[i], Mode: m.Push,
				Notification: *m.Notification, Due: m.Time.Add(s.cfg.PushAfter), Expires: m.Expires})
		}
	}
	if len(ps) == 0 {
		return nil
	}
	if err := s.queue.QueuePushes(ctx, ps); err != nil {
		slog.Warn("queue pushes failed", "pushes", len(ps), "err", err)
		return herald.Errorf(herald.EUnavailable, "store unavailable, retry (the message is stored; retry with its Idempotency-Key)")
	}
	return nil
}
