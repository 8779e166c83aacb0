package collect

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

func TestTopicAndBroadcastSend(t *testing.T) {
	s, _, _ := newService(t)
	mux := http.NewServeMux()
	s.Register(mux, httpx.SingleKey("k"))
	do := func(method, path, body string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	for i, want := range []herald.Seq{1, 2} {
		rec := do("POST", "/v1/topics/news/messages", `{"payload":{"n":`+string(rune('1'+i))+`}}`)
		var out TopicSendResponse
		json.Unmarshal(rec.Body.Bytes(), &out)
		if rec.Code != 202 || out.Seq != want || out.Topic != "news" || out.ID == "" {
			t.Fatalf("topic send %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	// Stored once, under the topic, not under any user.
	got, _ := s.store.Messages(context.Background(), herald.TopicKey("news"), 0, 10)
	if len(got) != 2 || got[1].Seq != 2 || got[0].Topic != "news" || string(got[1].Payload) != `{"n":2}` {
		t.Fatalf("stored: %v", got)
	}
	rec := do("POST", "/v1/broadcast", `{"payload":"all"}`, "Idempotency-Key", "b-1")
	var b TopicSendResponse
	json.Unmarshal(rec.Body.Bytes(), &b)
	if rec.Code != 202 || b.Seq != 1 || b.Topic != herald.Broadcast {
		t.Fatalf("broadcast: %d %s", rec.Code, rec.Body)
	}
	// A retry with the same key is the same message, not a second one.
	rec = do("POST", "/v1/broadcast", `{"payload":"all"}`, "Idempotency-Key", "b-1")
	var again TopicSendResponse
	json.Unmarshal(rec.Body.Bytes(), &again)
	if rec.Code != 202 || again != b || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("broadcast retry: %d %s", rec.Code, rec.Body)
	}
	// A notification where the store keeps no push queue is refused, saying why.
	for _, path := range []string{"/v1/topics/news/messages", "/v1/broadcast"} {
		rec = do("POST", path, `{"payload":1,"notification":{"title":"x"}}`)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), "no push queue") {
			t.Fatalf("%s with a notification: %d %s", path, rec.Code, rec.Body)
		}
	}
	// History, of a topic and of the broadcasts.
	rec = do("GET", "/v1/topics/news/messages?since=1", "")
	var h TopicMessagesResponse
	json.Unmarshal(rec.Body.Bytes(), &h)
	if rec.Code != 200 || h.LastSeq != 2 || len(h.Messages) != 1 || h.Messages[0].Seq != 2 {
		t.Fatalf("history: %d %s", rec.Code, rec.Body)
	}
	if rec = do("GET", "/v1/topics/*/messages", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"all"`) {
		t.Fatalf("broadcast history: %d %s", rec.Code, rec.Body)
	}
	for _, c := range []struct {
		method, path, body string
		code               int
	}{
		{"POST", "/v1/topics/bad%20topic/messages", `{"payload":1}`, 400},
		{"POST", "/v1/topics/*/messages", `{"payload":1}`, 400}, // broadcasts go through /v1/broadcast
		{"POST", "/v1/topics/news/messages", `{}`, 400},
		{"POST", "/v1/topics/news/messages", `{"payload":1,"users":["a"]}`, 400},
		{"POST", "/v1/broadcast", `{"payload":"` + strings.Repeat("x", 200) + `"}`, 413},
		{"PUT", "/v1/topics/news/messages", `{"payload":1}`, 405},
		{"GET", "/v1/broadcast", ``, 405},
	} {
		if rec := do(c.method, c.path, c.body); rec.Code != c.code || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, rec.Code, rec.Body, c.code)
		}
	}
}
