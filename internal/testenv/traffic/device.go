package traffic

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldpush/herald/client"
)

// Device is a client device in tests, built on the Go SDK (package client):
// it stays connected, reconnects with backoff to whichever push node Pick
// returns (as a load balancer would), resumes after the last seq processed,
// drops repeats and acks.
//
// Through the SDK's OnFrame hook it also records what a test needs to judge
// delivery: every message ID processed, repeats the SDK dropped, messages
// that arrived out of order (a new ID with a seq at or below one already
// processed, which a seq-deduping client loses), the same ID under a new seq
// (a real duplicate), close codes, and latency (payloads carry "sent_ms").
type Device struct {
	User, Name string
	Token      string
	Pick       func() string // base ws:// URL to connect to
	// MaxBackoff caps the reconnect backoff (jittered, exponential; default 1 s).
	MaxBackoff time.Duration

	mu          sync.Mutex
	lastSeq     uint64
	seen        map[string]uint64 // message id -> seq
	dups        int
	dupIDs      int
	outOfOrder  int
	closeCodes  map[int]int
	latencies   []time.Duration
	connects    int
	lastConnErr error
}

// NewDevice returns a device; Run starts it.
func NewDevice(user, name, token string, pick func() string) *Device {
	return &Device{User: user, Name: name, Token: token, Pick: pick, seen: map[string]uint64{}, closeCodes: map[int]int{}}
}

// Run keeps the device connected until ctx is done.
func (d *Device) Run(ctx context.Context) {
	c, err := client.New(client.Options{
		URLFunc:    d.Pick,
		Token:      d.Token,
		Device:     d.Name,
		MinBackoff: 50 * time.Millisecond,
		MaxBackoff: cmp.Or(d.MaxBackoff, time.Second),
		OnFrame:    d.frame,
		OnMessage:  d.message,
		OnConnected: func(client.Hello) {
			d.mu.Lock()
			d.connects++
			d.mu.Unlock()
		},
		OnDisconnected: func(err error) {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.lastConnErr = err
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				d.closeCodes[ce.Code]++
			}
		},
	})
	if err != nil {
		d.mu.Lock()
		d.lastConnErr = err
		d.mu.Unlock()
		return
	}
	c.Run(ctx)
}

// frame sees every msg frame, before the SDK drops repeats.
func (d *Device) frame(m client.Message) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m.Seq <= d.lastSeq {
		if _, ok := d.seen[m.ID]; ok {
			d.dups++
		} else {
			d.outOfOrder++
		}
		return
	}
	if _, ok := d.seen[m.ID]; ok {
		d.dupIDs++
	}
}

// message gets each message the SDK hands over: once, in seq order.
func (d *Device) message(m client.Message) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastSeq = m.Seq
	d.seen[m.ID] = m.Seq
	var p struct {
		SentMS int64 `json:"sent_ms"`
	}
	if json.Unmarshal(m.Payload, &p) == nil && p.SentMS > 0 {
		d.latencies = append(d.latencies, time.Since(time.UnixMilli(p.SentMS)))
	}
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
	LastSeq    uint64
}

// Stats returns a copy of what the device saw so far.
func (d *Device) Stats() DeviceStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := DeviceStats{Seen: make(map[string]uint64, len(d.seen)), Dups: d.dups, DupIDs: d.dupIDs, OutOfOrder: d.outOfOrder,
		CloseCodes: map[int]int{}, Latencies: append([]time.Duration(nil), d.latencies...), Connects: d.connects, LastErr: d.lastConnErr, LastSeq: d.lastSeq}
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
