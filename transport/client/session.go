package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

var errCanceled = errors.New("delivery canceled")

// timedConn applies a per-operation deadline to every Read and Write: the
// current stage timeout, or the context deadline if earlier. Cancelling the
// context moves the deadline into the past, which unblocks any I/O.
type timedConn struct {
	net.Conn
	mu          sync.Mutex
	timeout     time.Duration
	ctxDeadline time.Time
	canceled    bool
}

func (c *timedConn) arm() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.canceled {
		return errCanceled
	}
	d := time.Now().Add(c.timeout)
	if !c.ctxDeadline.IsZero() && c.ctxDeadline.Before(d) {
		d = c.ctxDeadline
	}
	return c.Conn.SetDeadline(d)
}

func (c *timedConn) Read(p []byte) (int, error) {
	if err := c.arm(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *timedConn) Write(p []byte) (int, error) {
	if err := c.arm(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *timedConn) setTimeout(d time.Duration) {
	c.mu.Lock()
	c.timeout = d
	c.mu.Unlock()
}

// bind attaches ctx to the connection until the returned function is
// called; it reports whether ctx fired in the meantime.
func (c *timedConn) bind(ctx context.Context) (release func() bool) {
	c.mu.Lock()
	c.canceled = false
	c.ctxDeadline, _ = ctx.Deadline()
	c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.canceled = true
		_ = c.Conn.SetDeadline(time.Unix(1, 0))
		c.mu.Unlock()
	})
	return func() bool {
		fired := !stop()
		c.mu.Lock()
		c.ctxDeadline = time.Time{}
		c.mu.Unlock()
		return fired
	}
}

// extensions are the EHLO keywords the client uses (RFC 5321 4.1.1.1).
type extensions struct {
	pipelining, eightBit, smtputf8, dsn, startTLS, chunking, enhanced bool
	size                                                              bool
	xforward                                                          xforwardAttrs // the XFORWARD attributes announced
	sizeLimit                                                         int64         // 0: none declared
}

func parseEHLO(r Reply) extensions {
	var x extensions
	for _, l := range r.Lines[1:] {
		kw, arg, _ := strings.Cut(strings.TrimSpace(l), " ")
		switch strings.ToUpper(kw) {
		case "PIPELINING":
			x.pipelining = true
		case "8BITMIME":
			x.eightBit = true
		case "SMTPUTF8":
			x.smtputf8 = true
		case "DSN":
			x.dsn = true
		case "STARTTLS":
			x.startTLS = true
		case "CHUNKING":
			x.chunking = true
		case "ENHANCEDSTATUSCODES":
			x.enhanced = true
		case "XFORWARD":
			x.xforward = parseXForwardAttrs(arg)
		case "SIZE":
			x.size = true
			if n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64); err == nil && n > 0 {
				x.sizeLimit = n
			}
		}
	}
	return x
}

// session is one connection to one target.
type session struct {
	c       *Client
	t       Target
	key     poolKey
	tc      *timedConn
	conn    net.Conn // tc, or the TLS client on it
	br      *bufio.Reader
	bw      *bufio.Writer
	ext     extensions
	tls     bool
	opened  time.Time
	idleAt  time.Time
	broken  bool
	helo    Stage
	ehlo    string // the first word of the peer's EHLO reply: its name
	scratch []byte
}

const ioBufferSize = 32 << 10

// pipelineWindow caps the bytes of pipelined commands written before their
// replies are read: 4 KiB, as Postfix's smtp_loop (VSTREAM_BUFSIZE). A
// peer that writes each reply before reading the next command stops
// reading while its replies go unread, and a client still writing
// commands then blocks too (RFC 2920 section 3.1). A window this small
// fits in the socket buffers, so every write completes before the client
// turns to reading.
const pipelineWindow = 4096

func (s *session) setConn(conn net.Conn) {
	s.conn = conn
	s.br = bufio.NewReaderSize(conn, ioBufferSize)
	s.bw = bufio.NewWriterSize(conn, ioBufferSize)
}

// ioError converts an I/O or parse error at a stage into an *Error.
func (s *session) ioError(stage Stage, err error) *Error {
	s.broken = true
	t := &s.t
	switch {
	case errors.Is(err, errCanceled) || (errors.Is(err, os.ErrDeadlineExceeded) && s.tc.isCanceled()):
		return localError(KindCanceled, stage, true, EnhancedCode{4, 3, 0}, "", context.Canceled, t)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return localError(KindTimeout, stage, true, EnhancedCode{4, 4, 2}, "", err, t)
	case errors.Is(err, ErrMalformedReply):
		e := localError(KindLost, stage, true, EnhancedCode{4, 4, 2}, "malformed reply from", err, t)
		return e
	}
	return localError(KindLost, stage, true, EnhancedCode{4, 4, 2}, "", err, t)
}

