package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mxrelay/mxrelay/relay/maillog"
)

// Server speaks SMTP for a Backend. It owns no listener: the caller
// accepts connections (and applies its connection limits) and hands each
// to ServeConn.
type Server struct {
	cfg     Config
	backend Backend
}

// NewServer returns a Server for b.
func NewServer(b Backend, c Config) *Server {
	return &Server{cfg: c.withDefaults(), backend: b}
}

// ServeConn speaks SMTP on nc until the client quits or is disconnected
// (an error limit, a timeout, a lost connection), and closes nc. When ctx
// ends, a session waiting for a command is told "421 4.3.2 HOSTNAME
// Service shutting down" and closed at once; one receiving a message
// finishes the transaction first. client, when not nil, supplies the
// addresses (from a PROXY header); nil: nc's own.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn, client *Client) {
	c := &conn{s: s, cfg: &s.cfg, nc: nc}
	if s.cfg.Stressed != nil && s.cfg.Stressed() {
		// The server is near its connection limit: this session gets
		// Postfix's stress limits (smtpd_timeout 10s, one error, one junk
		// command), as smtpd does when master(8) runs it with stress=yes.
		cfg := s.cfg
		cfg.Timeout, cfg.HardErrorLimit, cfg.JunkCommandLimit = cfg.StressTimeout, cfg.StressHardErrorLimit, cfg.StressJunkCommandLimit
		c.cfg = &cfg
	}
	if client != nil {
		c.client = *client
	} else {
		c.client.Addr = addrPortOf(nc.RemoteAddr())
		c.client.Local = addrPortOf(nc.LocalAddr())
	}
	c.client.Commands.Last = "CONNECT"
	c.r = bufio.NewReaderSize(deadlineReader{c}, 4096)
	c.w = bufio.NewWriterSize(nc, 4096)
	stop := context.AfterFunc(ctx, func() {
		c.dl.Lock()
		defer c.dl.Unlock()
		if c.idle {
			nc.SetReadDeadline(time.Unix(1, 0))
		}
	})
	defer stop()
	defer func() {
		// A bug in one session must not take the server down: it is
		// logged and that connection closed.
		if p := recover(); p != nil {
			c.cfg.Logger.Error("panic in SMTP session", "client", c.client.Addr.String(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			c.nc.Close()
		}
	}()
	c.serve(ctx)
	c.hangUp()
}

// hangUp closes the connection after the last reply. Unread commands
// would make the close a TCP reset, which can destroy the reply before
// the client reads it: the write side is shut first and what the client
// still sends is read and dropped for a moment (at most lingerTime and
// lingerBytes).
func (c *conn) hangUp() {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := c.nc.(closeWriter); ok && cw.CloseWrite() == nil {
		c.nc.SetReadDeadline(c.cfg.Now().Add(lingerTime))
		io.CopyN(io.Discard, c.nc, lingerBytes)
	}
	c.nc.Close()
}

const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 64 << 10
)

// addrPortOf converts a net.Addr to a netip.AddrPort (zero when it is not
// TCP).
func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// conn is one SMTP session in progress.
type conn struct {
	s      *Server
	cfg    *Config
	nc     net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	client Client
	sess   Session

	// dl guards idle and the read deadline changes that depend on it, so
	// that Shutdown's cut of an idle session cannot land on a read of
	// message text.
	dl          sync.Mutex
	idle        bool   // waiting for a command: Shutdown may cut it
	mail        bool   // a MAIL FROM was accepted
	rcpts       int    // recipients accepted in this transaction
	overshoot   int    // recipients refused for RecipientLimit in this transaction
	errors      int    // error replies so far
	junk        int    // HELO, EHLO, NOOP, RSET, VRFY, ETRN so far
	bdatDiscard bool   // a chunk of this message was refused: the others are dropped until LAST
	pending     string // a command read inside a BDAT transfer, to run next
	quit        bool   // end the session after this reply
	failed      bool   // the current command got an error reply (CommandStats)
	tlsReady    bool   // STARTTLS done
}

// serve runs the session.
func (c *conn) serve(ctx context.Context) {
	sess, refusal := c.s.backend.Connect(ctx, &c.client)
	if sess == nil {
		if refusal == nil {
			refusal = reply(421, "4.3.0", c.cfg.Hostname+" Error: server configuration problem")
		}
		c.send(refusal)
		c.flush()
		return
	}
	c.sess = sess
	defer func() {
		c.resetTransaction(ctx)
		sess.Close()
	}()
	if c.pendingInput() {
		c.illegalPipelining("CONNECT")
	}
	greeting := reply(220, "", c.cfg.Banner)
	if refusal != nil {
		// A session that refuses from the start: the reply is the
		// greeting, an error, and the session goes on (smtpd.c after a
		// milter rejects CONNECT).
		greeting = refusal
		c.errors++
	}
	c.send(greeting)
	c.flush()
	for !c.quit {
		if c.errors >= c.cfg.HardErrorLimit {
			c.cfg.Logger.Info(maillog.TooManyErrors, maillog.KeyClient, c.client.String(), maillog.KeyAfter, c.client.Commands.Last, "errors", c.errors)
			c.send(reply(421, "4.7.0", c.cfg.Hostname+" Error: too many errors"))
			break
		}
		line, err := c.readCommand(ctx)
		switch {
		case ctx.Err() != nil && (err != nil || c.r.Buffered() == 0 && line == ""):
			c.send(reply(421, "4.3.2", "Service shutting down"))
			c.quit = true
		case isTimeout(err):
			c.cfg.Logger.Info(maillog.Timeout, maillog.KeyClient, c.client.String(), maillog.KeyAfter, c.client.Commands.Last)
			c.send(reply(421, "4.4.2", c.cfg.Hostname+" Error: timeout exceeded"))
			c.quit = true
		case err != nil:
			c.cfg.Logger.Info(maillog.LostConnection, maillog.KeyClient, c.client.String(), maillog.KeyAfter, c.client.Commands.Last)
			return // the client went away
		default:
			c.command(ctx, line)
			for c.pending != "" && !c.quit {
				line, c.pending = c.pending, ""
				c.command(ctx, line)
			}
		}
		if c.r.Buffered() == 0 || c.quit {
			if c.flush() != nil {
				return
			}
		}
	}
	c.flush()
}

