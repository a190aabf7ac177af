package daemon

import (
	"os"
	"sync"
	"time"
)

// logFile appends to a log file and follows its rotation: when the path
// no longer names the file it writes to (logrotate renamed or removed
// it), the next write, at most a second later, reopens the path. No
// signal is needed, and a copytruncate rotation works as well (the file
// is opened for appending).
type logFile struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	f       *os.File
	checked time.Time
}

// reopenCheck is how often a write looks whether the file was rotated.
const reopenCheck = time.Second

func openLogFile(path string) (*logFile, error) {
	l := &logFile{path: path, now: time.Now}
	f, err := l.open()
	if err != nil {
		return nil, err
	}
	l.f, l.checked = f, l.now()
	return l, nil
}

func (l *logFile) open() (*os.File, error) {
	return os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
}

// Write appends p, after reopening the path if the file was rotated.
func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	if now := l.now(); now.Sub(l.checked) >= reopenCheck || now.Before(l.checked) { // also after the clock was set back
		l.checked = now
		l.follow()
	}
	return l.f.Write(p)
}

// follow reopens the path when it names another file than the one open,
// or none. A path that cannot be opened keeps the old file: lines are
// never dropped for a rotation.
func (l *logFile) follow() {
	cur, err := l.f.Stat()
	if err != nil {
		return
	}
	if fi, err := os.Stat(l.path); err == nil && os.SameFile(cur, fi) {
		return
	}
	f, err := l.open()
	if err != nil {
		return
	}
	l.f.Close()
	l.f = f
}

// Close closes the file.
func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
