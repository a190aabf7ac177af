package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// MX is the relay to serve. Required.
	MX *MX
	// TLS enables STARTTLS when set.
	TLS *tls.Config
	// Timeout bounds each read from the client (a command, or a piece of
	// message text: a message arriving steadily may take longer in all)
	// and each reply write. Default 300s, as Postfix smtpd_timeout.
	Timeout time.Duration
	// MaxConnections caps simultaneous connections; more wait to be
	// accepted, as Postfix's process limit makes them wait. Default 100,
	// as Postfix default_process_limit.
	MaxConnections int
	// MaxConnectionsPerClient caps simultaneous connections from one IP
	// address; more are answered "421 4.7.0 HOSTNAME Error: too many
	// connections from ADDR" and closed. Default 50, as Postfix
	// smtpd_client_connection_count_limit; negative: no limit.
	MaxConnectionsPerClient int
	// MaxLineLength caps a command line and a line of message text.
	// Default 65536. go-smtp applies one limit to both and closes the
	// connection when it is exceeded; Postfix accepts message lines of any
	// length (it splits them at line_length_limit, 2048), so the default
	// is well above what mail carries in practice. Negative: no limit.
	MaxLineLength int
	// Banner is the greeting text after "220 ". Default "$myhostname
	// ESMTP $mail_name", as Postfix smtpd_banner.
	Banner string
	// GoSMTPReplies keeps go-smtp's own reply texts ("250 2.0.0 Roger,
	// accepting mail from ...") instead of rewriting them to Postfix's on
	// the wire. Default false: clients see Postfix's texts.
	GoSMTPReplies bool
	// DrainDeliveries is how long Shutdown lets deliveries in progress
	// finish before cancelling them. Default: until Shutdown's context
	// ends.
	DrainDeliveries time.Duration
}

// Server runs an MX: an SMTP listener in front of its Backend and its
// delivery workers. Serve or ListenAndServe starts it; Shutdown stops it.
type Server struct {
	c    ServerConfig
	smtp *smtp.Server

	mu        sync.Mutex
	started   bool
	listening int
	runCancel context.CancelFunc
	runHard   context.CancelFunc
	runDone   chan struct{}
	perClient map[netip.Addr]int
	slots     chan struct{}
	addrs     []net.Addr
	conns     map[*conn]struct{} // open connections
	closing   bool               // Shutdown has begun
}

// NewServer returns a Server for c.
func NewServer(c ServerConfig) (*Server, error) {
	if c.MX == nil {
		return nil, errors.New("relay: ServerConfig.MX is required")
	}
	if c.Timeout <= 0 {
		c.Timeout = 300 * time.Second
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 100
	}
	if c.MaxLineLength == 0 {
		c.MaxLineLength = 65536
	} else if c.MaxLineLength < 0 {
		c.MaxLineLength = 0
	}
	if c.MaxConnectionsPerClient == 0 {
		c.MaxConnectionsPerClient = 50
	}
	if c.Banner == "" {
		c.Banner = c.MX.c.Hostname + " ESMTP " + c.MX.c.MailName
	}
	s := &Server{c: c, perClient: make(map[netip.Addr]int), slots: make(chan struct{}, c.MaxConnections), conns: make(map[*conn]struct{})}
	srv := smtp.NewServer(c.MX)
	srv.Domain = c.MX.c.Hostname
	srv.MaxMessageBytes = c.MX.MessageSizeLimit()
	srv.MaxLineLength = c.MaxLineLength
	srv.ReadTimeout = c.Timeout
	srv.WriteTimeout = c.Timeout
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true
	srv.TLSConfig = c.TLS
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.smtp = srv
	return s, nil
}

// ListenAndServe listens on addr ("127.0.0.1:25") and serves; see Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	return s.Serve(ctx, l)
}

// Serve accepts SMTP connections on l until Shutdown, and returns nil
// after Shutdown. The first call also starts the delivery workers; call
// Serve once per listener (IPv4 and IPv6, several addresses) from as many
// goroutines. When every listener has failed, the workers stop too.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.mu.Lock()
	s.addrs = append(s.addrs, l.Addr())
	s.listening++
	if !s.started {
		s.started = true
		hardCtx, hard := context.WithCancel(context.WithoutCancel(ctx))
		runCtx, cancel := context.WithCancel(ctx)
		s.runCancel, s.runHard = cancel, hard
		s.runDone = make(chan struct{})
		go func() {
			defer close(s.runDone)
			if s.c.MX.c.Router != nil && s.c.MX.c.Agent != nil {
				_ = s.c.MX.run(runCtx, hardCtx)
			} else {
				<-runCtx.Done()
			}
		}()
	}
	s.mu.Unlock()

	err := s.smtp.Serve(&listener{Listener: l, s: s})
	s.mu.Lock()
	s.listening--
	last := s.listening == 0
	cancel, hard, done := s.runCancel, s.runHard, s.runDone
	s.mu.Unlock()
	if err == nil || errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	if last {
		// Nothing accepts mail any more: stop the workers too.
		cancel()
		hard()
		<-done
	}
	return fmt.Errorf("relay: %w", err)
}

