// Package httpx holds the HTTP plumbing every Herald service shares: JSON error
// bodies with the status mapped from herald error codes in one place, request
// decoding with size limits, API-key checks, and the health endpoints.
package httpx

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/heraldpush/herald"
)

// status maps herald error codes to HTTP statuses: the one place that does.
var status = map[string]int{
	herald.EInvalid:      http.StatusBadRequest,
	herald.EUnauthorized: http.StatusUnauthorized,
	herald.EForbidden:    http.StatusForbidden,
	herald.ENotFound:     http.StatusNotFound,
	herald.EMethod:       http.StatusMethodNotAllowed,
	herald.ETooLarge:     http.StatusRequestEntityTooLarge,
	herald.EUnsupported:  http.StatusUnsupportedMediaType,
	herald.ETooMany:      http.StatusTooManyRequests,
	herald.EUnavailable:  http.StatusServiceUnavailable,
	herald.EInternal:     http.StatusInternalServerError,
}

// Status returns the HTTP status for err.
func Status(err error) int {
	if s, ok := status[herald.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Error writes err as a JSON error body with its status. Internal errors are
// logged and answered with a generic message.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	code := herald.ErrorCode(err)
	if code == herald.EInternal || code == herald.EUnavailable {
		slog.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var b ErrorBody
	b.Error.Code = code
	b.Error.Message = herald.ErrorMessage(err)
	JSON(w, Status(err), b)
}

// Appender is a value that appends its own JSON encoding, for an answer
// sent many times a second (the 202 of a send): json.Marshal and its
// reflection cost more than the rest of writing the answer.
type Appender interface {
	AppendJSON(b []byte) []byte
}

// Header values shared by every JSON answer. net/http and the send lane
// only read them; a handler that adds a value gets a new slice (len == cap).
var (
	jsonType = []string{"application/json"}
	noStore  = []string{"no-store"}
	// smallLengths[n] is the Content-Length value n, for the short answers
	// (a 202 is about 45 bytes) that are most of them.
	smallLengths = func() (ls [512][]string) {
		for n := range ls {
			ls[n] = []string{strconv.Itoa(n)}
		}
		return ls
	}()
)

func contentLength(n int) []string {
	if n < len(smallLengths) {
		return smallLengths[n]
	}
	return []string{strconv.Itoa(n)}
}

// jsonBufs recycles the buffers answers are encoded in: both net/http's
// writer and the send lane's copy what Write is given.
var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// JSON writes v as a JSON body with status.
func JSON(w http.ResponseWriter, status int, v any) {
	// Encoded whole first, so the answer carries its Content-Length and goes
	// out in one write: written as a stream, an answer over 2 KiB (a batch's
	// IDs) went out chunked.
	buf := jsonBufs.Get().(*[]byte)
	var b []byte
	if a, ok := v.(Appender); ok {
		b = a.AppendJSON((*buf)[:0])
	} else {
		var err error
		if b, err = json.Marshal(v); err != nil {
			status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encode the answer"}}`)
		}
	}
	b = append(b, '\n')
	h := w.Header()
	h["Content-Type"] = jsonType
	h["Cache-Control"] = noStore
	h["Content-Length"] = contentLength(len(b))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	if cap(b) <= 64<<10 { // a large batch's IDs are not kept
		*buf = b[:0]
	}
	jsonBufs.Put(buf)
}

// BearerToken returns the token of an "Authorization: Bearer <token>" header.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Method wraps next so that other methods get a JSON 405.
func Method(method string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			Error(w, r, herald.Errorf(herald.EMethod, "use %s", method))
			return
		}
		next(w, r)
	})
}

// Methods routes one path's requests by method (each handler checks its own
// scope); any other method gets a JSON 405 that names the ones there are.
func Methods(handlers map[string]http.Handler) http.Handler {
	allowed := make([]string, 0, len(handlers))
	for m := range handlers {
		allowed = append(allowed, m)
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := handlers[r.Method]
		if !ok {
			w.Header().Set("Allow", allow)
			Error(w, r, herald.Errorf(herald.EMethod, "use %s", allow))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// NotFound answers every unknown path with a JSON 404.
func NotFound(w http.ResponseWriter, r *http.Request) {
	Error(w, r, herald.Errorf(herald.ENotFound, "no such endpoint: %s", r.URL.Path))
}
