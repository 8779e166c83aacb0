package lane

import (
	"net/http"
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

// appendTo appends the answer as HTTP/1.1 to b: the status line, the
// handler's headers as net/http would write them (invalid names dropped,
// line breaks in values made spaces, a Content-Type sniffed when the handler
// set none), Date unless set, the body's
// Content-Length, and Connection: close when the connection closes after.
func (w *response) appendTo(b []byte, closeAfter bool) []byte {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	b = statusLine(b, w.status)
	if _, ok := w.h["Content-Type"]; !ok && len(w.body) > 0 {
		w.h.Set("Content-Type", http.DetectContentType(w.body)) // as net/http does
	}
	for k, vs := range w.h {
		if !validName([]byte(k)) || k == "Content-Length" || k == "Connection" {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, strings.TrimSpace(newlineToSpace.Replace(v))...)
			b = append(b, "\r\n"...)
		}
	}
	if _, ok := w.h["Date"]; !ok {
		b = append(b, "Date: "...)
		b = append(b, httpDate()...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(w.body)), 10)
	b = append(b, "\r\n"...)
	if closeAfter {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, w.body...)
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
