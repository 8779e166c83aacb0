package e2e

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
	"github.com/heraldpush/herald/internal/testenv/providersvc"
	"github.com/heraldpush/herald/internal/testenv/webpushsvc"
	"github.com/heraldpush/herald/receipts"
	"github.com/heraldpush/herald/webpush"
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
	hook := startReceiptHook(t)
	n := startAll(t, filepath.Join(dir, "data"), testenv.FreePort(t, "127.0.0.1"),
		"--receipts-webhook-url", hook.URL, "--receipts-webhook-secret", hookSecret,
		"--push-after", "3s", "--webpush-hosts", "127.0.0.1", "--allow-private-networks", "127.0.0.0/8",
		"--push-ca-file", ca, "--vapid-subject", "mailto:ops@example.com")
	api := n.api
	register := func(user, device string) {
		t.Helper()
		sub := ps.Subscribe(srv, "/push/"+user+"/"+device)
		code, body := api.Do(t, "PUT", "/v1/users/"+user+"/devices/"+device+"/push", map[string]any{"provider": "webpush", "subscription": sub,
			"topics": []string{"news"}})
		if code != 200 {
			t.Fatalf("register: %d %s", code, body)
		}
	}
	send := func(user, title string) string {
		t.Helper()
		code, body := api.Do(t, "POST", "/v1/messages", map[string]any{"users": []string{user}, "payload": map[string]string{"text": title},
			"notification": map[string]any{"title": title, "body": "from Herald", "data": map[string]string{"room": "7"}}})
		if code != 202 {
			t.Fatalf("send: %d %s", code, body)
		}
		var r struct{ ID string }
		json.Unmarshal(body, &r)
		return r.ID
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
	bobID := send("bob", "for bob")
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

	// The receipt says so.
	testenv.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		code, body := api.Do(t, "GET", "/v1/messages/"+bobID, nil)
		var st struct {
			Recipients []struct {
				Status  string
				Devices []struct {
					Device, Status, Provider string
					PushedAt                 int64 `json:"pushed_at"`
				}
			}
		}
		json.Unmarshal(body, &st)
		if code != 200 || len(st.Recipients) != 1 || st.Recipients[0].Status != "pushed" || len(st.Recipients[0].Devices) != 1 ||
			st.Recipients[0].Devices[0].Provider != "webpush" || st.Recipients[0].Devices[0].PushedAt == 0 {
			return fmt.Errorf("bob's receipt: %d %s", code, body)
		}
		return nil
	})

	// And so does the receipts webhook.
	testenv.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		events := hook.events()
		for _, e := range events {
			if e.Type == "pushed" && e.ID == bobID && e.User == "bob" && e.Device == "web" && e.Provider == "webpush" && e.PushedAt > 0 && e.Seq == 1 {
				return nil
			}
		}
		return fmt.Errorf("no pushed event for bob's message in %+v", events)
	})

	// A topic message: pushed to the registrations that list the topic and
	// have no connection (bob's), not to ann's, which is connected.
	if code, body := api.Do(t, "POST", "/v1/topics/news/messages", map[string]any{"payload": 1,
		"notification": map[string]any{"title": "extra"}}); code != 202 {
		t.Fatalf("topic send: %d %s", code, body)
	}
	select {
	case p := <-ps.Got:
		var got struct{ Title, Topic string }
		json.Unmarshal(p.Payload, &got)
		if p.Path != "/push/bob/web" || got.Title != "extra" || got.Topic != "news" {
			t.Fatalf("topic push %s: %s", p.Path, p.Payload)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no topic push for bob")
	}
	select {
	case p := <-ps.Got:
		t.Fatalf("a topic push for a connected device: %s %s", p.Path, p.Payload)
	case <-time.After(time.Second):
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
	metrics, err := http.Get(api.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer metrics.Body.Close()
	m, _ := io.ReadAll(metrics.Body)
	for _, want := range []string{`herald_pushes_total{provider="webpush",result="sent"} 2`, `herald_pushes_total{provider="webpush",result="acked"} 1`,
		`herald_pushes_total{provider="webpush",result="online"} 1`,
		`herald_push_failures_total{provider="webpush",reason="http_410"} 1`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Offline push in a cluster of two collect instances on FerretDB: pushes
// queued by one are pushed once each while both compete for them (the
// lease), and all of them when the instance that queued them is SIGKILLed
// before they are due (the other takes them from the store).
func TestWebPushClusterSurvivesACollectKill(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	ps, srv := webpushsvc.Start(t, "mailto:ops@example.com")
	ca := filepath.Join(t.TempDir(), "push-ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	keys, err := webpush.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 2, Dispatch: 1, Push: 1, CollectEnv: []string{
		"HERALD_PUSH_AFTER=2s", "HERALD_WEBPUSH_HOSTS=127.0.0.1", "HERALD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8",
		"HERALD_PUSH_CA_FILE=" + ca, "HERALD_VAPID_SUBJECT=mailto:ops@example.com",
		"HERALD_VAPID_PUBLIC_KEY=" + keys.Public, "HERALD_VAPID_PRIVATE_KEY=" + keys.Private,
	}})
	const users = 20
	for i := range users {
		user := fmt.Sprintf("u%d", i)
		sub := ps.Subscribe(srv, "/push/"+user)
		if code, body := c.API(i%2).Do(t, "PUT", "/v1/users/"+user+"/devices/web/push", map[string]any{"provider": "webpush", "subscription": sub}); code != 200 {
			t.Fatalf("register: %d %s", code, body)
		}
	}
	sendAll := func(batch string, api probe.API) {
		t.Helper()
		for i := range users {
			code, body := api.Do(t, "POST", "/v1/messages", map[string]any{"users": []string{fmt.Sprintf("u%d", i)}, "payload": batch,
				"notification": map[string]any{"title": batch}})
			if code != 202 {
				t.Fatalf("send: %d %s", code, body)
			}
		}
	}
	// collect waits: each user's push of this batch, once.
	collect := func(batch string) {
		t.Helper()
		got := map[string]int{}
		deadline := time.After(60 * time.Second)
		for len(got) < users {
			select {
			case p := <-ps.Got:
				var n struct{ Title string }
				json.Unmarshal(p.Payload, &n)
				if n.Title != batch {
					t.Fatalf("a push of %q while waiting for %q", n.Title, batch)
				}
				if got[p.Path]++; got[p.Path] > 1 {
					t.Fatalf("%s pushed twice", p.Path)
				}
			case <-deadline:
				t.Fatalf("%s: %d of %d pushed", batch, len(got), users)
			}
		}
		select {
		case p := <-ps.Got:
			t.Fatalf("a push after all of %s: %s %s", batch, p.Path, p.Payload)
		case <-time.After(2 * time.Second):
		}
	}
	sendAll("both alive", c.API(0))
	collect("both alive")
	sendAll("one killed", c.API(0))
	c.Collect[0].Kill()
	collect("one killed")
}

// FCM and APNs through a real herald all, set up by their flags, against
// local stand-ins that check the OAuth2 assertion and bearer token, and the
// APNs provider token and headers: an offline device of each gets its
// notification; an unregistered token of each is removed.
func TestFCMAndAPNsOffline(t *testing.T) {
	google, saFile, gsrv := providersvc.NewGoogle(t)
	apple, p8, asrv := providersvc.NewApple(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ca := write("ca.pem", append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: gsrv.Certificate().Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: asrv.Certificate().Raw})...))
	n := startAll(t, filepath.Join(dir, "data"), testenv.FreePort(t, "127.0.0.1"), "--push-after", "500ms", "--push-ca-file", ca,
		"--fcm-credentials-file", write("sa.json", saFile), "--fcm-endpoint", gsrv.URL,
		"--apns-key-file", write("key.p8", p8), "--apns-key-id", "KEY1234567", "--apns-team-id", "TEAM123456",
		"--apns-host", asrv.URL, "--apns-sandbox-host", asrv.URL)
	api := n.api
	const token = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	for device, reg := range map[string]map[string]any{
		"phone": {"provider": "fcm", "token": "fcm-token-1"},
		"ipad":  {"provider": "apns", "token": token, "topic": "com.example.app", "environment": "sandbox"},
	} {
		if code, body := api.Do(t, "PUT", "/v1/users/carl/devices/"+device+"/push", reg); code != 200 {
			t.Fatalf("register %s: %d %s", device, code, body)
		}
	}
	send := func(title string) {
		t.Helper()
		code, body := api.Do(t, "POST", "/v1/messages", map[string]any{"users": []string{"carl"}, "payload": 1,
			"notification": map[string]any{"title": title, "collapse_key": "score", "priority": "high"}})
		if code != 202 {
			t.Fatalf("send: %d %s", code, body)
		}
	}
	send("goal")
	testenv.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		google.Lock()
		fcmGot := len(google.Sent)
		google.Unlock()
		apple.Lock()
		apnsGot := len(apple.Got)
		apple.Unlock()
		if fcmGot != 1 || apnsGot != 1 {
			return fmt.Errorf("FCM got %d, APNs %d; want one each", fcmGot, apnsGot)
		}
		return nil
	})
	google.Lock()
	msg := google.Sent[0]["message"].(map[string]any)
	google.Unlock()
	if msg["token"] != "fcm-token-1" || msg["notification"].(map[string]any)["title"] != "goal" || msg["data"].(map[string]any)["herald_seq"] != "1" {
		t.Fatalf("FCM got %v", msg)
	}
	apple.Lock()
	req, body := apple.Got[0], apple.Bodies[0]
	apple.Unlock()
	if req.URL.Path != "/3/device/"+token || req.Header.Get("apns-collapse-id") != "score" || req.Header.Get("apns-priority") != "10" ||
		body["aps"].(map[string]any)["alert"].(map[string]any)["title"] != "goal" {
		t.Fatalf("APNs got %s %v %v", req.URL.Path, req.Header, body)
	}

	// Both tokens are no longer valid: both registrations go.
	google.Lock()
	google.Answer = func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":{"code":404,"status":"NOT_FOUND","details":[{"errorCode":"UNREGISTERED"}]}}`))
	}
	google.Unlock()
	apple.Lock()
	apple.Status, apple.Reason = http.StatusGone, "Unregistered"
	apple.Unlock()
	send("again")
	testenv.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		code, body := api.Do(t, "GET", "/v1/users/carl/push", nil)
		if code != 200 || !strings.Contains(string(body), `"registrations":[]`) {
			return fmt.Errorf("carl's registrations: %d %s", code, body)
		}
		return nil
	})
}

