package lane

import (
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// response is the http.ResponseWriter of a lane request: the answer is kept
// whole and written in one write after the handler returns (the send
// endpoints answer a few dozen bytes).
type response struct {
	h      http.Header
	status int
	body   []byte
}

func (w *response) reset() {
	clear(w.h)
	w.status, w.body = 0, w.body[:0]
}

func (w *response) Header() http.Header { return w.h }

func (w *response) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
}

func (w *response) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

// appendTo appends the answer as HTTP/1.1 to b, byte for byte as net/http
// writes it (FuzzDifferential holds the two to that): the status line; the
// handler's headers sorted by name (invalid names dropped, line breaks in
// values made spaces, values trimmed); then, where the handler set none,
// Date, the body's Content-Length and a sniffed Content-Type; then
// Connection: close when the connection closes after.
func (w *response) appendTo(b []byte, closeAfter bool) []byte {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	b = statusLine(b, w.status)
	// A handler's own "Connection: close" stays where it is; any other
	// Connection value gives way to the one net/http adds when closing.
	ownClose := hasCloseToken(w.h["Connection"])
	var keyBuf [16]string
	keys := keyBuf[:0]
	for k := range w.h {
		if !validName([]byte(k)) || (k == "Connection" && closeAfter && !ownClose) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range w.h[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, textproto.TrimString(newlineToSpace.Replace(v))...)
			b = append(b, "\r\n"...)
		}
	}
	if _, ok := w.h["Date"]; !ok {
		b = append(b, "Date: "...)
		b = append(b, httpDate()...)
		b = append(b, "\r\n"...)
	}
	if _, ok := w.h["Content-Length"]; !ok {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(w.body)), 10)
		b = append(b, "\r\n"...)
	}
	if _, ok := w.h["Content-Type"]; !ok && len(w.body) > 0 {
		b = append(b, "Content-Type: "...)
		b = append(b, http.DetectContentType(w.body)...) // as net/http does
		b = append(b, "\r\n"...)
	}
	if closeAfter && !ownClose {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, w.body...)
}

// hasCloseToken reports whether a Connection header's values name "close".
func hasCloseToken(vs []string) bool {
	for _, v := range vs {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(t), "close") {
				return true
			}
		}
	}
	return false
}

var newlineToSpace = strings.NewReplacer("\n", " ", "\r", " ")

// date caches the Date header's text, which changes once a second.
var date atomic.Pointer[dateText]

type dateText struct {
	sec  int64
	text string
}

func httpDate() string {
	now := time.Now()
	if d := date.Load(); d != nil && d.sec == now.Unix() {
		return d.text
	}
	d := &dateText{sec: now.Unix(), text: now.UTC().Format(http.TimeFormat)}
	date.Store(d)
	return d.text
}
