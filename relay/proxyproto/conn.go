package proxyproto

import (
	"bufio"
	"errors"
	"net"
	"time"
)

// DefaultTimeout is Postfix's default smtpd_upstream_proxy_timeout (and
// postscreen_upstream_proxy_timeout): how long a connection may take to
// send its whole header.
const DefaultTimeout = 5 * time.Second

// Conn is a net.Conn whose PROXY header was read: RemoteAddr and
// LocalAddr report the header's Source and Destination (the connection's
// own addresses for a Local header), and reads come from the buffered
// reader the header was read from, so that no byte of the stream after
// the header is lost. Writes, deadlines and Close go to the connection.
type Conn struct {
	conn net.Conn
	r    *bufio.Reader
	h    Header
}

// NewConn wraps c, whose header h was read from r by Read; r must read
// from c, and nothing else may read from c or r afterwards. A nil r reads
// from c directly.
func NewConn(c net.Conn, r *bufio.Reader, h Header) *Conn {
	return &Conn{conn: c, r: r, h: h}
}

// Handshake reads c's PROXY header within timeout, as Postfix's smtpd
// does with smtpd_upstream_proxy_timeout, and returns c wrapped by
// NewConn. A timeout of 0 or less sets no deadline (the conn's own
// applies); otherwise the read deadline is cleared once the header is
// read. Every error is an *Error; c is left open (its read deadline
// still set), for the caller to say "421" or not and close it.
//
// Call Handshake from the goroutine that serves the connection, not from
// a net.Listener's Accept loop: a connection that sends its header slowly
// would hold up every other one for up to timeout.
func Handshake(c net.Conn, timeout time.Duration) (*Conn, error) {
	if timeout > 0 {
		if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return nil, &Error{Reason: ReadFailed, Detail: "setting the read deadline", Err: err}
		}
	}
	// Big enough for any header; after it, large reads bypass the buffer.
	r := bufio.NewReaderSize(c, 1024)
	h, err := Read(r)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		// It fails only on a conn closed (net.Pipe: at either end), which
		// the next read or write reports.
		_ = c.SetReadDeadline(time.Time{})
	}
	return NewConn(c, r, h), nil
}

// Header returns the header the connection began with.
func (c *Conn) Header() Header { return c.h }

// NetConn returns the wrapped connection. Reading from it directly loses
// what the buffered reader holds.
func (c *Conn) NetConn() net.Conn { return c.conn }

// Read reads the stream after the header.
func (c *Conn) Read(p []byte) (int, error) {
	if c.r == nil {
		return c.conn.Read(p)
	}
	return c.r.Read(p)
}

// RemoteAddr returns the header's Source as a *net.TCPAddr, or the
// connection's own remote address (the proxy's) for a Local header.
func (c *Conn) RemoteAddr() net.Addr {
	if c.h.Local || !c.h.Source.IsValid() {
		return c.conn.RemoteAddr()
	}
	return net.TCPAddrFromAddrPort(c.h.Source)
}

// LocalAddr returns the header's Destination as a *net.TCPAddr, or the
// connection's own local address for a Local header.
func (c *Conn) LocalAddr() net.Addr {
	if c.h.Local || !c.h.Destination.IsValid() {
		return c.conn.LocalAddr()
	}
	return net.TCPAddrFromAddrPort(c.h.Destination)
}

// Write writes to the connection.
func (c *Conn) Write(p []byte) (int, error) { return c.conn.Write(p) }

// Close closes the connection.
func (c *Conn) Close() error { return c.conn.Close() }

// SetDeadline sets the connection's read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// SetReadDeadline sets the connection's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the connection's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

var _ net.Conn = (*Conn)(nil)

// CloseWrite shuts down the writing side of the connection, when the
// connection beneath can (a *net.TCPConn can), so that a server can send
// its last reply and still read what the client sends meanwhile.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.NetConn().(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("proxyproto: the connection cannot close its writing side")
}

// Buffered returns the number of bytes that came with the header and
// have not been read yet: an SMTP server that looks for commands sent
// ahead of time (reject_unauth_pipelining) counts them.
func (c *Conn) Buffered() int {
	if c.r == nil {
		return 0
	}
	return c.r.Buffered()
}
