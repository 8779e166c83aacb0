package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDevEndpoints(t *testing.T) {
	var sawKey string
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/messages", func(w http.ResponseWriter, r *http.Request) {
		sawKey = r.Header.Get("Authorization")
		w.WriteHeader(202)
	})
	Register(mux, &Dev{
		Mint:   func(user string, _ time.Duration, _ []string) (string, error) { return "tok-" + user, nil },
		APIKey: "k",
		Send:   mux,
	})
	do := func(method, path, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
		return w
	}
	if w := do("GET", "/", ""); w.Code != 200 || !strings.Contains(w.Body.String(), "Herald") {
		t.Fatalf("demo page: %d", w.Code)
	}
	if w := do("GET", "/app.js", ""); w.Code != 200 {
		t.Fatalf("app.js: %d", w.Code)
	}
	if w := do("POST", "/dev/token", `{"user":"alice"}`); w.Code != 200 || !strings.Contains(w.Body.String(), "tok-alice") {
		t.Fatalf("dev token: %d %s", w.Code, w.Body)
	}
	if w := do("POST", "/dev/messages", `{"users":["a"],"payload":1}`); w.Code != 202 || sawKey != "Bearer k" {
		t.Fatalf("dev send: %d, key %q", w.Code, sawKey)
	}
	if w := do("GET", "/secret.txt", ""); w.Code != 404 {
		t.Fatalf("unknown file: %d", w.Code)
	}
}

func TestNoDevModeNoPage(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux, nil)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 404 {
		t.Fatalf("/ without dev mode: %d", w.Code)
	}
}

func TestAdminAndSDKAreServed(t *testing.T) {
	mux := http.NewServeMux()
	RegisterAdmin(mux)
	for path, want := range map[string]string{"/admin": "Herald admin", "/admin.js": "/v1/admin/nodes", "/herald-client.js": "class HeraldClient", "/herald-eventstream.js": "class EventStreamSocket"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			t.Errorf("%s: %d, body lacks %q", path, w.Code, want)
		}
	}
}

// A page on another site must not reach the dev endpoints through a
// visitor's browser: a cross-origin POST (CSRF) and, on loopback, a host name
// rebound to 127.0.0.1 get 403; the demo page's own requests pass.
func TestDevEndpointsRefuseOtherSites(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/messages", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) })
	Register(mux, &Dev{
		Mint:         func(user string, _ time.Duration, _ []string) (string, error) { return "tok-" + user, nil },
		APIKey:       "k",
		Send:         mux,
		LoopbackOnly: true,
	})
	for _, c := range []struct {
		name, path, host, origin string
		want                     int
	}{
		{"same origin", "/dev/token", "127.0.0.1:8080", "http://127.0.0.1:8080", 200},
		{"no origin (curl)", "/dev/token", "localhost:8080", "", 200},
		{"same origin send", "/dev/messages", "localhost:8080", "http://localhost:8080", 202},
		{"another site", "/dev/token", "127.0.0.1:8080", "http://evil.example", 403},
		{"another site send", "/dev/messages", "127.0.0.1:8080", "http://evil.example", 403},
		{"another port", "/dev/token", "127.0.0.1:8080", "http://127.0.0.1:9999", 403},
		{"another scheme", "/dev/token", "127.0.0.1:8080", "https://127.0.0.1:8080", 403},
		{"rebound name", "/dev/token", "evil.example:8080", "http://evil.example:8080", 403},
		{"rebound name, no origin", "/dev/broadcast", "evil.example:8080", "", 403},
	} {
		body := `{"users":["a"],"payload":1}`
		if c.path == "/dev/token" {
			body = `{"user":"alice"}`
		}
		r := httptest.NewRequest("POST", c.path, strings.NewReader(body))
		r.Host = c.host
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, w.Code, c.want, w.Body)
		}
		if w.Code == 403 && !strings.Contains(w.Body.String(), `"forbidden"`) {
			t.Errorf("%s: 403 without a JSON error body: %s", c.name, w.Body)
		}
	}
}

func TestPagesCannotBeFramed(t *testing.T) {
	mux := http.NewServeMux()
	RegisterAdmin(mux)
	Register(mux, &Dev{Mint: func(string, time.Duration, []string) (string, error) { return "", nil }, Send: mux})
	for _, path := range []string{"/", "/admin", "/app.js", "/admin.js"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		h := w.Header()
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: headers %v", path, h)
		}
	}
}