// Addrs returns the addresses the server listens on.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// Shutdown stops the server gracefully: it stops accepting connections,
// closes idle sessions (421 4.3.2), lets a message being received finish
// and be answered, stops claiming queued mail, and waits for the
// deliveries in progress (at most DrainDeliveries). The queue is left
// intact: what was not delivered is delivered after a restart. When ctx
// ends first, the remaining connections and deliveries are cut and
// ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	cancel, hard, done := s.runCancel, s.runHard, s.runDone
	s.mu.Unlock()
	sessionsDone := s.c.MX.sessions.close()
	s.closeUngreeted()
	if err := s.smtp.Shutdown(ctx); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		// Listener close errors are not interesting; a timeout is.
		if ctx.Err() != nil {
			_ = s.smtp.Close()
			if hard != nil {
				hard()
			}
			return ctx.Err()
		}
	}
	select {
	case <-sessionsDone:
	case <-ctx.Done():
	}
	if cancel == nil {
		return ctx.Err()
	}
	cancel()
	drain := ctx
	if s.c.DrainDeliveries > 0 {
		var c context.CancelFunc
		drain, c = context.WithTimeout(ctx, s.c.DrainDeliveries)
		defer c()
	}
	select {
	case <-done:
		hard()
		return nil
	case <-drain.Done():
		hard()
		<-done
		return ctx.Err()
	}
}

// closeUngreeted tells the connections that have no session yet (no
// HELO or EHLO so far) "421 4.3.2 Service shutting down" and closes them:
// go-smtp's Shutdown would wait for them. Connections accepted from now
// on are closed by Accept.
func (s *Server) closeUngreeted() {
	s.mu.Lock()
	s.closing = true
	var list []*conn
	for c := range s.conns {
		if c.sess.Load() == nil {
			list = append(list, c)
		}
	}
	s.mu.Unlock()
	for _, c := range list {
		c.refuse()
	}
}

// refuse says "421 4.3.2 Service shutting down" and closes.
func (c *conn) refuse() {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c.Conn, "%d %s %s\r\n", errShutdown.Code, errShutdown.Status, errShutdown.Message)
	_ = c.Close()
}

// listener enforces the connection limits and wraps each connection so
// that sessions learn the greeting command (HELO or EHLO).
type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		l.s.slots <- struct{}{}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.s.slots
			return nil, err
		}
		addr, _ := addrPort(c.RemoteAddr())
		if !l.s.admit(addr) {
			<-l.s.slots
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "421 4.7.0 %s Error: too many connections from %s\r\n", l.s.c.MX.c.Hostname, addr)
			_ = c.Close()
			continue
		}
		sc := &conn{Conn: c, s: l.s, addr: addr}
		l.s.mu.Lock()
		closing := l.s.closing
		if !closing {
			l.s.conns[sc] = struct{}{}
		}
		l.s.mu.Unlock()
		if closing {
			sc.refuse()
			continue
		}
		return sc, nil
	}
}

func (s *Server) admit(a netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c.MaxConnectionsPerClient > 0 && s.perClient[a] >= s.c.MaxConnectionsPerClient {
		return false
	}
	s.perClient[a]++
	return true
}

func (s *Server) release(c *conn) {
	a := c.addr
	s.mu.Lock()
	delete(s.conns, c)
	if s.perClient[a]--; s.perClient[a] <= 0 {
		delete(s.perClient, a)
	}
	s.mu.Unlock()
	<-s.slots
}

// conn watches the commands a client sends for HELO and EHLO, to name the
// protocol in Received: headers (SMTP or ESMTP), and releases the
// connection slot on Close.
type conn struct {
	net.Conn
	s      *Server
	addr   netip.Addr
	closed atomic.Bool
	sess   atomic.Pointer[session] // the session, once the client greeted

	mu        sync.Mutex
	lineStart bool
	word      []byte
	greeting  string
	started   bool
}

func (c *conn) Read(p []byte) (int, error) {
	// Timeout bounds each read, as Postfix's smtpd_timeout does: go-smtp
	// sets one deadline per command line, which would cut a message still
	// arriving steadily once the whole DATA took longer than Timeout.
	if c.s.c.Timeout > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.s.c.Timeout))
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.scan(p[:n])
	}
	return n, err
}

