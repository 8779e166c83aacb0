package bench

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"
)

// sender is one benchmark sender's HTTP/1.1 connection: a request is one
// write of bytes built in place, and the answer is read on the same
// goroutine. Go's http.Client runs two goroutines per connection and hands
// every request and response between them; on two cores shared with the
// server, the load generator took more CPU than the server it measured
// (docs/benchmarks.md), so the senders speak the protocol themselves, as
// wrk does. It reads a status line, headers, and a body sized by
// Content-Length or chunked; anything else drops the connection.
type sender struct {
	addr string // host:port
	host string
	tls  *tls.Config // https targets; nil for http
	auth string      // the API key's header line, without its CRLF
	ok   int         // the status of an accepted request
	conn net.Conn
	br   *bufio.Reader
	req  []byte
}

func newSender(base, key string) (*sender, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	s := &sender{addr: u.Host, host: u.Host, auth: "Authorization: Bearer " + key, ok: 202}
	port := "80"
	switch u.Scheme {
	case "http":
	case "https":
		port = "443"
		s.tls = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
	default:
		return nil, fmt.Errorf("target %s: http or https", base)
	}
	if u.Port() == "" {
		s.addr = net.JoinHostPort(u.Hostname(), port)
	}
	return s, nil
}

// post sends body to path and reports whether the answer was s.ok (202). A
// connection that fails is dropped and dialled again on the next call.
func (s *sender) post(path string, body []byte) bool {
	status, err := s.roundTrip(path, body)
	if err != nil {
		s.close()
		return false
	}
	return status == s.ok
}

func (s *sender) roundTrip(path string, body []byte) (int, error) {
	if s.conn == nil {
		d := &net.Dialer{Timeout: 10 * time.Second}
		var c net.Conn
		var err error
		if s.tls != nil {
			c, err = tls.DialWithDialer(d, "tcp", s.addr, s.tls)
		} else {
			c, err = d.Dial("tcp", s.addr)
		}
		if err != nil {
			return 0, err
		}
		s.conn, s.br = c, bufio.NewReaderSize(c, 4096)
	}
	s.conn.SetDeadline(time.Now().Add(15 * time.Second))
	r := append(s.req[:0], "POST "...)
	r = append(r, path...)
	r = append(r, " HTTP/1.1\r\nHost: "...)
	r = append(r, s.host...)
	r = append(r, "\r\nContent-Type: application/json\r\n"...)
	r = append(r, s.auth...)
	r = append(r, "\r\nContent-Length: "...)
	r = strconv.AppendInt(r, int64(len(body)), 10)
	r = append(r, "\r\n\r\n"...)
	r = append(r, body...)
	s.req = r
	if _, err := s.conn.Write(r); err != nil {
		return 0, err
	}
	return s.readResponse()
}

var errResponse = errors.New("unexpected HTTP response")

// readResponse reads one response, discarding its body.
func (s *sender) readResponse() (int, error) {
	line, err := s.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	// "HTTP/1.1 202 Accepted\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, errResponse
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, errResponse
	}
	length, keep := -1, true
	for {
		h, err := s.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, errResponse
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return 0, errResponse
			}
			length = chunked
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		}
	}
	switch {
	case length == chunked:
		if err := s.discardChunks(); err != nil {
			return 0, err
		}
	case length < 0:
		return 0, errResponse
	default:
		if _, err := s.br.Discard(length); err != nil {
			return 0, err
		}
	}
	if !keep {
		s.close()
	}
	return status, nil
}

// chunked marks a body sent with Transfer-Encoding: chunked.
const chunked = -2

// discardChunks reads a chunked body (size lines, data, the last chunk and
// any trailers) and drops it.
func (s *sender) discardChunks() error {
	for {
		line, err := s.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(size), 16, 32)
		if err != nil || n < 0 {
			return errResponse
		}
		if n == 0 {
			break
		}
		if _, err := s.br.Discard(int(n) + 2); err != nil { // the data and its CRLF
			return err
		}
	}
	for { // trailers, then the blank line
		line, err := s.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}

func (s *sender) close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn, s.br = nil, nil
	}
}

// Poster is the load generator's sender for the other measuring tools
// (bench/floor), so that they pay for a request what `herald-bench` pays.
type Poster struct{ s *sender }

// NewPoster returns a sender to base (http or https) that sends key as a
// bearer token and counts 202 as accepted.
func NewPoster(base, key string) (*Poster, error) {
	s, err := newSender(base, key)
	if err != nil {
		return nil, err
	}
	return &Poster{s}, nil
}

// Post sends body to path and reports whether the answer was 202.
func (p *Poster) Post(path string, body []byte) bool { return p.s.post(path, body) }

// Close drops the connection.
func (p *Poster) Close() { p.s.close() }