func (c *timedConn) isCanceled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.canceled || (!c.ctxDeadline.IsZero() && !time.Now().Before(c.ctxDeadline))
}

// read reads one reply with the given stage timeout.
func (s *session) read(stage Stage, timeout time.Duration) (Reply, *Error) {
	s.tc.setTimeout(timeout)
	r, err := readReply(s.br)
	if err != nil {
		return Reply{}, s.ioError(stage, err)
	}
	if r.Code == 421 {
		// The server is closing the channel (RFC 5321 3.8).
		s.broken = true
	}
	return r, nil
}

// flush writes buffered commands with the given stage timeout.
func (s *session) flush(stage Stage, timeout time.Duration) *Error {
	s.tc.setTimeout(timeout)
	if err := s.bw.Flush(); err != nil {
		return s.ioError(stage, err)
	}
	return nil
}

// cmd sends one command and reads its reply.
func (s *session) cmd(stage Stage, timeout time.Duration, line string) (Reply, *Error) {
	s.bw.WriteString(line)
	s.bw.WriteString("\r\n")
	if e := s.flush(stage, timeout); e != nil {
		return Reply{}, e
	}
	return s.read(stage, timeout)
}

// open dials t and performs greeting, EHLO and STARTTLS. On failure the
// connection is closed and the error classified.
func (c *Client) open(ctx context.Context, t Target) (*session, *Error) {
	to := &c.timeouts
	dctx, cancel := context.WithTimeout(ctx, to.Connect)
	conn, err := c.dialer.DialContext(dctx, t.network(), t.Address)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, localError(KindCanceled, StageConnect, true, EnhancedCode{4, 3, 0}, "", ctx.Err(), &t)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, localError(KindTimeout, StageConnect, true, EnhancedCode{4, 4, 1}, "", err, &t)
		}
		return nil, localError(KindConnect, StageConnect, true, EnhancedCode{4, 4, 1}, "", err, &t)
	}
	s := &session{c: c, t: t, key: keyOf(&t), tc: &timedConn{Conn: conn}, opened: time.Now()}
	s.setConn(s.tc)
	release := s.tc.bind(ctx)
	e := s.handshake(ctx)
	if release() && e == nil {
		e = localError(KindCanceled, StageStartTLS, true, EnhancedCode{4, 3, 0}, "", ctx.Err(), &t)
	}
	if e != nil {
		s.close(true)
		return nil, e
	}
	return s, nil
}

func (s *session) handshake(ctx context.Context) *Error {
	to := &s.c.timeouts
	t := &s.t
	r, e := s.read(StageGreeting, to.Helo)
	if e != nil {
		return e
	}
	s.warnGreetingLoop(r)
	if r.Code != 220 {
		s.broken = true
		e := replyError(KindGreeting, StageGreeting, r, t)
		if r.Permanent() && !s.c.cfg.Bounce5xxGreeting {
			e.soften() // smtp_skip_5xx_greeting: 4.x.x, as Postfix
		}
		return e
	}
	if e := s.hello(); e != nil {
		return e
	}
	if e := s.checkLoop(); e != nil {
		return e
	}
	if e := s.startTLS(ctx); e != nil {
		s.broken = true
		return e
	}
	return nil
}

// hello sends EHLO (or LHLO), falling back to HELO after a 5xx to EHLO.
func (s *session) hello() *Error {
	to := &s.c.timeouts
	verb, stage := "EHLO", StageEHLO
	if s.t.LMTP {
		verb, stage = "LHLO", StageLHLO
	}
	r, e := s.cmd(stage, to.Helo, verb+" "+s.c.cfg.Hostname)
	if e != nil {
		return e
	}
	if r.Permanent() && !s.t.LMTP && r.Code != 421 {
		stage = StageHELO
		r, e = s.cmd(stage, to.Helo, "HELO "+s.c.cfg.Hostname)
		if e != nil {
			return e
		}
		if r.Positive() {
			s.helo, s.ext = stage, extensions{}
			return nil
		}
	}
	if !r.Positive() {
		return replyError(KindHelo, stage, r, &s.t)
	}
	s.helo, s.ext, s.ehlo = stage, parseEHLO(r), firstWord(r)
	return nil
}

