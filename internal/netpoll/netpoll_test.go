package netpoll

import (
	"bytes"
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain runs the tests with 8 Ps, so that connections are spread over
// two pollers (one per 4 Ps) as on a bigger machine.
func TestMain(m *testing.M) {
	runtime.GOMAXPROCS(8)
	os.Exit(m.Run())
}

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

// collector gathers what Data receives and checks that calls never overlap.
type collector struct {
	t       *testing.T
	running atomic.Int32
	got     chan []byte
	ended   chan error
}

func newCollector(t *testing.T) *collector {
	return &collector{t: t, got: make(chan []byte, 1000), ended: make(chan error, 1)}
}

func (c *collector) data(b []byte, err error) bool {
	if c.running.Add(1) != 1 {
		c.t.Error("two calls at once")
	}
	defer c.running.Add(-1)
	if len(b) > 0 {
		c.got <- append([]byte(nil), b...) // b is valid only during the call
	}
	if err != nil {
		c.ended <- err
		return false
	}
	return true
}

// read collects bytes until it has n of them.
func (c *collector) read(n int) []byte {
	c.t.Helper()
	var all []byte
	for len(all) < n {
		select {
		case b := <-c.got:
			all = append(all, b...)
		case <-time.After(5 * time.Second):
			c.t.Fatalf("got %d of %d bytes", len(all), n)
		}
	}
	return all
}

// Every byte written arrives through Data, in order, over as many reads as
// it takes; calls never overlap; EOF ends the watch.
func TestWatch(t *testing.T) {
	client, server := pair(t)
	c := newCollector(t)
	stop, err := Watch(server, Handler{Data: c.data})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client.Write([]byte("abc"))
	time.Sleep(10 * time.Millisecond)
	client.Write([]byte("de"))
	if got := c.read(5); string(got) != "abcde" {
		t.Fatalf("got %q", got)
	}
	// More than one read's worth: the rest fires again.
	big := bytes.Repeat([]byte("0123456789"), 10000)
	go client.Write(big)
	if got := c.read(len(big)); !bytes.Equal(got, big) {
		t.Fatal("big write garbled")
	}
	client.Close()
	select {
	case err := <-c.ended:
		if err != io.EOF {
			t.Fatalf("ended with %v, want EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("EOF not reported")
	}
}

// A read that Peek takes never reaches Data; one it declines does, whole.
func TestPeek(t *testing.T) {
	client, server := pair(t)
	c := newCollector(t)
	peeked := make(chan string, 10)
	stop, err := Watch(server, Handler{
		Peek: func(b []byte) bool {
			if string(b) == "pong" {
				peeked <- string(b)
				return true
			}
			return false
		},
		Data: c.data,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client.Write([]byte("pong"))
	select {
	case <-peeked:
	case <-time.After(5 * time.Second):
		t.Fatal("Peek not called")
	}
	client.Write([]byte("other"))
	if got := c.read(5); string(got) != "other" {
		t.Fatalf("Data got %q, want only what Peek declined", got)
	}
}

// A connection without a descriptor of its own gets the reading loop.
func TestWatchPipe(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	c := newCollector(t)
	stop, err := Watch(server, Handler{Data: c.data})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	go client.Write([]byte("hello"))
	if got := c.read(5); string(got) != "hello" {
		t.Fatalf("got %q", got)
	}
}

// After stop no call starts, even with data waiting.
func TestStop(t *testing.T) {
	client, server := pair(t)
	var calls atomic.Int32
	stop, err := Watch(server, Handler{
		Peek: func([]byte) bool { calls.Add(1); return true },
		Data: func([]byte, error) bool { calls.Add(1); return true },
	})
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
