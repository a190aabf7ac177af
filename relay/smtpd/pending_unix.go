//go:build unix

package smtpd

import (
	"net"
	"syscall"
)

// socketHasInput reports whether the client's socket holds bytes not yet
// read, without waiting and without consuming them (recv with MSG_PEEK
// and MSG_DONTWAIT, as Postfix's smtpd peeks). Connections without a
// socket (net.Pipe) report false.
func socketHasInput(nc net.Conn) bool {
	for {
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		nc = u.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	n := 0
	rc.Read(func(fd uintptr) bool {
		n, _, _ = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	})
	return n > 0
}