// pendingInput reports whether the client has sent bytes not read yet:
// in this buffer, in a wrapper's (a TLS record already received, bytes
// that came with a PROXY header), or in the socket, checked without
// waiting, as Postfix's smtpd peeks.
func (c *conn) pendingInput() bool {
	if c.r.Buffered() > 0 {
		return true
	}
	if _, isTLS := c.nc.(*tls.Conn); isTLS {
		return c.peekNow()
	}
	if b, ok := c.nc.(interface{ Buffered() int }); ok && b.Buffered() > 0 {
		return true
	}
	return socketHasInput(c.nc)
}

// peekNow peeks with a deadline already passed: what a wrapper holds is
// returned, nothing is waited for (crypto/tls survives the timeout).
func (c *conn) peekNow() bool {
	c.dl.Lock()
	c.idle = true // deadlineReader must not extend the deadline
	c.nc.SetReadDeadline(time.Unix(1, 0))
	c.dl.Unlock()
	_, err := c.r.Peek(1)
	c.dl.Lock()
	c.idle = false
	c.nc.SetReadDeadline(c.cfg.Now().Add(c.cfg.Timeout))
	c.dl.Unlock()
	return err == nil
}

// readCommand reads one command line, without its line ending.
func (c *conn) readCommand(ctx context.Context) (string, error) {
	c.setIdle(true)
	defer c.setIdle(false)
	if ctx.Err() != nil && c.r.Buffered() == 0 {
		return "", ctx.Err()
	}
	return c.readLine(c.cfg.MaxLine)
}

// setIdle marks the wait for a command (with a fresh read deadline) or
// its end.
func (c *conn) setIdle(idle bool) {
	c.dl.Lock()
	defer c.dl.Unlock()
	if idle {
		c.nc.SetReadDeadline(c.cfg.Now().Add(c.cfg.Timeout))
	}
	c.idle = idle
}

// readLine reads a line ending in LF (a CR before it is removed). As
// Postfix's smtp_get with line_length_limit, a longer line is cut at max
// bytes and the rest of it is skipped.
func (c *conn) readLine(max int) (string, error) {
	var line []byte
	for {
		b, err := c.r.ReadSlice('\n')
		if room := max + 2 - len(line); room > 0 {
			line = append(line, b[:min(len(b), room)]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > max {
		line = line[:max]
	}
	return string(line), nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// send queues a reply.
func (c *conn) send(r *Reply) {
	c.nc.SetWriteDeadline(c.cfg.Now().Add(c.cfg.Timeout))
	r.write(c.w)
}

// flush sends the queued replies.
func (c *conn) flush() error {
	c.nc.SetWriteDeadline(c.cfg.Now().Add(c.cfg.Timeout))
	return c.w.Flush()
}

// result sends the reply to a command, counting an error reply, and
// delays it past the soft error limit, as Postfix's smtpd does.
func (c *conn) result(r *Reply) {
	if r == nil {
		return
	}
	if r.Failed() {
		c.failed = true
		c.errors++
		if c.errors >= c.cfg.SoftErrorLimit && c.cfg.ErrorSleep > 0 {
			c.flush()
			time.Sleep(c.cfg.ErrorSleep)
		}
	}
	c.send(r)
	if r.Code == 421 {
		c.quit = true
	}
}

// illegalPipelining records that the client sent commands ahead of time
// after cmd, once, as Postfix's smtpd logs "improper command pipelining".
func (c *conn) illegalPipelining(cmd string) {
	if c.client.IllegalPipelining != "" {
		return
	}
	c.client.IllegalPipelining = cmd
	c.cfg.Logger.Info("improper command pipelining", "after", cmd, "client", c.client.Addr.String())
}

// deadlineReader reads from the connection, giving each read outside a
// wait for a command (message text, BDAT chunks) Timeout of its own, as
// smtpd_timeout bounds each read, not a whole message.
type deadlineReader struct{ c *conn }

func (d deadlineReader) Read(p []byte) (int, error) {
	d.c.dl.Lock()
	if !d.c.idle {
		d.c.nc.SetReadDeadline(d.c.cfg.Now().Add(d.c.cfg.Timeout))
	}
	nc := d.c.nc
	d.c.dl.Unlock()
	return nc.Read(p)
}
