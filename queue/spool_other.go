//go:build !unix

package queue

import (
	"fmt"
	"os"
)

// lockFile creates path exclusively. Without flock(2) a crash leaves the
// lock file behind: remove it by hand once no process uses the spool.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if os.IsExist(err) {
			return nil, fmt.Errorf("%w: lock file %s exists; remove it if no process uses the spool", ErrLocked, path)
		}
		return nil, fmt.Errorf("queue: spool: %w", err)
	}
	return f, nil
}
