package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// Topics and broadcasts through the SDK: subscribed on connect and with
// Subscribe, refused topics reported, and after a server restart each topic
// resumes where it stopped (no loss, no repeat).
func TestClientTopicsResumeAcrossARestart(t *testing.T) {
	dir, addr := t.TempDir(), testenv.FreePort(t, "127.0.0.1")
	proc, api := startAll(t, dir, addr)
	var mu sync.Mutex
	got := map[string][]uint64{}
	var refused []string
	mint := api // the server comes back on the same address with the same key
	c, err := client.New(client.Options{
		URL: "ws://" + addr,
		TokenFunc: func(ctx context.Context) (string, error) {
			return mint.TokenTopicsCtx(ctx, "alice", "news", "sport")
		},
		Topics: []string{"news"},
		OnPub: func(p client.Pub) {
			mu.Lock()
			got[p.Topic] = append(got[p.Topic], p.Seq)
			mu.Unlock()
		},
		OnSubRefused: func(topic, code, _ string) {
			mu.Lock()
			refused = append(refused, topic+":"+code)
			mu.Unlock()
		},
		MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	count := func(topic string) int { mu.Lock(); defer mu.Unlock(); return len(got[topic]) }
	last := func(topic string) uint64 {
		mu.Lock()
		defer mu.Unlock()
		if len(got[topic]) == 0 {
			return 0
		}
		return got[topic][len(got[topic])-1]
	}
	// A subscription is in place once a topic message sent now arrives
	// (one sent before its start is stored but not delivered: a new
	// subscription starts at the topic's newest seq).
	subscribed := func(topic string) {
		t.Helper()
		waitFor(t, "the "+topic+" subscription", func() bool {
			if count(topic) == 0 {
				api.Do(t, "POST", "/v1/topics/"+topic+"/messages", map[string]any{"payload": "probe"})
			}
			return count(topic) > 0
		})
	}
	subscribed("news")
	c.Subscribe("sport", "secret")
	waitFor(t, "the refusal of secret", func() bool { mu.Lock(); defer mu.Unlock(); return len(refused) == 1 })
	subscribed("sport")
	// A probe still on its way may arrive after these: the waits are for the
	// last seq posted, and the checks at the end for each seq once, in order.
	var sportLast uint64
	for i := range 3 {
		sportLast = postTopic(t, api, "sport", i)
		api.Do(t, "POST", "/v1/topics/news/messages", map[string]any{"payload": i})
	}
	api.Do(t, "POST", "/v1/broadcast", map[string]any{"payload": "b1"})
	waitFor(t, "3 sport messages and a broadcast", func() bool { return last("sport") == sportLast && count("*") == 1 })

	// Restart; meanwhile more of each is stored.
	proc.Signal(syscall.SIGTERM)
	if err := proc.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	_, api = startAll(t, dir, addr)
	for i := 3; i < 6; i++ {
		sportLast = postTopic(t, api, "sport", i)
	}
	api.Do(t, "POST", "/v1/broadcast", map[string]any{"payload": "b2"})
	waitFor(t, "6 sport messages and 2 broadcasts", func() bool { return last("sport") == sportLast && count("*") == 2 })
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got["*"]) != "[1 2]" {
		t.Fatalf("broadcasts %v: want each once, in order", got["*"])
	}
	for _, topic := range []string{"news", "sport"} {
		for i, s := range got[topic] {
			if s != got[topic][0]+uint64(i) {
				t.Fatalf("%s %v: not in order or not contiguous", topic, got[topic])
			}
		}
	}
	if fmt.Sprint(refused) != "[secret:forbidden]" {
		t.Fatalf("refused %v", refused)
	}
}

// postTopic publishes payload to topic and returns the message's seq.
func postTopic(t *testing.T, api probe.API, topic string, payload any) uint64 {
	t.Helper()
	code, body := api.Do(t, "POST", "/v1/topics/"+topic+"/messages", map[string]any{"payload": payload})
	var r struct{ Seq uint64 }
	if err := json.Unmarshal(body, &r); code != 202 || err != nil || r.Seq == 0 {
		t.Fatalf("publish to %s: %d %s", topic, code, body)
	}
	return r.Seq
}
