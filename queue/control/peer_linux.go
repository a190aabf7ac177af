package control

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// allowed checks the peer's user with SO_PEERCRED: this process's user
// or root. Connections that are not UNIX-domain (a pipe in Local) pass.
func allowed(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var credErr error
	err = raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return fmt.Errorf("control: peer credentials: %w", err)
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("%w (uid %d)", errPeer, cred.Uid)
	}
	return nil
}
