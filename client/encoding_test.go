package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/testenv"
)

// The SDK on the herald.v1.protobuf subprotocol, with permessage-deflate:
// messages (one of 2 KiB, which comes compressed), a topic's and a
// broadcast arrive as sent; its acks count, so the device's next
// connection, in JSON, starts after them.
func TestProtobufEncoding(t *testing.T) {
	dir, addr := t.TempDir(), testenv.FreePort(t, "127.0.0.1")
	_, api := startAll(t, dir, addr)
	var mu sync.Mutex
	var hellos []client.Hello
	var msgs []client.Message
	var pubs []client.Pub
	run := func(enc client.Encoding) (stop func()) {
		c, err := client.New(client.Options{
			URL:       "ws://" + addr,
			TokenFunc: func(ctx context.Context) (string, error) { return api.TokenTopicsCtx(ctx, "pat", "news") },
			Device:    "tablet",
			Encoding:  enc,
			Topics:    []string{"news"},
			OnMessage: func(m client.Message) { mu.Lock(); msgs = append(msgs, m); mu.Unlock() },
			OnPub:     func(p client.Pub) { mu.Lock(); pubs = append(pubs, p); mu.Unlock() },
			OnConnected: func(h client.Hello) {
				mu.Lock()
				hellos = append(hellos, h)
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	counts := func() (int, int, int) { mu.Lock(); defer mu.Unlock(); return len(hellos), len(msgs), len(pubs) }

	stop := run(client.Protobuf)
	waitFor(t, "hello", func() bool { h, _, _ := counts(); return h == 1 })
	if hellos[0].Encoding != client.Protobuf || hellos[0].User != "pat" {
		t.Fatalf("hello: %+v", hellos[0])
	}
	long := map[string]string{"text": strings.Repeat("a long notification body ", 80)}
	api.Send(t, []string{"pat"}, "short")
	longID := api.Send(t, []string{"pat"}, long)
	// The subscription is in place once a topic message sent now arrives
	// (one sent before it is stored, not delivered: a new subscription
	// starts at the topic's newest seq).
	waitFor(t, "the news subscription", func() bool {
		if _, _, p := counts(); p > 0 {
			return true
		}
		if code, body := api.Do(t, "POST", "/v1/topics/news/messages", map[string]any{"payload": 7}); code != 202 {
			t.Fatalf("topic message: %d %s", code, body)
		}
		return false
	})
	api.Do(t, "POST", "/v1/broadcast", map[string]any{"payload": "all"})
	waitFor(t, "2 messages and the broadcast", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(msgs) == 2 && slices.ContainsFunc(pubs, func(p client.Pub) bool { return p.Topic == client.Broadcast })
	})
	var got map[string]string
	if string(msgs[0].Payload) != `"short"` || json.Unmarshal(msgs[1].Payload, &got) != nil || got["text"] != long["text"] || msgs[1].Seq != 2 {
		t.Fatalf("messages: %s / %d bytes", msgs[0].Payload, len(msgs[1].Payload))
	}
	topics := map[string]string{}
	for _, p := range pubs {
		topics[p.Topic] = string(p.Payload)
	}
	if topics["news"] != "7" || topics[client.Broadcast] != `"all"` {
		t.Fatalf("pubs: %v", topics)
	}
	// The ack of the second reached the server (its receipt says so).
	testenv.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		_, b := api.Do(t, "GET", "/v1/messages/"+longID, nil)
		if !strings.Contains(string(b), `"status":"acked"`) {
			return fmt.Errorf("receipt: %s", b)
		}
		return nil
	})
	stop()

	api.Send(t, []string{"pat"}, "third")
	stop = run(client.JSON)
	defer stop()
	waitFor(t, "the third message", func() bool { _, m, _ := counts(); return m == 3 })
	if msgs[2].Seq != 3 || hellos[1].Encoding != client.JSON {
		t.Fatalf("after reconnecting in JSON: seq %d, %+v", msgs[2].Seq, hellos[1])
	}
}