// The chaos case: a cluster of two collect instances on FerretDB pushing a
// topic message to 300 devices and 100 user messages through a slow push
// service; one instance is SIGKILLed in the middle of it. Every push
// arrives (the dead instance's, once its --lease ends); a push the
// dead instance made without hearing the answer may arrive twice. The
// receipts webhook, set on the collect instances, tells of every one.
func TestOfflinePushSurvivesAKillMidPush(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	ps, srv := webpushsvc.Start(t, "mailto:ops@example.com")
	ps.Delay = 100 * time.Millisecond
	ca := filepath.Join(t.TempDir(), "push-ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	keys, err := webpush.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	hook := startReceiptHook(t)
	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 2, Dispatch: 1, Push: 1, CollectEnv: []string{
		"HERALD_PUSH_AFTER=1s", "HERALD_LEASE=4s", "HERALD_WEBPUSH_HOSTS=127.0.0.1", "HERALD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8",
		"HERALD_PUSH_CA_FILE=" + ca, "HERALD_VAPID_SUBJECT=mailto:ops@example.com",
		"HERALD_VAPID_PUBLIC_KEY=" + keys.Public, "HERALD_VAPID_PRIVATE_KEY=" + keys.Private,
		"HERALD_RECEIPTS_WEBHOOK_URL=" + hook.URL, "HERALD_RECEIPTS_WEBHOOK_SECRET=" + hookSecret,
	}})
	const users, direct = 300, 100
	for i := range users {
		user := fmt.Sprintf("u%d", i)
		sub := ps.Subscribe(srv, "/push/"+user)
		if code, body := c.API(i%2).Do(t, "PUT", "/v1/users/"+user+"/devices/web/push", map[string]any{"provider": "webpush", "subscription": sub,
			"topics": []string{"news"}}); code != 200 {
			t.Fatalf("register: %d %s", code, body)
		}
	}
	want := map[string]bool{} // "title path"
	if code, body := c.API(0).Do(t, "POST", "/v1/topics/news/messages", map[string]any{"payload": 1,
		"notification": map[string]any{"title": "topic"}}); code != 202 {
		t.Fatalf("topic send: %d %s", code, body)
	}
	for i := range users {
		want[fmt.Sprintf("topic /push/u%d", i)] = true
	}
	for i := range direct {
		code, body := c.API(i%2).Do(t, "POST", "/v1/messages", map[string]any{"users": []string{fmt.Sprintf("u%d", i)}, "payload": 2,
			"notification": map[string]any{"title": "direct"}})
		if code != 202 {
			t.Fatalf("send: %d %s", code, body)
		}
		want[fmt.Sprintf("direct /push/u%d", i)] = true
	}
	got := map[string]int{}
	killed := false
	deadline := time.After(90 * time.Second)
	start := time.Now()
	for len(got) < len(want) {
		select {
		case p := <-ps.Got:
			var n struct{ Title string }
			json.Unmarshal(p.Payload, &n)
			k := n.Title + " " + p.Path
			if !want[k] {
				t.Fatalf("a push not sent: %s", k)
			}
			got[k]++
			if !killed && len(got) >= 100 {
				c.Collect[0].Kill()
				killed = true
				t.Logf("collect 0 killed after %d pushes (%v)", len(got), time.Since(start).Round(time.Millisecond))
			}
		case <-deadline:
			t.Fatalf("%d of %d pushed", len(got), len(want))
		}
	}
	twice := 0
	for _, n := range got {
		twice += n - 1
	}
	t.Logf("all %d pushed in %v; %d twice", len(want), time.Since(start).Round(time.Millisecond), twice)
	// The webhook: every push has its pushed event, but the ones the dead
	// instance made (it sent their events to no one).
	pushed := func() int {
		ids := map[string]bool{}
		for _, e := range hook.events() {
			if e.Type == "pushed" {
				ids[e.ID+" "+e.User] = true
			}
		}
		return len(ids)
	}
	testenv.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		if n := pushed(); n < len(want)/4 {
			return fmt.Errorf("%d pushed events", n)
		}
		return nil
	})
	t.Logf("%d pushed events from the instance that lived", pushed())
}

// hookSecret signs the test receipt webhooks' requests.
const hookSecret = "webhook-secret-0123456789"

// receiptHook is a receipts webhook receiver that checks each request's
// signature and keeps the events.
type receiptHook struct {
	*httptest.Server
	mu  sync.Mutex
	all []receipts.Event
}

func startReceiptHook(t *testing.T) *receiptHook {
	h := &receiptHook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(receipts.TimestampHeader), 10, 64)
		if r.Header.Get(receipts.SignatureHeader) != receipts.Sign(hookSecret, ts, body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var b receipts.WebhookBody
		json.Unmarshal(body, &b)
		h.mu.Lock()
		h.all = append(h.all, b.Events...)
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

// events returns a copy of the events received so far.
func (h *receiptHook) events() []receipts.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]receipts.Event(nil), h.all...)
}
