package main

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// go-smtp's Server.Shutdown waits for every client to quit, and an idle
// client may take its time (up to the command timeout). Postfix instead
// tells idle clients "421 4.3.2 Service shutting down" and lets only a
// message being received finish. The gateway does the same with a
// listener that tracks its connections and a Session wrapper that marks a
// connection busy while DATA runs.

// trackingListener remembers the open connections.
type trackingListener struct {
	net.Listener

	mu      sync.Mutex
	conns   map[*trackedConn]struct{}
	closing bool
}

func newTrackingListener(l net.Listener) *trackingListener {
	return &trackingListener{Listener: l, conns: make(map[*trackedConn]struct{})}
}

// Accept wraps each connection.
func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

// shutdown closes the idle connections now, after the reply relay.Server
// gives in the same case ("421 4.3.2 Service shutting down"); a
// connection receiving a message is closed after its next reply.
func (l *trackingListener) shutdown() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closing = true
	for c := range l.conns {
		if !c.busy {
			c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c.Conn, "421 4.3.2 Service shutting down\r\n")
			c.Conn.Close()
		}
	}
}

// closeAll cuts every connection.
func (l *trackingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.Conn.Close()
	}
}

// trackedConn is a connection of a trackingListener.
type trackedConn struct {
	net.Conn
	l    *trackingListener
	busy bool // receiving a message; guarded by l.mu
}

func (c *trackedConn) setBusy(b bool) {
	if c == nil {
		return
	}
	c.l.mu.Lock()
	c.busy = b
	c.l.mu.Unlock()
}

// Write sends a reply; once shutdown has begun, the connection closes
// after it unless a message is being received.
func (c *trackedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.l.mu.Lock()
	done := c.l.closing && !c.busy
	c.l.mu.Unlock()
	if done {
		c.Conn.Close()
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// trackedSession is the relay's session, marking its connection busy
// while DATA (or BDAT) runs.
type trackedSession struct {
	smtp.Session
	c *trackedConn
}

func (s *trackedSession) Data(r io.Reader) error {
	s.c.setBusy(true)
	defer s.c.setBusy(false)
	return s.Session.Data(r)
}