func (s *session) startTLS(ctx context.Context) *Error {
	t := &s.t
	to := &s.c.timeouts
	if t.TLS == TLSNone || s.tls {
		return nil
	}
	required := t.TLS == TLSMandatory || t.TLS == TLSVerify
	if !s.ext.startTLS {
		if required {
			return localError(KindTLS, StageStartTLS, true, EnhancedCode{4, 7, 4},
				fmt.Sprintf("TLS is required, but was not offered by host %s", s.peer()), nil, t)
		}
		return nil
	}
	r, e := s.cmd(StageStartTLS, to.StartTLS, "STARTTLS")
	if e != nil {
		return e
	}
	if r.Code != 220 {
		if !required && r.Code != 421 {
			// Opportunistic: carry on in clear text on this connection.
			return nil
		}
		e := replyError(KindTLS, StageStartTLS, r, t)
		e.soften() // a TLS policy failure defers, never bounces
		return e
	}
	if s.br.Buffered() > 0 {
		// Anything sent after the 220 was sent in clear and must not be
		// read as if it came over TLS (CVE-2011-0411 class injection).
		return localError(KindLost, StageStartTLS, true, EnhancedCode{4, 4, 2},
			"plaintext injection after STARTTLS reply from", nil, t)
	}
	cfg := &tls.Config{}
	if t.TLSConfig != nil {
		cfg = t.TLSConfig.Clone()
	}
	switch {
	case t.TLS == TLSVerify && len(t.TLSMatch) > 0:
		// The chain and the names are checked by verifyMatch instead of
		// crypto/tls's single ServerName check.
		if cfg.ServerName == "" {
			cfg.ServerName = t.Host
		}
		cfg.InsecureSkipVerify = true
		userCheck, roots, match := cfg.VerifyConnection, cfg.RootCAs, t.TLSMatch
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if err := verifyMatch(cs, roots, match); err != nil {
				return err
			}
			if userCheck != nil {
				return userCheck(cs)
			}
			return nil
		}
	case t.TLS == TLSVerify:
		if cfg.ServerName == "" {
			cfg.ServerName = t.TLSName
			if cfg.ServerName == "" {
				cfg.ServerName = t.Host
			}
		}
		cfg.InsecureSkipVerify = false
	default:
		cfg.InsecureSkipVerify = true
		if cfg.ServerName == "" {
			cfg.ServerName = t.Host
		}
	}
	s.tc.setTimeout(to.StartTLS)
	tconn := tls.Client(s.tc, cfg)
	if err := tconn.HandshakeContext(ctx); err != nil {
		if s.tc.isCanceled() {
			return localError(KindCanceled, StageStartTLS, true, EnhancedCode{4, 3, 0}, "", ctx.Err(), t)
		}
		e := localError(KindTLS, StageStartTLS, true, EnhancedCode{4, 7, 5},
			fmt.Sprintf("Cannot start TLS: handshake failure with %s", s.peer()), err, t)
		var cerr *tls.CertificateVerificationError
		if errors.As(err, &cerr) {
			e.Text = fmt.Sprintf("Server certificate not verified: %s", s.peer())
		}
		e.plainOK = t.TLS == TLSOpportunistic
		return e
	}
	s.tls = true
	s.setConn(tconn)
	return s.hello()
}

// verifyMatch verifies the peer's chain against roots (nil: the system
// roots) and its certificate against the match list of Target.TLSMatch.
func verifyMatch(cs tls.ConnectionState, roots *x509.CertPool, match []string) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errors.New("no server certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	leaf := certs[0]
	fail := func(err error) error {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fail(err)
	}
	for _, m := range match {
		m = strings.ToLower(strings.TrimSuffix(m, "."))
		if strings.HasPrefix(m, ".") {
			for _, n := range leaf.DNSNames {
				if n = strings.ToLower(strings.TrimSuffix(n, ".")); len(n) > len(m) && strings.HasSuffix(n, m) {
					return nil
				}
			}
			continue
		}
		if m != "" && leaf.VerifyHostname(m) == nil {
			return nil
		}
	}
	return fail(fmt.Errorf("certificate names %v match none of %v", leaf.DNSNames, match))
}

func (s *session) peer() string {
	p, _ := namaddr(s.t.Host, s.t.Address)
	return p
}

// close ends the session: QUIT when the protocol is still in sync, then
// close. For SMTP the reply is not awaited (Postfix smtp_skip_quit_response
// = yes); for LMTP it is (lmtp_skip_quit_response = no): a local LMTP server
// writing its 221 to a socket we already closed gets EPIPE and logs a lost
// connection instead of a completed session.
func (s *session) close(quit bool) {
	if quit && !s.broken {
		s.tc.mu.Lock()
		s.tc.canceled = false
		s.tc.ctxDeadline = time.Time{}
		s.tc.mu.Unlock()
		s.tc.setTimeout(s.c.timeouts.Quit)
		s.bw.WriteString("QUIT\r\n")
		if err := s.bw.Flush(); err == nil && s.t.LMTP {
			_, _ = readReply(s.br)
		}
	}
	_ = s.conn.Close()
	if s.conn != net.Conn(s.tc) {
		_ = s.tc.Close()
	}
}

var _ io.Writer = (*lineWriter)(nil)
