//go:build unix

package queue

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// lockFile opens and flock(2)s path. The lock belongs to the open file, so
// a second OpenSpool fails even within one process, and it vanishes with
// the process however it dies: no stale lock to clean up after a crash.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: spool: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			owner, _ := os.ReadFile(path)
			return nil, fmt.Errorf("%w: %s is locked by another opener (pid %s); one process at a time may use a spool",
				ErrLocked, path, string(trimNL(owner)))
		}
		return nil, fmt.Errorf("queue: spool: locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
