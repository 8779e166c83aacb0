package netpoll

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func pair(t *testing.T) (client, server net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// Every byte written arrives through onReadable, calls never overlap, and
// EOF ends the watch.
func TestWatch(t *testing.T) {
	client, server := pair(t)
	got := make(chan byte, 100)
	eof := make(chan struct{})
	var running atomic.Int32
	stop, err := Watch(server, func() bool {
		if running.Add(1) != 1 {
			t.Error("two readers at once")
		}
		defer running.Add(-1)
		b := make([]byte, 1) // one byte a call: the rest must fire again
		n, err := server.Read(b)
		if n == 1 {
			got <- b[0]
		}
		if err != nil {
			close(eof)
			return false
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client.Write([]byte("abc"))
	time.Sleep(10 * time.Millisecond)
	client.Write([]byte("de"))
	for _, want := range []byte("abcde") {
		select {
		case b := <-got:
			if b != want {
				t.Fatalf("got %q, want %q", b, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no readiness for %q", want)
		}
	}
	client.Close()
	select {
	case <-eof:
	case <-time.After(5 * time.Second):
		t.Fatal("EOF not reported")
	}
}

// After stop no call starts, even with data waiting.
func TestStop(t *testing.T) {
	client, server := pair(t)
	var calls atomic.Int32
	stop, err := Watch(server, func() bool { calls.Add(1); return true })
	if err != nil {
		t.Fatal(err)
	}
	stop()
	client.Write([]byte("x"))
	time.Sleep(50 * time.Millisecond)
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d calls after stop", n)
	}
}

// TryWrite ignores an expired write deadline (it never waits, so a deadline
// means nothing to it) and writes at once.
func TestTryWrite(t *testing.T) {
	client, server := pair(t)
	server.SetWriteDeadline(time.Now().Add(-time.Second))
	raw, err := server.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := TryWrite(raw, []byte("ok")); n != 2 || err != nil {
		t.Fatalf("TryWrite: %d, %v", n, err)
	}
	b := make([]byte, 2)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(b); err != nil || string(b) != "ok" {
		t.Fatalf("read %q, %v", b, err)
	}
}
