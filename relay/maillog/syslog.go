package maillog

import (
	"errors"
	"net"
	"sync"
)

// DefaultSyslogPath is the local syslog daemon's socket.
const DefaultSyslogPath = "/dev/log"

// SyslogWriter sends each Write as one datagram to the local syslog
// daemon's socket: give it to NewHandler with Options.Syslog set. A send
// that fails (the daemon restarted) redials once and sends again.
type SyslogWriter struct {
	path string
	mu   sync.Mutex
	conn net.Conn
}

// DialSyslog connects to the syslog socket at path (DefaultSyslogPath
// when empty).
func DialSyslog(path string) (*SyslogWriter, error) {
	if path == "" {
		path = DefaultSyslogPath
	}
	c, err := net.Dial("unixgram", path)
	if err != nil {
		return nil, err
	}
	return &SyslogWriter{path: path, conn: c}, nil
}

// Write sends p as one message.
func (w *SyslogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return 0, net.ErrClosed
	}
	n, err := w.conn.Write(p)
	if err == nil {
		return n, nil
	}
	c, derr := net.Dial("unixgram", w.path)
	if derr != nil {
		return 0, errors.Join(err, derr)
	}
	w.conn.Close()
	w.conn = c
	return c.Write(p)
}

// Close closes the socket.
func (w *SyslogWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close()
	w.conn = nil
	return err
}
