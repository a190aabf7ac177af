package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mxrelay/mxrelay/relay/proxyproto"
	"github.com/mxrelay/mxrelay/relay/smtpd"
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
	// accepted, as Postfix's process limit makes them wait. Default 2000:
	// deliberately far above Postfix's default_process_limit (100), since
	// an idle session costs tens of kilobytes here, not a process
	// (BENCHMARKS.md). From 80% of it on, new sessions get the stress
	// limits below, as Postfix's smtpd under stress. Load sets it from a
	// numeric maxproc of master.cf's port-25 smtpd services.
	MaxConnections int
	// StressTimeout, StressHardErrorLimit and StressJunkCommandLimit are
	// the limits of a session that starts under stress. Defaults 10s, 1
	// and 1, the ${stress?...} values of Postfix's smtpd_timeout,
	// smtpd_hard_error_limit and smtpd_junk_command_limit.
	StressTimeout          time.Duration
	StressHardErrorLimit   int
	StressJunkCommandLimit int
	// MaxConnectionsPerClient caps simultaneous connections from one IP
	// address; more are answered "421 4.7.0 HOSTNAME Error: too many
	// connections from ADDR" and closed. Default 50, as Postfix
	// smtpd_client_connection_count_limit; negative: no limit.
	MaxConnectionsPerClient int
	// Banner is the greeting text after "220 ". Default "$myhostname
	// ESMTP $mail_name", as Postfix smtpd_banner.
	Banner string
	// DisableVRFY answers VRFY "502 5.5.1 VRFY command is disabled", as
	// Postfix disable_vrfy_command = yes.
	DisableVRFY bool
	// StrictRFC821 accepts only "<address>" in MAIL FROM and RCPT TO, as
	// Postfix strict_rfc821_envelopes = yes.
	StrictRFC821 bool
	// CommandFilter may replace each command line before it is parsed,
	// as Postfix smtpd_command_filter; see smtpd.Config.CommandFilter.
	// Load sets it from smtpd_command_filter.
	CommandFilter func(ctx context.Context, line string) (string, bool, error)
	// RequireTLS refuses mail commands before STARTTLS ("530 5.7.0 Must
	// issue a STARTTLS command first"), as Postfix
	// smtpd_tls_security_level = encrypt. An MX the Internet sends to
	// must not require it (RFC 3207 section 4).
	RequireTLS bool
	// ForbidUnauthPipelining hangs up on a client that pipelines where
	// RFC 2920 does not allow it, as Postfix smtpd_forbid_unauth_pipelining.
	ForbidUnauthPipelining bool
	// ProxyProtocol makes every connection start with a HAProxy PROXY
	// header (version 1 or 2) that names the real client, as Postfix
	// smtpd_upstream_proxy_protocol = haproxy: for a relay behind a load
	// balancer. A connection without a valid header within ProxyTimeout
	// is answered "421 4.3.0 HOSTNAME Server local error" and closed.
	ProxyProtocol bool
	// ProxyTimeout bounds the wait for the PROXY header. Default 5s, as
	// Postfix smtpd_upstream_proxy_timeout.
	ProxyTimeout time.Duration
	// LimitExempt reports the clients that MaxConnectionsPerClient does
	// not apply to, as Postfix smtpd_client_event_limit_exceptions
	// (default $mynetworks). Nil: none.
	LimitExempt func(ctx context.Context, client netip.Addr) bool
	// NoSMTPUTF8 does not announce SMTPUTF8, as Postfix smtputf8_enable
	// = no.
	NoSMTPUTF8 bool
	// NoIPv4 and NoIPv6 refuse an XFORWARD ADDR of that family, as
	// Postfix does for a family inet_protocols leaves out. Zero: both
	// are taken.
	NoIPv4, NoIPv6 bool
	// MaxLine caps a command line (a longer one is cut). Default 2048, as
	// Postfix line_length_limit.
	MaxLine int
	// RecipientOvershootLimit is the number of recipients past the
	// recipient limit that are refused without counting as errors.
	// Default 1000, as Postfix smtpd_recipient_overshoot_limit.
	RecipientOvershootLimit int
	// DiscardEHLOKeywords are EHLO keywords not announced, as Postfix
	// smtpd_discard_ehlo_keywords.
	DiscardEHLOKeywords []string
	// NoDelivery runs no delivery workers: the server only receives into
	// MX's queue, which another server delivers (LoadOptions.Scheduler).
	NoDelivery bool
	// DrainDeliveries is how long Shutdown lets deliveries in progress
	// finish before cancelling them. Default: until Shutdown's context
	// ends.
	DrainDeliveries time.Duration
}

