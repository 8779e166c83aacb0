package collect

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

// FuzzSendRequest: whatever the body, decoding and validation never crash,
// and whatever they accept keeps the rules (valid, distinct users; a JSON
// payload within the limit).
func FuzzSendRequest(f *testing.F) {
	for _, s := range []string{`{"users":["a"],"payload":1}`, `{"users":["a","a","b"],"payload":{"x":[1,2]},"topic":"t"}`,
		`{"users":[],"payload":1}`, `{"users":["a b"],"payload":1}`, `{"users":["a"],"payload":null}`,
		`{"users":"a"}`, `{"users":["a"],"payload":1,"extra":1}`, `{"users":["a"],"payload":"\ud800"}`, `{`} {
		f.Add([]byte(s))
	}
	cfg := DefaultConfig()
	cfg.MaxPayload = 256
	s := New(cfg, Deps{Registry: prometheus.NewRegistry()})
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/v1/messages", bytes.NewReader(body))
		var req SendRequest
		if err := httpx.Decode(httptest.NewRecorder(), r, s.bodyLimit(), &req); err != nil {
			if httpx.Status(err) < 400 || httpx.Status(err) >= 500 {
				t.Fatalf("decode error maps to %d", httpx.Status(err))
			}
			return
		}
		m, err := s.Validate(&req, time.Now())
		if err != nil {
			if st := httpx.Status(err); st != http.StatusBadRequest && st != http.StatusRequestEntityTooLarge {
				t.Fatalf("validation error maps to %d: %v", st, err)
			}
			return
		}
		seen := map[string]bool{}
		for _, u := range m.Users {
			if !herald.ValidID(u) || seen[u] {
				t.Fatalf("accepted user %q (users %v)", u, m.Users)
			}
			seen[u] = true
		}
		if len(m.Users) == 0 || !json.Valid(m.Payload) || int64(len(m.Payload)) > cfg.MaxPayload {
			t.Fatalf("accepted message %+v", m)
		}
	})
}
