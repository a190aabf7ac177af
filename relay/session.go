package relay

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"sync"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maillog"
	"github.com/mxrelay/mxrelay/relay/milter"
	"github.com/mxrelay/mxrelay/relay/smtpd"
)

// session is one SMTP session's state and decisions, whichever server
// speaks SMTP: the project's engine (edge.go, what Server runs) or a
// user's go-smtp server (gosmtp.go, MX.NewSession). Its methods return
// the *Error to answer, or nil; the front ends count errors and send
// replies.
type session struct {
	r *MX
	// forward is what an authorized client sent with XFORWARD for this
	// transaction (relay/xforward.go); nil when nothing.
	forward *smtpd.Forwarded
	// messageIDDue is the queue ID of a message that has no Message-Id,
	// whose "message-id=<>" line waits for cleanup, which may add one
	// (session_data.go); "" when no line waits.
	messageIDDue queue.ID
	ctx          context.Context
	cancel       context.CancelFunc

	clientAddr, serverAddr netip.Addr
	clientPort, serverPort int
	helo                   string
	esmtp                  bool // the client said EHLO
	tls                    *tls.ConnectionState
	pipelining             string          // the command after which the client pipelined improperly
	dns                    *policy.Session // the session's DNS answers for policy
	names                  policy.ClientNames
	anvilCounted           bool // the connection counts in MX's RateLimits (session_anvil.go)

	mu      sync.Mutex // guards what Shutdown reads from another goroutine
	errors  int        // error replies so far (go-smtp front end)
	inData  bool       // a message is being received and not yet answered
	closing bool       // shut down after the current transaction

	// Set by the front end, for MX.CloseSessions.
	closeIdle func() // tell an idle session 421 and close it
	cut       func() // close the connection at once
	// Set by the front end that counts commands: the counts for the
	// disconnect line ("ehlo=1 mail=1 ... commands=5").
	commands func() string
	accepted int // messages accepted in this session

	// The transaction.
	mail     bool
	sender   string
	params   mailParams
	rcpts    []queue.Recipient
	queueID  queue.ID
	discard  bool
	hold     bool
	prepends []string
	filter   string   // the last FILTER action of an access table
	redirect string   // the last REDIRECT action of an access table
	bcc      []string // the BCC actions of access tables

	milters          *milter.Session // Config.Milters (session_milter.go); nil: none
	milterRcptAddr   string          // the recipient of the RCPT event, for {rcpt_addr}
	milterRcptReject *Error          // the refusal of a rejected recipient reported to the milters

	proxy proxyState // the before-queue filter (session_proxy.go)
}

// mailParams are the MAIL FROM parameters the relay keeps.
type mailParams struct {
	utf8  bool
	size  int64 // -1 or 0: none announced
	envID string
	ret   queue.Ret
	body  string // BODY=, as the client gave it; "": none
}

func newSession(r *MX) *session {
	s := &session{r: r, dns: policy.NewSession()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
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

// protocol names the protocol in Received: headers and policy requests.
func (s *session) protocol() string {
	if s.helo != "" && !s.esmtp {
		return "SMTP"
	}
	return "ESMTP"
}

func (s *session) clientString() string {
	name := s.names.Name
	if name == "" {
		name = "unknown"
	}
	return name + "[" + s.clientAddr.String() + "]"
}

// clientNamer is a Checker that finds client names (*policy.Policy).
type clientNamer interface {
	LookupClientNames(ctx context.Context, addr netip.Addr, sess *policy.Session) policy.ClientNames
}

// lookupClientNames finds the client's names once, at connect, as
// Postfix's smtpd_peer.c does (smtpd_peername_lookup). A Checker of the
// user's own that does not find names leaves them unknown.
func (s *session) lookupClientNames() {
	if n, ok := s.r.c.Policy.(clientNamer); ok {
		s.names = n.LookupClientNames(s.ctx, s.clientAddr, s.dns)
	}
}

// connected logs the start of the session (Postfix's "connect from").
func (s *session) connected() {
	s.r.log.Info(maillog.Connect, maillog.KeyClient, s.clientString())
}

func (s *session) resetTransaction() {
	s.milterAbort()
	s.proxyClose()
	s.mail = false
	s.sender = ""
	s.params = mailParams{}
	s.rcpts = nil
	s.queueID = ""
	s.discard = false
	s.hold = false
	s.prepends = nil
	s.filter, s.redirect, s.bcc = "", "", nil
}

// end ends the session: it is logged (Postfix's "disconnect from") and
// reported to a SessionObserver.
func (s *session) end() {
	s.anvilDisconnect()
	s.milterClose()
	s.r.sessions.remove(s)
	s.cancel()
	if s.commands != nil {
		s.r.log.Info(maillog.Disconnect, maillog.KeyClient, s.clientString(), maillog.KeyCommands, s.commands())
	} else {
		s.r.log.Info(maillog.Disconnect, maillog.KeyClient, s.clientString())
	}
	if so, ok := s.r.obs.(SessionObserver); ok {
		so.SessionEnded(SessionEnd{Client: s.clientAddr, TLS: s.tls != nil, Accepted: s.accepted})
	}
}
