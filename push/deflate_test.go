package push

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldpush/herald"
)

// One message to a user's devices, some with permessage-deflate and some
// without, JSON and protobuf: compressed once per encoding, every device
// reads it whole.
func TestSharedCompressedFrame(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(t, "z")
	type dev struct {
		c     *websocket.Conn
		proto bool
	}
	var devs []dev
	for _, d := range []struct{ compress, proto bool }{{true, false}, {true, false}, {false, false}, {true, true}, {true, true}} {
		dl := websocket.Dialer{EnableCompression: d.compress}
		if d.proto {
			dl.Subprotocols = []string{ProtobufProtocol}
		}
		c, resp, err := dl.Dial(f.ws+"/?token="+tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := resp.Header.Get("Sec-WebSocket-Extensions") != ""; got != d.compress {
			t.Fatalf("compression agreed %v, offered %v", got, d.compress)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		c.ReadMessage() // hello
		devs = append(devs, dev{c, d.proto})
	}
	payload := `{"text":"` + strings.Repeat("many devices, one compression ", 60) + `"}`
	f.svc.Deliver(t.Context(), []*herald.Message{f.storeMsg(t, payload, "z")})
	for i, d := range devs {
		d.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := d.c.ReadMessage()
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		if d.proto {
			if got := mustUnmarshal(t, b).GetMsg(); string(got.GetPayload()) != payload {
				t.Fatalf("device %d: %q", i, got.GetPayload())
			}
		} else if !strings.Contains(string(b), payload) {
			t.Fatalf("device %d: %q", i, b)
		}
	}
}
