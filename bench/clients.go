package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// tokens mints a token per user through POST /v1/tokens, concurrently, with
// the topics claim when topics are given.
func tokens(ctx context.Context, authURL, key string, users []string, topics ...string) ([]string, error) {
	out := make([]string, len(users))
	client := &http.Client{Timeout: 10 * time.Second}
	_, err := parallel(ctx, len(users), 16, true, func(i int) error {
		req := map[string]any{"user": users[i], "ttl_seconds": 3600}
		if len(topics) > 0 {
			req["topics"] = topics // only then: a server older than topics refuses the field
		}
		body, _ := json.Marshal(req)
		hreq, _ := http.NewRequestWithContext(ctx, "POST", authURL+"/v1/tokens", bytes.NewReader(body))
		hreq.Header.Set("Content-Type", "application/json")
		hreq.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(hreq)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("mint token: status %d", resp.StatusCode)
		}
		var r struct{ Token string }
		err = json.NewDecoder(resp.Body).Decode(&r)
		out[i] = r.Token
		return err
	})
	return out, err
}

// benchUsers names n users prefix0 .. prefix<n-1>.
func benchUsers(prefix string, n int) []string {
	users := make([]string, n)
	for i := range users {
		users[i] = prefix + strconv.Itoa(i)
	}
	return users
}

// parallel runs fn(0..n-1) on workers goroutines and returns how many calls
// failed and the first error; with stop, the first error ends the run.
func parallel(ctx context.Context, n, workers int, stop bool, fn func(i int) error) (int64, error) {
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil || (stop && failed.Load() > 0) {
					return
				}
				if err := fn(i); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	err, _ := firstErr.Load().(error)
	return failed.Load(), err
}

// receiver counts what one user's connection receives.
type receiver struct {
	lastSeq    uint64
	outOfOrder int64
}

// conn is one benchmark client connection. Its reader runs from the hello
// on, as a real client's does: a connection opened early in a connect phase
// that took longer than the server's pong timeout (18,000 handshakes on a
// slow store) went unread, answered no ping, and was closed by the server
// before the run began. What the reader does with a frame is the run's
// handler, set when the run starts; until then it only watches for the
// answer to a subscription.
type conn struct {
	ws         *websocket.Conn
	centrifugo bool // frames are Centrifugo's (peer.go)
	user       int
	handler    atomic.Pointer[func(frame []byte)]
	subscribed chan error    // the answer to a sub (subscribeAll)
	done       chan struct{} // closed when the reader stops
}

// read is the connection's reader: frames go to the handler once one is
// set. Pings are answered inside ReadMessage/NextReader (gorilla's default
// handler).
func (c *conn) read() {
	defer close(c.done)
	var b []byte // one buffer for every frame: no allocation per message
	for {
		_, fr, err := c.ws.NextReader()
		if err == nil {
			b, err = readAll(b[:0], fr)
		}
		if err != nil {
			return
		}
		if c.centrifugo {
			var h func([]byte)
			if p := c.handler.Load(); p != nil {
				h = *p
			}
			if centrifugoFrame(c.ws, b, h) != nil {
				return
			}
			continue
		}
		if h := c.handler.Load(); h != nil {
			(*h)(b)
			continue
		}
		refused, done := subAnswer(b, c.ws.Subprotocol() == protobufProtocol)
		if !done {
			continue
		}
		var answer error
		if refused {
			answer = fmt.Errorf("subscription refused: %q", b)
		}
		select {
		case c.subscribed <- answer:
		default:
		}
	}
}

// dialer returns a dialer bound to the i-th source address (spreading client
// connections over 127.0.0.x addresses multiplies the ephemeral ports available).
func dialer(sources []string, i int, compress, protobuf bool) *websocket.Dialer {
	d := &websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 256, EnableCompression: compress}
	if protobuf {
		d.Subprotocols = []string{protobufProtocol}
	}
	nd := &net.Dialer{Timeout: 30 * time.Second}
	if len(sources) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: net.ParseIP(sources[i%len(sources)])}
		nd.Control = bindNoPort
	}
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countedConn{c}, nil
	}
	return d
}