// Server runs an MX: an SMTP listener in front of the project's SMTP
// engine (package relay/smtpd) and its delivery workers. Serve or
// ListenAndServe starts it; Shutdown stops it.
type Server struct {
	c        ServerConfig
	engine   *smtpd.Server
	sessions context.Context    // ends at Shutdown: idle sessions are told 421
	stop     context.CancelFunc // ends sessions
	closed   chan struct{}      // closed at Shutdown: Serve stops accepting
	wg       sync.WaitGroup     // the connections being served

	mu        sync.Mutex
	started   bool
	listening int
	runCancel context.CancelFunc
	runHard   context.CancelFunc
	runDone   chan struct{}
	perClient map[netip.Addr]int
	slots     chan struct{}
	addrs     []net.Addr
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	closing   bool // Shutdown has begun
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
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxConnectionsPerClient == 0 {
		c.MaxConnectionsPerClient = 50
	}
	if c.ProxyTimeout <= 0 {
		c.ProxyTimeout = proxyproto.DefaultTimeout
	}
	mc := c.MX.c
	if c.Banner == "" {
		c.Banner = mc.Hostname + " ESMTP " + mc.MailName
	}
	s := &Server{
		c:         c,
		closed:    make(chan struct{}),
		perClient: make(map[netip.Addr]int),
		slots:     make(chan struct{}, c.MaxConnections),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]struct{}),
	}
	s.sessions, s.stop = context.WithCancel(context.Background())
	s.engine = smtpd.NewServer(c.MX, smtpd.Config{
		Hostname:                mc.Hostname,
		Banner:                  c.Banner,
		Timeout:                 c.Timeout,
		SizeLimit:               c.MX.MessageSizeLimit(),
		TLS:                     c.TLS,
		SoftErrorLimit:          mc.SoftErrorLimit,
		HardErrorLimit:          mc.HardErrorLimit,
		JunkCommandLimit:        mc.JunkCommandLimit,
		ErrorSleep:              mc.ErrorSleep,
		DisableVRFY:             c.DisableVRFY,
		StrictRFC821:            c.StrictRFC821,
		CommandFilter:           c.CommandFilter,
		DiscardEHLOKeywords:     c.DiscardEHLOKeywords,
		RequireTLS:              c.RequireTLS,
		ForbidUnauthPipelining:  c.ForbidUnauthPipelining,
		RecipientLimit:          mc.RecipientLimit,
		Stressed:                s.stressed,
		StressTimeout:           c.StressTimeout,
		StressHardErrorLimit:    c.StressHardErrorLimit,
		StressJunkCommandLimit:  c.StressJunkCommandLimit,
		RecipientOvershootLimit: c.RecipientOvershootLimit,
		NoSMTPUTF8:              c.NoSMTPUTF8,
		NoIPv4:                  c.NoIPv4,
		NoIPv6:                  c.NoIPv6,
		MaxLine:                 c.MaxLine,
		Logger:                  c.MX.log,
		Now:                     mc.Now,
	})
	return s, nil
}

// DefaultMaxConnections is ServerConfig.MaxConnections' default.
const DefaultMaxConnections = 2000

