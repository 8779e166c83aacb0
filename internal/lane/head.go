package lane

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/textproto"
)

// head is what the lane needs of a request head it serves.
type head struct {
	route        *Route
	method, path string // the route's own strings
	host         string // interned: the bytes read are the buffer's, reused by the next read
	length       int
	closeAfter   bool // Connection: close
}

// readHead reads a request head into c.head (every byte, for a hand-off)
// and the header map, and returns it, or errHandOff when the request is not
// the simple case the lane serves, or a read error.
func (c *conn) readHead(br *bufio.Reader) (head, error) {
	var h head
	line, err := c.line(br)
	if err != nil {
		return h, err
	}
	method, rest, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || string(proto) != "HTTP/1.1" {
		return h, errHandOff
	}
	if h.route = c.s.route(method, target); h.route == nil {
		return h, errHandOff
	}
	h.method, h.path = h.route.Method, h.route.Path
	c.serving()
	hosts, lengths := 0, 0
	h.length = -1
	for {
		line, err := c.line(br)
		if err != nil {
			return h, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !validName(name) || !validValue(value) {
			return h, errHandOff // folded lines, a space before the colon, control bytes
		}
		value = bytes.Trim(value, " \t")
		isHost := false
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			hosts++
			isHost = true
			if !validHost(value) {
				return h, errHandOff
			}
		case bytes.EqualFold(name, []byte("Content-Length")):
			lengths++
			if h.length, ok = atoi(value); !ok {
				return h, errHandOff
			}
		case bytes.EqualFold(name, []byte("Connection")):
			switch {
			case bytes.EqualFold(value, []byte("close")):
				h.closeAfter = true
			case bytes.EqualFold(value, []byte("keep-alive")):
			default:
				return h, errHandOff
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")),
			bytes.EqualFold(name, []byte("Expect")),
			bytes.EqualFold(name, []byte("Upgrade")):
			return h, errHandOff
		}
		if c.nhdr == maxHeaders {
			return h, errHandOff
		}
		if v := c.addHeader(name, value); isHost {
			h.host = v
		}
	}
	if hosts != 1 || lengths != 1 || h.length > c.s.cfg.MaxBody {
		return h, errHandOff
	}
	return h, nil
}

// maxHeaders is the most header lines the lane takes; more go to net/http.
const maxHeaders = 64

// line reads one CRLF-terminated line, keeping its bytes in c.head, and
// returns it without the CRLF. A line without CR, or longer than the read
// buffer, or a head longer than MaxHead, is handed off.
func (c *conn) line(br *bufio.Reader) ([]byte, error) {
	b, err := br.ReadSlice('\n')
	c.head = append(c.head, b...)
	if errors.Is(err, bufio.ErrBufferFull) || (errors.Is(err, io.EOF) && len(c.head) > 0) {
		// Too long a line; or the client ended its side within the head,
		// which net/http answers (400) or not as it sees fit: it gets what
		// was read.
		return nil, errHandOff
	}
	if err != nil {
		return nil, err
	}
	if len(c.head) > c.s.cfg.MaxHead || len(b) < 2 || b[len(b)-2] != '\r' {
		return nil, errHandOff
	}
	return b[:len(b)-2], nil
}

// validName reports whether b is an HTTP token (RFC 9110, 5.6.2).
func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChar[c] {
			return false
		}
	}
	return true
}

// validValue refuses control bytes other than tab (and so CR and LF).
func validValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost allows the bytes of a host and port, IP literals included (what
// net/http's check allows, give or take: anything else goes to net/http).
func validHost(b []byte) bool {
	for _, c := range b {
		if !hostChar[c] {
			return false
		}
	}
	return true
}

var (
	hostChar  = charSet("-._~:[]%!$&'()*+,;=")
	tokenChar = charSet("!#$%&'*+-.^_`|~")
)

// charSet is a byte table of the ASCII letters and digits and extra.
func charSet(extra string) (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range extra {
		t[c] = true
	}
	return t
}

// atoi parses a Content-Length: 1 to 9 decimal digits, nothing else.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// addHeader puts a header line into the request's map, reusing the
// connection's strings for names and values it saw before (a sender repeats
// its headers on every request), so a request makes no new ones. It returns
// the value's string.
func (c *conn) addHeader(name, value []byte) string {
	key, ok := c.names[string(name)]
	if !ok {
		key = textproto.CanonicalMIMEHeaderKey(string(name))
		c.intern(c.names, string(name), key)
	}
	v, ok := c.values[string(value)]
	if !ok {
		v = string(value)
		c.intern(c.values, v, v)
	}
	c.vals[c.nhdr] = v
	if old, dup := c.hdr[key]; dup {
		c.hdr[key] = append(old[:len(old):len(old)], v)
	} else {
		c.hdr[key] = c.vals[c.nhdr : c.nhdr+1 : c.nhdr+1]
	}
	c.nhdr++
	return v
}

// intern remembers k -> v, forgetting everything once the map is full, so a
// sender that varies its headers cannot grow it.
func (c *conn) intern(m map[string]string, k, v string) {
	if len(m) >= 2*maxHeaders {
		clear(m)
	}
	m[k] = v
}
