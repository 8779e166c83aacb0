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
	for path, want := range map[string]string{"/admin": "Herald admin", "/admin.js": "/v1/admin/nodes", "/herald-client.js": "class HeraldClient"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			t.Errorf("%s: %d, body lacks %q", path, w.Code, want)
		}
	}
}
