//go:build !unix

package smtpd

import "net"

// socketHasInput cannot peek a socket on this system: only what is
// buffered counts (see pending_unix.go).
func socketHasInput(net.Conn) bool { return false }
