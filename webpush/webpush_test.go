package webpush

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/internal/testenv/webpushsvc"
)

func TestSendIsWhatABrowserDecrypts(t *testing.T) {
	ps, srv := webpushsvc.Start(t, "mailto:ops@example.com")
	sub := ps.Subscribe(srv, "/push/abc")
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSender(keys, "mailto:ops@example.com", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, payload := range [][]byte{[]byte(`{"title":"Hi","body":"from Herald"}`), bytes.Repeat([]byte("x"), MaxPayload)} {
		r, err := s.Send(ctx, sub, Message{Payload: payload, TTL: time.Hour, Urgency: "high", Topic: "score"})
		if err != nil || r.Status != http.StatusCreated || r.Gone {
			t.Fatalf("send %d bytes: %+v %v", len(payload), r, err)
		}
		if got := <-ps.Got; !bytes.Equal(got.Payload, payload) || got.TTL != "3600" || got.Urgency != "high" || got.Topic != "score" {
			t.Fatalf("the browser got %q (TTL %s, Urgency %s, Topic %s)", got.Payload, got.TTL, got.Urgency, got.Topic)
		}
	}
	if _, err := s.Send(ctx, sub, Message{Payload: bytes.Repeat([]byte("x"), MaxPayload+1)}); err == nil {
		t.Fatal("a payload over one record was sent")
	}

	ps.Answer(http.StatusGone, nil)
	if r, err := s.Send(ctx, sub, Message{Payload: []byte("x")}); err != nil || !r.Gone {
		t.Fatalf("410: %+v %v", r, err)
	}
	<-ps.Got
	ps.Answer(http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}})
	if r, err := s.Send(ctx, sub, Message{Payload: []byte("x")}); err != nil || r.Gone || r.RetryAfter != 7*time.Second {
		t.Fatalf("429: %+v %v", r, err)
	}
	<-ps.Got
}

func TestKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vapid.json")
	k, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreate(path)
	if err != nil || again != k {
		t.Fatalf("read back: %+v %v", again, err)
	}
	other, _ := GenerateKeys()
	if err := (Keys{Public: other.Public, Private: k.Private}).Check(); err == nil {
		t.Fatal("a mismatched pair passed")
	}
	for _, subject := range []string{"ops@example.com", "mailto:nobody", "http://example.com", "https://"} {
		if _, err := NewSender(k, subject, http.DefaultClient); err == nil {
			t.Errorf("subject %q taken", subject)
		}
	}
	if _, err := NewSender(k, "https://example.com/contact", http.DefaultClient); err != nil {
		t.Fatal(err)
	}
	if d := httpx.RetryAfter(time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat), time.Now()); d < 80*time.Second || d > 91*time.Second {
		t.Fatalf("Retry-After as a date: %v", d)
	}

}
