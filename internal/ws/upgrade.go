// Package ws is the server side of the WebSocket protocol (RFC 6455) as a
// push node needs it: the opening handshake over net/http, an incremental
// frame parser that is fed whatever bytes arrive and keeps nothing between
// frames, and frame encoding into a caller's buffer. It holds no goroutine
// and no buffer per idle connection, which is the point: gorilla/websocket
// keeps a reader goroutine blocked and buffers per connection, four to five
// times the memory of everything else a connection needs
// (docs/design/performance-log.md). permessage-deflate (deflate.go) is
// offered with no context takeover, so it adds no state to an idle
// connection either; a subprotocol is the caller's choice (Accepted).
package ws

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// CheckRequest reports whether r is a WebSocket opening handshake this
// server accepts, so the caller can answer a plain HTTP error before
// anything is hijacked.
func CheckRequest(r *http.Request) error {
	switch {
	case r.Method != http.MethodGet:
		return errors.New("a WebSocket upgrade must be a GET")
	case !headerHasToken(r.Header, "Connection", "upgrade"), !headerHasToken(r.Header, "Upgrade", "websocket"):
		return errors.New("expected a WebSocket upgrade request")
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return errors.New("unsupported Sec-WebSocket-Version: this server speaks 13")
	}
	key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key"))
	if err != nil || len(key) != 16 {
		return errors.New("Sec-WebSocket-Key must be 16 bytes in base64")
	}
	return nil
}

// Accepted is what the server's 101 answer agrees to beyond RFC 6455: the
// Sec-WebSocket-Extensions (NegotiateDeflate's answer) and the
// Sec-WebSocket-Protocol, each empty for none.
type Accepted struct {
	Extensions string
	Protocol   string
}

// Upgrade completes the handshake of a request CheckRequest accepted with
// no extension or subprotocol.
func Upgrade(w http.ResponseWriter, r *http.Request) (conn net.Conn, rest []byte, err error) {
	return UpgradeWith(w, r, Accepted{})
}

// UpgradeWith completes the handshake of a request CheckRequest accepted:
// it takes the connection from the HTTP server, clears the server's
// deadlines and writes the 101 answer with what a agrees to. rest holds
// any bytes the client sent after its request (its first frames), which
// the caller must parse before reading.
func UpgradeWith(w http.ResponseWriter, r *http.Request, a Accepted) (conn net.Conn, rest []byte, err error) {
	if err := CheckRequest(r); err != nil {
		return nil, nil, err
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("ws: the HTTP server cannot hand over the connection")
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("ws: hijack: %w", err)
	}
	if n := brw.Reader.Buffered(); n > 0 {
		peek, _ := brw.Reader.Peek(n)
		rest = append([]byte(nil), peek...)
	}
	_ = conn.SetDeadline(time.Time{})
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		acceptKey(r.Header.Get("Sec-WebSocket-Key"))
	if a.Extensions != "" {
		resp += "\r\nSec-WebSocket-Extensions: " + a.Extensions
	}
	if a.Protocol != "" {
		resp += "\r\nSec-WebSocket-Protocol: " + a.Protocol
	}
	resp += "\r\n\r\n"
	if _, err := conn.Write([]byte(resp)); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("ws: write handshake: %w", err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, rest, nil
}

// acceptKey is RFC 6455's proof that the server read the handshake.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// OffersProtocol reports whether the handshake lists protocol in
// Sec-WebSocket-Protocol (subprotocol names are case-sensitive).
func OffersProtocol(h http.Header, protocol string) bool {
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for t := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(t) == protocol {
				return true
			}
		}
	}
	return false
}

// headerHasToken reports whether a comma-separated header lists token,
// ignoring case ("Connection: keep-alive, Upgrade" from Firefox).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