// scan looks at the first four bytes of each line for HELO/EHLO. A
// message body line starting with "HELO" could fool it; the only effect
// would be the word SMTP instead of ESMTP in a Received: header.
func (c *conn) scan(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		c.started, c.lineStart = true, true
	}
	for _, ch := range b {
		if c.lineStart && len(c.word) < 5 {
			lc := ch
			if 'A' <= ch && ch <= 'Z' {
				lc += 'a' - 'A'
			}
			c.word = append(c.word, lc)
			if len(c.word) == 5 {
				switch string(c.word) {
				case "helo ":
					c.greeting = "SMTP"
				case "ehlo ":
					c.greeting = "ESMTP"
				}
			}
		}
		if ch == '\n' {
			c.lineStart, c.word = true, c.word[:0]
		} else if len(c.word) >= 5 {
			c.lineStart = false
		}
	}
}

func (c *conn) Write(p []byte) (int, error) {
	out := p
	if !c.s.c.GoSMTPReplies {
		if q := rewriteReply(p, c.s.c.MX.c.Hostname, c.s.c.Banner); q != nil {
			out = q
		}
	}
	sess := c.sess.Load()
	if sess != nil {
		if sess.beforeWrite(p) {
			// Too many junk commands: the reply is the hang-up.
			return len(p), nil
		}
	}
	_, err := c.Conn.Write(out)
	if sess != nil {
		sess.afterWrite(p)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *conn) protocol() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.greeting
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.s.release(c)
	}
	return err
}

// serverConn returns the connection as a Server accepted it, nil for
// connections of other servers.
func serverConn(nc net.Conn) *conn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, _ := nc.(*conn)
	return c
}

// rewriteReply turns one of go-smtp's fixed reply lines into Postfix's
// (as smtpd.c words them), or returns nil to leave it. go-smtp writes and
// flushes each reply line separately, so a Write is one whole line. After
// STARTTLS the lines pass encrypted and are left as go-smtp words them.
func rewriteReply(p []byte, hostname, banner string) []byte {
	if len(p) < 6 || p[len(p)-2] != '\r' || p[len(p)-1] != '\n' || bytes.IndexByte(p[:len(p)-1], '\n') >= 0 {
		return nil
	}
	line := p[:len(p)-2]
	has := func(prefix, suffix string) bool {
		return bytes.HasPrefix(line, []byte(prefix)) && bytes.HasSuffix(line, []byte(suffix))
	}
	is := func(s string) bool { return string(line) == s }
	var out string
	switch {
	case has("250 2.0.0 Roger, accepting mail from <", ">"):
		out = "250 2.1.0 Ok\r\n"
	case has("250 2.0.0 I'll make sure <", "> gets this"):
		out = "250 2.1.5 Ok\r\n"
	case is("354 Go ahead. End your data with <CR><LF>.<CR><LF>"):
		out = "354 End data with <CR><LF>.<CR><LF>\r\n"
	case has("220 ", " ESMTP Service Ready"):
		out = "220 " + banner + "\r\n"
	case has("250-Hello ", ""):
		out = "250-" + hostname + "\r\n"
	case has("250 2.0.0 Hello ", ""):
		out = "250 " + hostname + "\r\n"
	case is("250 2.0.0 Session reset"), is("250 2.0.0 I have successfully done nothing"):
		out = "250 2.0.0 Ok\r\n"
	case is("421 4.4.2 Idle timeout, bye bye"):
		out = "421 4.4.2 " + hostname + " Error: timeout exceeded\r\n"
	case is("500 5.5.1 Too many errors. Quiting now"):
		out = "421 4.7.0 " + hostname + " Error: too many errors\r\n"
	case is("552 5.3.4 Max message size exceeded"):
		out = "552 5.3.4 Message size exceeds fixed limit\r\n"
	case is("502 5.5.1 Please introduce yourself first."):
		out = "503 5.5.1 Error: send HELO/EHLO first\r\n"
	case is("502 5.5.1 Missing MAIL FROM command."):
		out = "503 5.5.1 Error: need MAIL command\r\n"
	case is("502 5.5.1 Missing RCPT TO command."):
		out = "554 5.5.1 Error: no valid recipients\r\n"
	case has("500 5.5.2 Syntax errors, ", " command unrecognized"), is("501 5.5.2 Bad command"):
		out = "502 5.5.2 Error: command not recognized\r\n"
	default:
		return nil
	}
	return []byte(out)
}
