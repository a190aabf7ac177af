package relay

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
)

// NewSession implements smtp.Backend: go-smtp calls it at the client's
// first HELO or EHLO. The client restrictions (and, with
// smtpd_delay_reject = no, the HELO restrictions) are checked here.
func (r *MX) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{r: r, conn: c, helo: c.Hostname()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if nc := c.Conn(); nc != nil {
		s.clientAddr, s.clientPort = addrPort(nc.RemoteAddr())
		s.serverAddr, s.serverPort = addrPort(nc.LocalAddr())
		if tc, ok := nc.(*tls.Conn); ok {
			st := tc.ConnectionState()
			s.tls = &st
		}
		if s.sc = serverConn(nc); s.sc != nil {
			s.proto = s.sc.protocol
			s.sc.sess.Store(s)
		}
	}
	if !r.sessions.add(s) {
		// Shutting down: say so and hang up, as for an idle session.
		s.cancel()
		return nil, s.hangUp(errShutdown)
	}
	for _, stage := range []policy.Stage{policy.StageConnect, policy.StageHelo} {
		if err := s.check(stage, ""); err != nil {
			r.sessions.remove(s)
			s.cancel()
			return nil, err
		}
	}
	return s, nil
}

// session is one SMTP connection's state.
type session struct {
	r      *MX
	conn   *smtp.Conn
	ctx    context.Context
	cancel context.CancelFunc

	clientAddr, serverAddr netip.Addr
	clientPort, serverPort int
	helo                   string
	tls                    *tls.ConnectionState
	proto                  func() string // "SMTP" or "ESMTP" when known
	sc                     *conn         // the connection, when accepted by a Server

	mu           sync.Mutex
	errors       int  // error replies so far (SoftErrorLimit, HardErrorLimit)
	junk         int  // NOOP, RSET and VRFY commands so far
	inData       bool // a DATA transfer is being stored, or its reply is not sent yet
	replyPending bool // Data returned; the reply is being written
	closing      bool // shut down after the current transaction

	// The transaction.
	mail     bool
	sender   string
	opts     smtp.MailOptions
	rcpts    []queue.Recipient
	queueID  queue.ID
	discard  bool
	hold     bool
	prepends []string
}

func addrPort(a net.Addr) (netip.Addr, int) {
	if a == nil {
		return netip.Addr{}, 0
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, 0
	}
	return ap.Addr().Unmap(), int(ap.Port())
}

func (s *session) protocol() string {
	p := "ESMTP"
	if s.proto != nil {
		if v := s.proto(); v != "" {
			p = v
		}
	}
	return p
}

func (s *session) clientString() string {
	return fmt.Sprintf("unknown[%s]", s.clientAddr)
}

func (s *session) resetTransaction() {
	s.mail = false
	s.sender = ""
	s.opts = smtp.MailOptions{}
	s.rcpts = nil
	s.queueID = ""
	s.discard = false
	s.hold = false
	s.prepends = nil
}

// Reset implements smtp.Session.
func (s *session) Reset() { s.resetTransaction() }

// Logout implements smtp.Session.
func (s *session) Logout() error {
	s.r.sessions.remove(s)
	s.cancel()
	return nil
}
