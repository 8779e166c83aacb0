package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// tokens mints a token per user through POST /v1/tokens, concurrently, with
// the topics claim when topics are given.
func tokens(ctx context.Context, authURL, key string, users []string, topics ...string) ([]string, error) {
	out := make([]string, len(users))
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(users) || ctx.Err() != nil {
					return
				}
				body, _ := json.Marshal(map[string]any{"user": users[i], "ttl_seconds": 3600, "topics": topics})
				req, _ := http.NewRequestWithContext(ctx, "POST", authURL+"/v1/tokens", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := client.Do(req)
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("mint token: status %d", resp.StatusCode)
				}
				if err == nil {
					var r struct{ Token string }
					err = json.NewDecoder(resp.Body).Decode(&r)
					out[i] = r.Token
				}
				if resp != nil {
					resp.Body.Close()
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

// receiver counts what one user's connection receives.
type receiver struct {
	lastSeq    uint64
	outOfOrder int64
}

// conn is one benchmark client connection.
type conn struct {
	ws   *websocket.Conn
	user int
}

// dialer returns a dialer bound to the i-th source address (spreading client
// connections over 127.0.0.x addresses multiplies the ephemeral ports available).
func dialer(sources []string, i int) *websocket.Dialer {
	d := &websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 256}
	if len(sources) > 0 {
		local := &net.TCPAddr{IP: net.ParseIP(sources[i%len(sources)])}
		nd := &net.Dialer{LocalAddr: local, Timeout: 30 * time.Second}
		d.NetDialContext = nd.DialContext
	}
	return d
}

// connectAll opens one connection per token, spread over the push URLs and
// source addresses, with limited concurrency, and reads each hello.
func connectAll(ctx context.Context, cfg Config, toks []string) ([]*conn, time.Duration, error) {
	conns := make([]*conn, len(toks))
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(toks) || ctx.Err() != nil {
					return
				}
				base := cfg.WS[i%len(cfg.WS)]
				ws, _, err := dialer(cfg.SourceIPs, i).DialContext(ctx, base+"/ws?token="+url.QueryEscape(toks[i]), nil)
				if err == nil {
					ws.SetReadDeadline(time.Now().Add(30 * time.Second))
					_, _, err = ws.ReadMessage() // hello
					ws.SetReadDeadline(time.Time{})
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					if ws != nil {
						ws.Close()
					}
					continue
				}
				conns[i] = &conn{ws: ws, user: i}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		closeAll(conns)
		return nil, elapsed, fmt.Errorf("%d of %d connections failed; first: %v", n, len(toks), firstErr.Load())
	}
	return conns, elapsed, nil
}

// subscribeAll subscribes every connection to topic and waits for each
// answer, so that sending starts with every subscriber in place.
func subscribeAll(ctx context.Context, conns []*conn, topic string) error {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	sub, _ := json.Marshal(map[string]any{"type": "sub", "topics": []string{topic}})
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(conns) || ctx.Err() != nil {
					return
				}
				ws := conns[i].ws
				err := ws.WriteMessage(websocket.TextMessage, sub)
				ws.SetReadDeadline(time.Now().Add(30 * time.Second))
				for err == nil {
					var b []byte
					if _, b, err = ws.ReadMessage(); err == nil {
						if bytes.HasPrefix(b, []byte(`{"type":"subscribed"`)) {
							break
						}
						if bytes.HasPrefix(b, []byte(`{"type":"sub_refused"`)) {
							err = fmt.Errorf("subscription refused: %s", b)
						}
					}
				}
				ws.SetReadDeadline(time.Time{})
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
}

func closeAll(conns []*conn) {
	for _, c := range conns {
		if c != nil {
			c.ws.Close()
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