// stressed reports whether 80% of the connection slots are taken.
func (s *Server) stressed() bool {
	return len(s.slots)*5 >= cap(s.slots)*4
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
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.addrs = append(s.addrs, l.Addr())
	s.listeners[l] = struct{}{}
	s.listening++
	if !s.started {
		s.started = true
		hardCtx, hard := context.WithCancel(context.WithoutCancel(ctx))
		runCtx, cancel := context.WithCancel(ctx)
		s.runCancel, s.runHard = cancel, hard
		s.runDone = make(chan struct{})
		go func() {
			defer close(s.runDone)
			if !s.c.NoDelivery && s.c.MX.c.Router != nil && s.c.MX.c.Agent != nil {
				_ = s.c.MX.run(runCtx, hardCtx)
			} else {
				<-runCtx.Done()
			}
		}()
	}
	s.mu.Unlock()

	err := s.accept(l)
	s.mu.Lock()
	delete(s.listeners, l)
	s.listening--
	last := s.listening == 0
	closing := s.closing
	cancel, hard, done := s.runCancel, s.runHard, s.runDone
	s.mu.Unlock()
	if closing {
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

// accept runs the accept loop of one listener: a connection slot first
// (MaxConnections), then a goroutine of its own per connection.
func (s *Server) accept(l net.Listener) error {
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.closed:
			return nil
		}
		nc, err := l.Accept()
		if err != nil {
			<-s.slots
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.mu.Lock()
		closing := s.closing
		if !closing {
			s.conns[nc] = struct{}{}
			s.wg.Add(1)
		}
		s.mu.Unlock()
		if closing {
			<-s.slots
			s.refuse(nc, errShutdown)
			continue
		}
		go func() {
			defer s.wg.Done()
			defer s.releaseSlot(nc)
			s.handle(nc)
		}()
	}
}

// handle serves one connection: the PROXY header when configured, the
// per-client limit, then SMTP.
func (s *Server) handle(nc net.Conn) {
	conn := nc
	if s.c.ProxyProtocol {
		pc, err := proxyproto.Handshake(nc, s.c.ProxyTimeout)
		if err == nil && pc.Header().Version == 1 && pc.Header().Local {
			// Postfix refuses PROXY UNKNOWN: it would sidestep every
			// address-based access control.
			err = errors.New("PROXY UNKNOWN")
		}
		if err != nil {
			s.c.MX.log.Warn("PROXY header", "conn", nc.RemoteAddr().String(), "err", err)
			s.refuse(nc, newError(421, "4.3.0", "%s Server local error", s.c.MX.c.Hostname))
			return
		}
		conn = pc
	}
	addr, _ := addrPort(conn.RemoteAddr())
	if !s.admit(addr) {
		s.c.MX.countRefused(s.sessions, addr)
		s.refuse(conn, newError(421, "4.7.0", "%s Error: too many connections from %s", s.c.MX.c.Hostname, addr))
		return
	}
	defer s.release(addr)
	s.engine.ServeConn(s.sessions, conn, nil)
}

// refuse answers a connection it will not serve, and closes it.
func (s *Server) refuse(nc net.Conn, e *Error) {
	_ = nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(nc, "%d %s %s\r\n", e.Code, e.Status, e.Message)
	_ = nc.Close()
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
	if !s.closing {
		s.closing = true
		close(s.closed)
		for l := range s.listeners {
			l.Close()
		}
	}
	cancel, hard, done := s.runCancel, s.runHard, s.runDone
	s.mu.Unlock()
	s.stop()
	served := s.sessionsDone()
	select {
	case <-served:
	case <-ctx.Done():
		s.mu.Lock()
		for nc := range s.conns {
			nc.Close()
		}
		s.mu.Unlock()
		<-served
		if hard != nil {
			hard()
		}
		return ctx.Err()
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

// admit counts a connection against MaxConnectionsPerClient, unless the
// client is exempt (LimitExempt, looked up before the lock is taken).
func (s *Server) admit(a netip.Addr) bool {
	limit := s.c.MaxConnectionsPerClient
	if limit > 0 && s.c.LimitExempt != nil && s.c.LimitExempt(s.sessions, a) {
		limit = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit > 0 && s.perClient[a] >= limit {
		return false
	}
	s.perClient[a]++
	return true
}

// release gives back a client's connection count.
func (s *Server) release(a netip.Addr) {
	s.mu.Lock()
	if s.perClient[a]--; s.perClient[a] <= 0 {
		delete(s.perClient, a)
	}
	s.mu.Unlock()
}

// releaseSlot gives back a connection's slot.
func (s *Server) releaseSlot(nc net.Conn) {
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
	<-s.slots
}