// wireIn counts the bytes every client connection of this process read:
// the server's frames as they crossed the wire (compressed or not).
var wireIn atomic.Int64

type countedConn struct{ net.Conn }

func (c countedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	wireIn.Add(int64(n))
	return n, err
}

// connectAll opens one connection per token, spread over the push URLs and
// source addresses, with limited concurrency, and reads each hello.
func connectAll(ctx context.Context, cfg Config, toks []string) ([]*conn, time.Duration, error) {
	conns := make([]*conn, len(toks))
	start := time.Now()
	failed, err := parallel(ctx, len(toks), 64, false, func(i int) error {
		// By the connection's number across every load-generator process,
		// so that the processes together spread evenly too.
		g := cfg.Offset + i
		base := cfg.WS[g%len(cfg.WS)]
		ws, err := cfg.dial(ctx, dialer(cfg.SourceIPs, g, cfg.Compress, cfg.Protobuf), base, toks[i])
		if err != nil {
			return err
		}
		conns[i] = &conn{ws: ws, user: i, centrifugo: cfg.centrifugo(), subscribed: make(chan error, 1), done: make(chan struct{})}
		go conns[i].read()
		return nil
	})
	elapsed := time.Since(start)
	if failed > 0 {
		closeAll(conns)
		return nil, elapsed, fmt.Errorf("%d of %d connections failed; first: %v", failed, len(toks), err)
	}
	return conns, elapsed, nil
}

// subscribeAll subscribes every connection to topic and waits for each
// answer, so that sending starts with every subscriber in place.
func subscribeAll(ctx context.Context, conns []*conn, topic string) error {
	sub, _ := json.Marshal(map[string]any{"type": "sub", "topics": []string{topic}})
	_, err := parallel(ctx, len(conns), 64, true, func(i int) error {
		c := conns[i]
		protobuf := c.ws.Subprotocol() == protobufProtocol
		frame := sub
		if protobuf {
			frame = protoSub(topic)
		}
		if err := c.ws.WriteMessage(dataType(protobuf), frame); err != nil {
			return err
		}
		select {
		case err := <-c.subscribed:
			return err
		case <-c.done:
			return errors.New("connection closed before the subscription was answered")
		case <-time.After(30 * time.Second):
			return errors.New("no answer to the subscription within 30 s")
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
}

// closeAll closes every connection and waits (up to a few seconds) for
// their readers to stop, so that what the handlers counted is final.
func closeAll(conns []*conn) {
	for _, c := range conns {
		if c != nil {
			c.ws.Close()
		}
	}
	deadline := time.After(5 * time.Second)
	for _, c := range conns {
		if c == nil {
			continue
		}
		select {
		case <-c.done:
		case <-deadline:
			return
		}
	}
}

// parseMsg pulls seq and the payload's send time ("t", Unix ns) out of a msg
// or pub frame without a full JSON decode: at 150,000 frames a second on the
// same two cores as the server, the load generator must stay light.
func parseMsg(b []byte) (seq uint64, sent int64, ok bool) {
	if !bytes.HasPrefix(b, []byte(`{"type":"msg"`)) && !bytes.HasPrefix(b, []byte(`{"type":"pub"`)) {
		return 0, 0, false
	}
	seq, ok1 := uintAfter(b, []byte(`"seq":`))
	t, ok2 := uintAfter(b, []byte(`"t":`))
	return seq, int64(t), ok1 && ok2
}

func uintAfter(b, key []byte) (uint64, bool) {
	i := bytes.Index(b, key)
	if i < 0 {
		return 0, false
	}
	var n uint64
	j := i + len(key)
	start := j
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		n = n*10 + uint64(b[j]-'0')
		j++
	}
	return n, j > start
}
