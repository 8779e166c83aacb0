package push

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// BenchmarkEncodeMsg is the per-recipient cost of a msg frame.
func BenchmarkEncodeMsg(b *testing.B) {
	d := herald.Delivery{ID: "01a2153b724b2795da010bef69a00bbe", Seq: 12345, Time: time.Now(), Topic: "news",
		Payload: json.RawMessage(`{"text":"hello from Herald","n":42}`)}
	b.ReportAllocs()
	for b.Loop() {
		encodeMsg(d)
	}
}

// BenchmarkHubDeliver is one message to one user with two connections,
// through the sharded hub into the connections' queues.
func BenchmarkHubDeliver(b *testing.B) {
	h := newHub(math.MaxInt)
	for u := range 10000 {
		for range 2 {
			c := &session{user: "u" + strconv.Itoa(u), send: newQueue(1 << 30)}
			c.writing.Store(true) // no writer: the benchmark drains the queues itself
			h.add(c)
		}
	}
	d := herald.Delivery{ID: "01a2153b724b2795da010bef69a00bbe", Seq: 1, Time: time.Now(), Payload: json.RawMessage(`{"n":1}`)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.User = "u" + strconv.Itoa(i%10000)
		h.deliver(d)
		i++
		if i%10000 == 0 { // keep the queues from growing without bound
			for _, c := range h.all() {
				c.send.take()
			}
		}
	}
}
