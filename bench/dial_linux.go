package bench

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindNoPort asks the kernel to pick a client socket's port when it
// connects rather than when it binds to its source address: bind must find
// a port free for every destination, a search that grows with the ports
// in use (45,000 connections from two source addresses spent minutes of
// system CPU in it), while connect needs the port free only towards that
// one destination, so each push node gets a port range of its own.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
