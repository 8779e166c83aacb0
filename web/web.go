// Package web serves Herald's demo page, embedded in the binary with go:embed
// so `herald all` needs no build step and no files beside it, and the dev-mode
// endpoints the page uses.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"time"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/httpx"
)

//go:embed static
var static embed.FS

// Dev holds what the dev-mode endpoints need. They let the demo page mint a
// token for any user and send messages without holding the API key, so they
// exist only in dev mode (`herald all --dev`, on loopback by default).
type Dev struct {
	Mint   func(user string, ttl time.Duration) (string, error)
	APIKey string
	Send   http.Handler // serves POST /v1/messages
}

// RegisterAdmin serves the admin page at /admin, and the JavaScript SDK at
// /herald-client.js (so a plain web page can import it without a bundler).
// The page is static; the data it shows comes from the admin API, which needs
// the API key the operator types into the page (kept in the tab's
// sessionStorage only).
func RegisterAdmin(mux *http.ServeMux) {
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	serve := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + name
			files.ServeHTTP(w, r2)
		}
	}
	mux.HandleFunc("GET /admin", serve("admin.html"))
	mux.HandleFunc("GET /admin.js", serve("admin.js"))
	mux.HandleFunc("GET /style.css", serve("style.css"))
	mux.HandleFunc("GET /herald-client.js", serve("herald-client.js"))
}

// Register adds the demo page (dev mode only) and everything unknown as a JSON 404.
func Register(mux *http.ServeMux, dev *Dev) {
	if dev == nil {
		mux.HandleFunc("/", httpx.NotFound)
		return
	}
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/", "/app.js", "/style.css", "/herald-client.js":
			w.Header().Set("Cache-Control", "no-cache")
			files.ServeHTTP(w, r)
		default:
			httpx.NotFound(w, r)
		}
	})
	mux.Handle("/dev/token", httpx.Method(http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
		var req auth.TokenRequest
		if err := httpx.Decode(w, r, 4096, &req); err != nil {
			httpx.Error(w, r, err)
			return
		}
		tok, err := dev.Mint(req.User, auth.DefaultTokenTTL)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		httpx.JSON(w, http.StatusOK, auth.TokenResponse{Token: tok, ExpiresAt: time.Now().Add(auth.DefaultTokenTTL).Unix()})
	}))
	mux.Handle("/dev/messages", httpx.Method(http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
		// The same handler as POST /v1/messages, with the API key added here
		// so the page never holds it.
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/v1/messages"
		r2.Header.Set("Content-Type", "application/json")
		r2.Header.Set("Authorization", "Bearer "+dev.APIKey)
		dev.Send.ServeHTTP(w, r2)
	}))
}
