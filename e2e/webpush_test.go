package e2e

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
	"github.com/heraldpush/herald/internal/testenv/webpushsvc"
)

// Offline push through Web Push, on a real herald all and a local push
// service that checks VAPID and decrypts as a browser does: a device that
// is connected and acks gets no push; one that is offline gets the
// notification --push-after later; a subscription the push service says
// is gone (410) is removed.
func TestWebPushOffline(t *testing.T) {
	ps, srv := webpushsvc.Start(t, "mailto:ops@example.com")
	dir := t.TempDir()
	ca := filepath.Join(dir, "push-ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	n := startAll(t, filepath.Join(dir, "data"), testenv.FreePort(t, "127.0.0.1"),
		"--push-after", "3s", "--webpush-hosts", "127.0.0.1", "--allow-private-networks", "127.0.0.0/8",
		"--push-ca-file", ca, "--vapid-subject", "mailto:ops@example.com")
	api := n.api
	register := func(user, device string) {
		t.Helper()
		sub := ps.Subscribe(srv, "/push/"+user+"/"+device)
		code, body := api.Do(t, "PUT", "/v1/users/"+user+"/devices/"+device+"/push", map[string]any{"provider": "webpush", "subscription": sub})
		if code != 200 {
			t.Fatalf("register: %d %s", code, body)
		}
	}
	send := func(user, title string) {
		t.Helper()
		code, body := api.Do(t, "POST", "/v1/messages", map[string]any{"users": []string{user}, "payload": map[string]string{"text": title},
			"notification": map[string]any{"title": title, "body": "from Herald", "data": map[string]string{"room": "7"}}})
		if code != 202 {
			t.Fatalf("send: %d %s", code, body)
		}
	}
	register("ann", "web")
	register("bob", "web")

	// ann is connected and acks: no push (her ack is saved within a
	// second, well inside --push-after). bob is offline: his comes.
	ann := probe.MustDialWS(t, n.ws, api.Token(t, "ann"), "web", nil)
	send("ann", "for ann")
	for _, f := range ann.Msgs(1, 5*time.Second) {
		ann.Ack(f.Seq)
	}
	start := time.Now()
	send("bob", "for bob")
	select {
	case p := <-ps.Got:
		var got struct {
			Title, Body, ID string
			Seq             uint64
			Data            map[string]string
		}
		json.Unmarshal(p.Payload, &got)
		if p.Path != "/push/bob/web" || got.Title != "for bob" || got.Body != "from Herald" || got.Data["room"] != "7" || got.ID == "" || got.Seq != 1 {
			t.Fatalf("push %s: %s", p.Path, p.Payload)
		}
		if waited := time.Since(start); waited < 2900*time.Millisecond {
			t.Fatalf("pushed after %v, before --push-after", waited)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no push for bob")
	}
	select {
	case p := <-ps.Got:
		t.Fatalf("a push for a device that acked: %s %s", p.Path, p.Payload)
	case <-time.After(2 * time.Second):
	}

	// The push service says bob's subscription is gone: it is removed.
	ps.Answer(http.StatusGone, nil)
	send("bob", "again")
	<-ps.Got
	testenv.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if code, body := api.Do(t, "GET", "/v1/users/bob/devices/web/push", nil); code != 404 {
			return fmt.Errorf("bob's registration: %d %s", code, body)
		}
		return nil
	})
}
