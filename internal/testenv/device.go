package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Device is a well-behaved client device as docs/protocol.md describes one: it
// stays connected, reconnects with backoff when the connection ends (to
// whichever push node Pick returns, as a load balancer would), resumes with
// since=<last seq processed>, drops seqs it has processed, and acks.
//
// It records what a test needs to judge delivery: every message ID processed,
// duplicates dropped by seq, messages that arrived out of order (a new ID with
// a seq at or below one already processed, which a seq-deduping client would
// lose), close codes seen, and delivery latency (payloads carry "sent_ms").
type Device struct {
	User, Name string
	Token      string
	Pick       func() string // base ws:// URL to connect to

	mu          sync.Mutex
	lastSeq     uint64
	seen        map[string]uint64 // message id -> seq
	dups        int
	dupIDs      int // the same message ID again under a new seq: a real duplicate
	outOfOrder  int
	closeCodes  map[int]int
	latencies   []time.Duration
	connects    int
	dialErrors  int
	lastConnErr error
}

// NewDevice returns a device; Run starts it.
func NewDevice(user, name, token string, pick func() string) *Device {
	return &Device{User: user, Name: name, Token: token, Pick: pick, seen: map[string]uint64{}, closeCodes: map[int]int{}}
}

// Run keeps the device connected until ctx is done.
func (d *Device) Run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := d.session(ctx)
		if ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		d.lastConnErr = err
		d.mu.Unlock()
		// Jittered exponential backoff, capped low: tests want quick recovery.
		sleep := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, time.Second)
	}
}

func (d *Device) session(ctx context.Context) error {
	d.mu.Lock()
	since := d.lastSeq
	d.mu.Unlock()
	q := url.Values{"token": {d.Token}, "device": {d.Name}, "since": {strconv.FormatUint(since, 10)}}
	dialer := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
	c, _, err := dialer.DialContext(ctx, d.Pick()+"/ws?"+q.Encode(), nil)
	if err != nil {
		d.mu.Lock()
		d.dialErrors++
		d.mu.Unlock()
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	d.mu.Lock()
	d.connects++
	d.mu.Unlock()
	// Server pings (every 25 s by default) prove the connection alive: each
	// one extends the read deadline, as a real client's keep-alive would.
	c.SetPingHandler(func(data string) error {
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(3*time.Second))
	})
	for {
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, data, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				d.mu.Lock()
				d.closeCodes[ce.Code]++
				d.mu.Unlock()
			}
			return err
		}
		var f Frame
		if json.Unmarshal(data, &f) != nil || f.Type != "msg" {
			continue
		}
		if seq, ok := d.process(f); ok {
			c.SetWriteDeadline(time.Now().Add(3 * time.Second))
			c.WriteJSON(map[string]any{"type": "ack", "seq": seq})
		}
	}
}

func (d *Device) process(f Frame) (uint64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f.Seq <= d.lastSeq {
		if _, ok := d.seen[f.ID]; ok {
			d.dups++
		} else {
			d.outOfOrder++
		}
		return 0, false
	}
	d.lastSeq = f.Seq
	if _, ok := d.seen[f.ID]; ok {
		d.dupIDs++
	}
	d.seen[f.ID] = f.Seq
	var p struct {
		SentMS int64 `json:"sent_ms"`
	}
	if json.Unmarshal(f.Payload, &p) == nil && p.SentMS > 0 {
		d.latencies = append(d.latencies, time.Since(time.UnixMilli(p.SentMS)))
	}
	return f.Seq, true
}

// DeviceStats is what a device saw.
type DeviceStats struct {
	Seen       map[string]uint64
	Dups       int
	DupIDs     int
	OutOfOrder int
	CloseCodes map[int]int
	Latencies  []time.Duration
	Connects   int
	LastErr    error
}

// Stats returns a copy of what the device saw so far.
func (d *Device) Stats() DeviceStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := DeviceStats{Seen: make(map[string]uint64, len(d.seen)), Dups: d.dups, DupIDs: d.dupIDs, OutOfOrder: d.outOfOrder,
		CloseCodes: map[int]int{}, Latencies: append([]time.Duration(nil), d.latencies...), Connects: d.connects, LastErr: d.lastConnErr}
	for k, v := range d.seen {
		s.Seen[k] = v
	}
	for k, v := range d.closeCodes {
		s.CloseCodes[k] = v
	}
	return s
}

// Has reports whether the device processed message id.
func (d *Device) Has(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.seen[id]
	return ok
}

// Count is how many distinct messages the device processed.
func (d *Device) Count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}
