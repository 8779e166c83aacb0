package lane

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"slices"
	"testing"
	"testing/iotest"
)

// FuzzHead checks the lane against net/http's own parser: whatever head the
// lane takes, net/http reads the same request from the same bytes (method,
// path, host, length, every header, body), so serving it here instead of
// there changes nothing. Heads the lane hands off are net/http's anyway.
func FuzzHead(f *testing.F) {
	for _, s := range []string{
		"POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi",
		"POST /send HTTP/1.1\r\nHost: h:80\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nIdempotency-Key: a\r\nContent-Length: 0\r\n\r\n",
		"POST /send HTTP/1.1\r\nhost: [::1]:8080\r\nconnection: close\r\ncontent-length: 3\r\nx-a: 1\r\nX-A: 2\r\n\r\nabc",
		"POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /send HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\nContent-Length: 1\r\n\r\nx",
		"POST /send HTTP/1.1\r\nHost: h\r\nContent-Length:\t 01 \t\r\n\r\nx",
		"POST /send HTTP/1.1\r\nHost: example.com\r\nX-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nX-B: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	srv := &Server{cfg: Config{Routes: []Route{{Method: "POST", Path: "/send"}}, MaxBody: 1 << 10, MaxHead: 16 << 10}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := &conn{s: srv, session: &session{hdr: http.Header{}, names: map[string]string{}, values: map[string]string{}}}
		// A byte at a time, as a head may arrive over a socket: the read
		// buffer then slides under the lines already read.
		br := bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(raw)), 4096)
		h, err := c.readHead(br)
		if err != nil {
			return // handed off, or cut short: net/http's or nobody's
		}
		if !bytes.HasPrefix(raw, c.head) {
			t.Fatalf("kept head %q is not the input's start", c.head)
		}
		body := make([]byte, h.length)
		if _, err := io.ReadFull(br, body); err != nil {
			return // the body is cut short: the lane closes the connection
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("the lane took a head net/http refuses (%v):\n%q", err, raw)
		}
		want, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatalf("net/http cannot read the body the lane read: %v", err)
		}
		switch {
		case req.Method != h.method, req.URL.Path != h.path, req.URL.RawQuery != "", req.Host != h.host,
			req.ContentLength != int64(h.length), req.Close != h.closeAfter, !bytes.Equal(want, body):
			t.Fatalf("net/http reads %s %s host %q length %d close %v body %q; the lane %s %s host %q length %d close %v body %q",
				req.Method, req.URL, req.Host, req.ContentLength, req.Close, want, h.method, h.path, h.host, h.length, h.closeAfter, body)
		}
		delete(req.Header, "Host") // net/http moves it to req.Host
		for k, v := range c.hdr {
			if k == "Host" {
				continue
			}
			if !slices.Equal(req.Header[k], v) {
				t.Fatalf("header %q: net/http %q, lane %q", k, req.Header[k], v)
			}
		}
		for k := range req.Header {
			if _, ok := c.hdr[k]; !ok {
				t.Fatalf("header %q: net/http has it, the lane does not", k)
			}
		}
	})
}
