package client_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// startAll runs the real herald binary (`herald all`) and returns its API.
func startAll(t *testing.T, dir, addr string, extra ...string) (*testenv.Process, probe.API) {
	t.Helper()
	p := testenv.Start(t, "herald all", testenv.HeraldBinary(t), nil, append([]string{"all", "--listen", addr, "--data-dir", dir}, extra...)...)
	if err := probe.WaitHTTP("http://"+addr+"/readyz", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(filepath.Join(dir, "api-key"))
	return p, probe.API{Base: "http://" + addr, Key: strings.TrimSpace(string(key))}
}

type inbox struct {
	mu   sync.Mutex
	seqs []uint64
	conn []client.Hello
}

func (in *inbox) add(m client.Message) {
	in.mu.Lock()
	in.seqs = append(in.seqs, m.Seq)
	in.mu.Unlock()
}
func (in *inbox) hello(h client.Hello) { in.mu.Lock(); in.conn = append(in.conn, h); in.mu.Unlock() }
func (in *inbox) count() int           { in.mu.Lock(); defer in.mu.Unlock(); return len(in.seqs) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		if !cond() {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		return nil
	})
}

// The client receives in order, survives a server restart, resumes where it
// stopped (no loss, no repeat), and asks TokenFunc for a token each time.
func TestClientResumesAcrossARestart(t *testing.T) {
	dir, addr := t.TempDir(), testenv.FreePort(t, "127.0.0.1")
	proc, api := startAll(t, dir, addr)
	var in inbox
	var tokens int
	var tmu sync.Mutex
	mint := api // the server comes back on the same address with the same key
	c, err := client.New(client.Options{
		URL:    "ws://" + addr,
		Device: "laptop",
		TokenFunc: func(ctx context.Context) (string, error) {
			tmu.Lock()
			tokens++
			tmu.Unlock()
			return mintToken(ctx, mint, "alice") // fails while the server restarts: the client retries
		},
		OnMessage:   in.add,
		OnConnected: in.hello,
		MinBackoff:  50 * time.Millisecond,
		MaxBackoff:  500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "first connection", func() bool { in.mu.Lock(); defer in.mu.Unlock(); return len(in.conn) == 1 })
	for i := range 5 {
		api.Send(t, []string{"alice"}, i)
	}
	waitFor(t, "5 messages", func() bool { return in.count() == 5 })

	// Restart the server; meanwhile more messages are stored.
	proc.Signal(syscall.SIGTERM)
	if err := proc.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	_, api = startAll(t, dir, addr)
	for i := 5; i < 10; i++ {
		api.Send(t, []string{"alice"}, i)
	}
	waitFor(t, "10 messages", func() bool { return in.count() == 10 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, s := range in.seqs {
		if s != uint64(i+1) {
			t.Fatalf("seqs %v: want 1..10 once each, in order", in.seqs)
		}
	}
	if c.LastSeq() != 10 || tokens < 2 || len(in.conn) < 2 {
		t.Fatalf("last seq %d, %d tokens asked, %d connections", c.LastSeq(), tokens, len(in.conn))
	}
}

func TestRefusedTokenStops(t *testing.T) {
	dir, addr := t.TempDir(), testenv.FreePort(t, "127.0.0.1")
	startAll(t, dir, addr)
	c, _ := client.New(client.Options{URL: "ws://" + addr, Token: "not-a-token"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Run(ctx); err != client.ErrRefused {
		t.Fatalf("Run = %v, want client.ErrRefused", err)
	}
}

// mintToken asks POST /v1/tokens, returning errors instead of failing the
// test: it runs on the client's goroutine, and the server may be down.
func mintToken(ctx context.Context, api probe.API, user string) (string, error) {
	return mintTokenTTL(ctx, api, user, 0)
}

func mintTokenTTL(ctx context.Context, api probe.API, user string, ttlSeconds int) (string, error) {
	return api.MintCtx(ctx, user, ttlSeconds)
}

// A token about to expire is replaced on the open connection: the server's
// refresh frame makes the client ask TokenFunc, and the connection outlives
// the first token's expiry and grace.
func TestTokenRefresh(t *testing.T) {
	dir, addr := t.TempDir(), testenv.FreePort(t, "127.0.0.1")
	_, api := startAll(t, dir, addr, "--ping-interval", "1s", "--token-grace", "1s")
	var mu sync.Mutex
	tokens := 0
	var in inbox
	c, err := client.New(client.Options{
		URL: "ws://" + addr,
		TokenFunc: func(ctx context.Context) (string, error) {
			mu.Lock()
			tokens++
			ttl := 3600
			if tokens == 1 {
				ttl = 2
			}
			mu.Unlock()
			return mintTokenTTL(ctx, api, "gorefresh", ttl)
		},
		OnMessage:   in.add,
		OnConnected: in.hello,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "a second token", func() bool { mu.Lock(); defer mu.Unlock(); return tokens >= 2 })
	time.Sleep(3500 * time.Millisecond) // past the first token's expiry and grace
	api.Send(t, []string{"gorefresh"}, "still connected")
	waitFor(t, "the message", func() bool { return in.count() == 1 })
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.conn) != 1 {
		t.Fatalf("%d connections, want one throughout", len(in.conn))
	}
}
