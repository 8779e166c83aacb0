package client_test

import (
	"context"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/testenv"
)

// The store of a running herald all is wiped (stopped, its data directory
// deleted, started again with the same secrets): its seqs begin again under
// a new epoch, and the client, which had processed seq 3, receives the new
// stream's messages from seq 1 rather than dropping them as repeats.
func TestClientSurvivesAWipedStore(t *testing.T) {
	dir, addr := t.TempDir(), testenv.FreePort(t, "127.0.0.1")
	secrets := []string{"--api-key", "wipe-test-api-key-0123456789", "--jwt-secret", "wipe-test-jwt-secret-0123456789abcdef"}
	proc, api := startAll(t, dir, addr, secrets...)
	api.Key = secrets[1]
	var in inbox
	c, err := client.New(client.Options{
		URL:         "ws://" + addr,
		Device:      "laptop",
		TokenFunc:   func(ctx context.Context) (string, error) { return mintToken(ctx, api, "alice") },
		OnMessage:   in.add,
		OnConnected: in.hello,
		MinBackoff:  50 * time.Millisecond,
		MaxBackoff:  500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	waitFor(t, "first connection", func() bool { in.mu.Lock(); defer in.mu.Unlock(); return len(in.conn) == 1 })
	for i := range 3 {
		api.Send(t, []string{"alice"}, i)
	}
	waitFor(t, "3 messages", func() bool { return in.count() == 3 })

	proc.Signal(syscall.SIGTERM)
	if err := proc.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	startAll(t, dir, addr, secrets...)
	waitFor(t, "the second connection", func() bool { in.mu.Lock(); defer in.mu.Unlock(); return len(in.conn) >= 2 })
	for i := range 2 {
		api.Send(t, []string{"alice"}, 10+i)
	}
	waitFor(t, "the new store's 2 messages", func() bool { return in.count() == 5 })
	in.mu.Lock()
	defer in.mu.Unlock()
	if got := in.seqs; got[3] != 1 || got[4] != 2 {
		t.Fatalf("seqs %v: want 1 2 3 then the new stream's 1 2", got)
	}
	if a, b := in.conn[0].Epoch, in.conn[len(in.conn)-1].Epoch; a == "" || a == b {
		t.Fatalf("epochs %q then %q", a, b)
	}
}
