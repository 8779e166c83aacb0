// Package web serves Herald's demo page, embedded in the binary with go:embed
// so `herald all` needs no build step and no files beside it, and the dev-mode
// endpoints the page uses.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/httpx"
)

//go:embed static
var static embed.FS

// Dev holds what the dev-mode endpoints need. They let the demo page mint a
// token for any user and send messages without holding the API key, so they
// exist only in dev mode (`herald all --dev`, on loopback by default).
type Dev struct {
	Mint   func(user string, ttl time.Duration, topics []string) (string, error)
	APIKey string
	Send   http.Handler // serves POST /v1/messages, /v1/topics/{topic}/messages, /v1/broadcast
	// LoopbackOnly refuses requests whose Host is not a loopback address or
	// "localhost": Herald listens on loopback, and a request naming another
	// host reached it through DNS rebinding (a page on evil.example whose
	// name now resolves to 127.0.0.1).
	LoopbackOnly bool
}

// guard refuses what a page on another site could make a visitor's browser
// send to the dev endpoints: a cross-origin request (CSRF; browsers send
// Origin on every POST) and, on loopback, a rebound host name.
func (d *Dev) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.LoopbackOnly && !httpx.LoopbackHost(r.Host) {
			httpx.Error(w, r, herald.Errorf(herald.EForbidden, "the dev endpoints answer only requests addressed to localhost or a loopback address"))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !httpx.SameOrigin(r, o, "") {
			httpx.Error(w, r, herald.Errorf(herald.EForbidden, "the dev endpoints answer only the demo page's own origin"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pageHeaders are the security headers of every HTML page and script Herald
// serves: no framing (clickjacking of the admin page), no MIME sniffing, and
// no Referer carrying a page's URL elsewhere.
func pageHeaders(h http.Header) {
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
}

// RegisterAdmin serves the admin page at /admin, and the JavaScript SDK at
// /herald-client.js and the module it imports, /herald-eventstream.js (so a
// plain web page can import it without a bundler).
// The page is static; the data it shows comes from the admin API, which needs
// the API key the operator types into the page (kept in the tab's
// sessionStorage only).
func RegisterAdmin(mux *http.ServeMux) {
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	serve := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			pageHeaders(w.Header())
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + name
			files.ServeHTTP(w, r2)
		}
	}
	mux.HandleFunc("GET /admin", serve("admin.html"))
	mux.HandleFunc("GET /admin.js", serve("admin.js"))
	mux.HandleFunc("GET /style.css", serve("style.css"))
	mux.HandleFunc("GET /herald-client.js", serve("herald-client.js"))
	mux.HandleFunc("GET /herald-eventstream.js", serve("herald-eventstream.js"))
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
		case "/", "/app.js", "/style.css", "/herald-client.js", "/herald-eventstream.js":
			pageHeaders(w.Header())
			files.ServeHTTP(w, r)
		default:
			httpx.NotFound(w, r)
		}
	})
	mux.Handle("/dev/token", dev.guard(httpx.Method(http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
		var req auth.TokenRequest
		if err := httpx.Decode(w, r, 4096, &req); err != nil {
			httpx.Error(w, r, err)
			return
		}
		// Demo tokens may subscribe to any topic.
		tok, err := dev.Mint(req.User, auth.DefaultTokenTTL, []string{"*"})
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		httpx.JSON(w, http.StatusOK, auth.TokenResponse{Token: tok, ExpiresAt: time.Now().Add(auth.DefaultTokenTTL).Unix()})
	})))
	// The send endpoints are the API's own handlers, with the API key added
	// here so the page never holds it.
	forward := func(path string) http.Handler {
		return httpx.Method(http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.URL.RawPath = path, ""
			if t := r.PathValue("topic"); t != "" {
				r2.URL.Path = "/v1/topics/" + url.PathEscape(t) + "/messages"
			}
			r2.Header.Set("Content-Type", "application/json")
			r2.Header.Set("Authorization", "Bearer "+dev.APIKey)
			dev.Send.ServeHTTP(w, r2)
		})
	}
	mux.Handle("/dev/messages", dev.guard(forward("/v1/messages")))
	mux.Handle("/dev/topics/{topic}/messages", dev.guard(forward("")))
	mux.Handle("/dev/broadcast", dev.guard(forward("/v1/broadcast")))
}
