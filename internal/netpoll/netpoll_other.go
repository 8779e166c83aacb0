//go:build !linux

package netpoll

import (
	"net"
	"syscall"
)

// watch falls back to a goroutine per connection, blocked in its read
// until there is data.
func watch(conn net.Conn, _ syscall.RawConn, h Handler) (func(), error) {
	return loop(conn, h), nil
}
