package push

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv/probe"
	"github.com/heraldpush/herald/internal/testenv/webpushsvc"
)

// A client registers its own device's push address: checked as the API
// checks it, for its user and device, its topics only those its token
// allows; answered push_registered, push_unregistered or push_refused,
// the connection staying.
func TestClientPushRegistration(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.WebPushHosts = []string{"127.0.0.1"}
		c.PrivateNetworks = []string{"127.0.0.0/8"}
	})
	regs := f.store.(herald.PushRegistrations)
	_, sub := webpushsvc.NewBrowser(t, "https://127.0.0.1:9/push/ann")
	c := probe.MustDialWS(t, f.ws, f.topicToken(t, "ann", "news", "team:*"), "laptop", nil)
	ask := func(frame map[string]any) probe.Frame {
		t.Helper()
		if err := c.Send(frame); err != nil {
			t.Fatal(err)
		}
		for {
			fr, err := c.Next(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if fr.Type == "push_registered" || fr.Type == "push_unregistered" || fr.Type == "push_refused" {
				return fr
			}
		}
	}
	webpush := func(endpoint string, topics ...string) map[string]any {
		s := sub
		s.Endpoint = endpoint
		return map[string]any{"provider": "webpush", "subscription": s, "topics": topics}
	}
	for _, c := range []struct {
		reg        map[string]any
		code, want string
	}{
		{webpush("https://push.example.com/x"), "invalid", "not a known push service"},
		{webpush("http://127.0.0.1:9/x"), "invalid", "https"},
		{webpush(sub.Endpoint, "news", "secret"), "forbidden", "secret"},
		{map[string]any{"provider": "fcm"}, "invalid", "token"},
	} {
		fr := ask(map[string]any{"type": "push_register", "id": "r", "registration": c.reg})
		if fr.Type != "push_refused" || fr.Code != c.code || !strings.Contains(fr.Message, c.want) {
			t.Errorf("%v: %+v, want %s %q", c.reg, fr, c.code, c.want)
		}
	}
	if fr := ask(map[string]any{"type": "push_register", "id": "7", "registration": webpush(sub.Endpoint, "news", "team:42")}); fr.Type != "push_registered" || fr.ID != "7" {
		t.Fatalf("register: %+v", fr)
	}
	got, err := regs.Registrations(context.Background(), "ann")
	if err != nil || len(got) != 1 || got[0].Device != "laptop" || got[0].Provider != "webpush" || fmt.Sprint(got[0].Topics) != "[news team:42]" ||
		got[0].Subscription.Endpoint != sub.Endpoint {
		t.Fatalf("stored: %+v %v", got, err)
	}
	if fr := ask(map[string]any{"type": "push_unregister", "id": "u"}); fr.Type != "push_unregistered" {
		t.Fatalf("unregister: %+v", fr)
	}
	if got, _ := regs.Registrations(context.Background(), "ann"); len(got) != 0 {
		t.Fatalf("after unregister: %+v", got)
	}

	// Without a device ID there is nothing to register.
	anon := probe.MustDialWS(t, f.ws, f.token(t, "bob"), "", nil)
	anon.Send(map[string]any{"type": "push_register", "registration": webpush(sub.Endpoint)})
	for {
		fr, err := anon.Next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if fr.Type == "push_refused" {
			if fr.Code != "invalid" || !strings.Contains(fr.Message, "device") {
				t.Fatalf("without a device: %+v", fr)
			}
			break
		}
	}
	// A push_register without a registration is a protocol error.
	anon.Send(map[string]any{"type": "push_register"})
	if code, reason := anon.CloseCode(5 * time.Second); code != ClosePolicy || reason != "push_register needs a registration" {
		t.Fatalf("close %d %q", code, reason)
	}
}
