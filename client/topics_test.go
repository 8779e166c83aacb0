package client_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/testenv"
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
	// The subscription is in place once a topic message sent now arrives.
	waitFor(t, "the news subscription", func() bool {
		if count("news") > 0 {
			return true
		}
		api.Do(t, "POST", "/v1/topics/news/messages", map[string]any{"payload": "probe"})
		time.Sleep(100 * time.Millisecond)
		return count("news") > 0
	})
	c.Subscribe("sport", "secret")
	waitFor(t, "the refusal of secret", func() bool { mu.Lock(); defer mu.Unlock(); return len(refused) == 1 })
	time.Sleep(200 * time.Millisecond) // the sport subscription is answered before the refusal is; give it a moment
	for i := range 3 {
		api.Do(t, "POST", "/v1/topics/sport/messages", map[string]any{"payload": i})
		api.Do(t, "POST", "/v1/topics/news/messages", map[string]any{"payload": i})
	}
	api.Do(t, "POST", "/v1/broadcast", map[string]any{"payload": "b1"})
	waitFor(t, "3 sport messages and a broadcast", func() bool { return count("sport") == 3 && count("*") == 1 })

	// Restart; meanwhile more of each is stored.
	proc.Signal(syscall.SIGTERM)
	if err := proc.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	_, api = startAll(t, dir, addr)
	for i := 3; i < 6; i++ {
		api.Do(t, "POST", "/v1/topics/sport/messages", map[string]any{"payload": i})
	}
	api.Do(t, "POST", "/v1/broadcast", map[string]any{"payload": "b2"})
	waitFor(t, "6 sport messages and 2 broadcasts", func() bool { return count("sport") == 6 && count("*") == 2 })
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got["sport"]) != "[1 2 3 4 5 6]" || fmt.Sprint(got["*"]) != "[1 2]" {
		t.Fatalf("sport %v, broadcasts %v: want each once, in order", got["sport"], got["*"])
	}
	for i, s := range got["news"] {
		if s != got["news"][0]+uint64(i) {
			t.Fatalf("news %v: not in order or not contiguous", got["news"])
		}
	}
	if fmt.Sprint(refused) != "[secret:forbidden]" {
		t.Fatalf("refused %v", refused)
	}
}
