package collect

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/pebble"
)

// The registration endpoints: a device's registration put, read, listed,
// replaced and deleted; a Web Push endpoint refused unless its host is a
// known push service and it reaches a public address (or an allowed one);
// other methods a JSON 405.
func TestPushRegistrationsAPI(t *testing.T) {
	b, err := pebble.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	serve := func(tune func(*Config)) func(method, path, body string) (int, string) {
		cfg := DefaultConfig()
		if tune != nil {
			tune(&cfg)
		}
		s := New(cfg, Deps{Store: b, Registrations: b, Dispatcher: &dispatched{}, Registry: prometheus.NewRegistry()})
		mux := http.NewServeMux()
		s.Register(mux, httpx.SingleKey("k"))
		return func(method, path, body string) (int, string) {
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer k")
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			return rec.Code, rec.Body.String()
		}
	}
	do := serve(nil)
	expect := func(code int, body string, wantCode int, wantIn string) {
		t.Helper()
		if code != wantCode || !strings.Contains(body, wantIn) {
			t.Fatalf("%d %s; want %d with %q", code, body, wantCode, wantIn)
		}
	}
	code, body := do("PUT", "/v1/users/ann/devices/phone/push", `{"provider":"fcm","token":"tok-1"}`)
	expect(code, body, 200, `"token":"tok-1"`)
	code, body = do("PUT", "/v1/users/ann/devices/phone/push", `{"provider":"fcm","token":"tok-2"}`)
	expect(code, body, 200, `"token":"tok-2"`)
	code, body = do("GET", "/v1/users/ann/devices/phone/push", "")
	expect(code, body, 200, `"token":"tok-2"`)

	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	keys := `"keys":{"p256dh":"` + base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()) + `","auth":"` + base64.RawURLEncoding.EncodeToString(make([]byte, 16)) + `"}`
	webpush := func(endpoint string) string {
		return `{"provider":"webpush","subscription":{"endpoint":"` + endpoint + `",` + keys + `}}`
	}
	code, body = do("PUT", "/v1/users/ann/devices/web/push", webpush("https://fcm.googleapis.com/fcm/send/abc"))
	expect(code, body, 200, `"endpoint":"https://fcm.googleapis.com/fcm/send/abc"`)
	code, body = do("PUT", "/v1/users/ann/devices/edge/push", webpush("https://wns2-par02p.notify.windows.com/w/?token=x"))
	expect(code, body, 200, `"provider":"webpush"`)
	code, body = do("PUT", "/v1/users/ann/devices/web2/push", webpush("https://push.evil.example/abc"))
	expect(code, body, 400, "not a known push service")
	code, body = do("PUT", "/v1/users/ann/devices/web2/push", webpush("https://notify.windows.com.evil.example/abc"))
	expect(code, body, 400, "not a known push service")
	code, body = do("PUT", "/v1/users/ann/devices/web2/push", webpush("http://fcm.googleapis.com/abc"))
	expect(code, body, 400, "an https URL")

	// A test's own push service on loopback: listed, and still refused
	// until its network is allowed.
	local := func(c *Config) { c.WebPushHosts = append(c.WebPushHosts, "127.0.0.1") }
	code, body = serve(local)("PUT", "/v1/users/ann/devices/web2/push", webpush("https://127.0.0.1:8443/push/1"))
	expect(code, body, 400, "not public")
	allowed := serve(func(c *Config) { local(c); c.PrivateNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	code, body = allowed("PUT", "/v1/users/ann/devices/web2/push", webpush("https://127.0.0.1:8443/push/1"))
	expect(code, body, 200, `"device":"web2"`)

	code, body = do("GET", "/v1/users/ann/push", "")
	var list RegistrationsResponse
	if json.Unmarshal([]byte(body), &list); code != 200 || len(list.Registrations) != 4 {
		t.Fatalf("list: %d %s", code, body)
	}
	code, body = do("DELETE", "/v1/users/ann/devices/phone/push", "")
	expect(code, body, 204, "")
	code, body = do("DELETE", "/v1/users/ann/devices/phone/push", "")
	expect(code, body, 404, `"not_found"`)
	code, body = do("GET", "/v1/users/ann/devices/phone/push", "")
	expect(code, body, 404, "no push registration")
	code, body = do("POST", "/v1/users/ann/devices/phone/push", `{}`)
	expect(code, body, 405, `"error"`)
	code, body = do("PUT", "/v1/users/ann/devices/bad%20id/push", `{"provider":"fcm","token":"t"}`)
	expect(code, body, 400, "device")
	code, body = do("GET", "/v1/users/bob/push", "")
	expect(code, body, 200, `"registrations":[]`)
	var _ herald.PushRegistrations = b
}
