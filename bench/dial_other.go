//go:build !linux

package bench

import "syscall"

// bindNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (dial_linux.go); elsewhere
// the port is picked at bind, as usual.
func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }
