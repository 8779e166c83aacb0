package netpoll

import (
	"net"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Connections on different pollers each get their own bytes.
func TestManyConnections(t *testing.T) {
	const n = 8
	cs := make([]*collector, n)
	clients := make([]net.Conn, n)
	for i := range n {
		client, server := pair(t)
		clients[i], cs[i] = client, newCollector(t)
		stop, err := Watch(server, Handler{Data: cs[i].data})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	if len(pollers) < 2 {
		t.Fatalf("%d pollers with 8 Ps, want 2", len(pollers))
	}
	for i, c := range clients {
		c.Write([]byte{'a' + byte(i)})
	}
	for i, c := range cs {
		if got := c.read(1); got[0] != 'a'+byte(i) {
			t.Fatalf("connection %d got %q", i, got)
		}
	}
}

// A failing epoll_wait is counted and tried again, not a panic that takes
// every connection of the node down: the watched connection is served once
// the waits succeed again.
func TestWaitErrorsAreRetried(t *testing.T) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	p := &poller{epfd: epfd, byID: map[uint64]*watcher{}, wait: func(epfd int, evs []unix.EpollEvent, msec int) (int, error) {
		if calls.Add(1) <= 3 {
			return 0, unix.EBADF
		}
		return unix.EpollWait(epfd, evs, msec)
	}}
	before := WaitErrors()
	go p.loop() // lives as long as the test binary, like the process's pollers
	client, server := pair(t)
	c := newCollector(t)
	raw, err := server.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	stop, err := p.add(nextID.Add(1), raw, Handler{Data: c.data})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client.Write([]byte("x"))
	if got := c.read(1); string(got) != "x" {
		t.Fatalf("read %q", got)
	}
	if n := WaitErrors() - before; n != 3 {
		t.Fatalf("%d wait errors counted, want 3", n)
	}
}
