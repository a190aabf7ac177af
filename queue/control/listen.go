package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Listen creates the control socket at path, mode 0600. A socket file
// left by a relay that died is replaced; one a live server answers on is
// not (the queue is in use).
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control: %s: another server answers there", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control: removing the stale socket: %w", err)
		}
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	return l, nil
}

// errPeer is returned for a peer whose user may not use the queue.
var errPeer = errors.New("control: peer is neither this server's user nor root")
