package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

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

var (
	errShutdown   = newError(421, "4.3.2", "Service shutting down")
	errBadSender  = newError(501, "5.1.7", "Bad sender address syntax")
	errBadRcpt    = newError(501, "5.1.3", "Bad recipient address syntax")
	errNeedRcpt   = newError(554, "5.5.1", "Error: no valid recipients")
	errNeedMail   = newError(503, "5.5.1", "Error: need MAIL command")
	errNestedMail = newError(503, "5.5.1", "Error: nested MAIL command")
)

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

// request builds a policy request for the current state.
func (s *session) request(stage policy.Stage, rcpt string) *policy.Request {
	req := &policy.Request{
		Stage:          stage,
		ClientAddr:     s.clientAddr,
		ClientPort:     s.clientPort,
		ServerAddr:     s.serverAddr,
		ServerPort:     s.serverPort,
		Helo:           s.helo,
		Recipient:      rcpt,
		SMTPUTF8:       s.opts.UTF8,
		Size:           s.opts.Size,
		RecipientCount: len(s.rcpts),
		QueueID:        string(s.queueID),
		Discard:        s.discard,
		Protocol:       s.protocol(),
	}
	if s.mail {
		req.Sender = "<" + s.sender + ">"
	}
	if s.tls != nil {
		req.TLS = &policy.TLS{Protocol: tlsVersionName(s.tls.Version), Cipher: tls.CipherSuiteName(s.tls.CipherSuite)}
	}
	return req
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

// check asks policy about one stage; a refusal is counted and returned
// as a bare *smtp.SMTPError.
func (s *session) check(stage policy.Stage, rcpt string) error {
	d := s.r.c.Policy.Check(s.ctx, s.request(stage, rcpt))
	for _, a := range d.Actions {
		switch a.Kind {
		case policy.ActionPrepend:
			s.prepends = append(s.prepends, a.Value)
		case policy.ActionWarn, policy.ActionInfo:
			s.r.log.Info("policy "+strings.ToLower(a.Kind.String()), "client", s.clientString(), "text", a.Value, "stage", stage.String())
		}
	}
	if d.Discard {
		s.discard = true
	}
	if d.Hold {
		s.hold = true
	}
	switch d.Verdict {
	case policy.Reject, policy.Defer:
		e := refusal(d)
		attrs := []any{"stage", stage.String(), "client", s.clientString(), "reply", d.Reply(),
			"reason", d.Reason.String(), "from", s.sender, "to", rcpt, "helo", s.helo}
		if d.Err != nil {
			attrs = append(attrs, "err", d.Err)
		}
		s.r.log.Info("reject", attrs...)
		s.r.obs.Rejected(Rejection{Stage: stage.String(), Code: d.Code, Status: d.Enhanced, Client: s.clientAddr})
		if d.EndSession || d.Code == 421 {
			return s.hangUp(e)
		}
		return s.fail(e)
	}
	return nil
}

// refusal is the reply for a Reject or Defer decision. A Checker's
// mistakes stay temporary: a reply code that is not 4xx or 5xx becomes
// Postfix's "451 4.3.5 Server configuration error", and a deferral or a
// failure of ours (Decision.Err) answered 5xx becomes 4xx, so that no
// mail is refused for good because of a fault on this side.
func refusal(d policy.Decision) *Error {
	e := &Error{Code: d.Code, Status: d.Enhanced, Message: d.Text, Err: d.Err}
	switch {
	case d.Code < 400 || d.Code > 599:
		e.Code, e.Status, e.Message = 451, "4.3.5", "Server configuration error"
	case d.Code >= 500 && (d.Verdict == policy.Defer || d.Err != nil):
		e.Code -= 100
		if strings.HasPrefix(e.Status, "5.") {
			e.Status = "4" + e.Status[1:]
		}
	}
	return e
}

func (s *session) clientString() string {
	return fmt.Sprintf("unknown[%s]", s.clientAddr)
}

// fail counts an error reply: past the soft limit the reply waits
// ErrorSleep.
func (s *session) fail(e *Error) error {
	s.countError()
	return e.SMTP()
}

// countError counts an error and, past the soft limit, waits
// ErrorSleep.
func (s *session) countError() {
	s.mu.Lock()
	s.errors++
	n := s.errors
	s.mu.Unlock()
	if n > s.r.c.SoftErrorLimit && s.r.c.ErrorSleep > 0 {
		t := time.NewTimer(s.r.c.ErrorSleep)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
		}
	}
}

// gate answers the command after the hard error limit with 421
// and closes the connection, as Postfix's smtpd does.
func (s *session) gate() error {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return s.hangUp(errShutdown)
	}
	return s.errorGate()
}

// errorGate is gate without the shutdown check, for DATA: once the 354
// is out, the message is received even when Shutdown has begun.
func (s *session) errorGate() error {
	s.mu.Lock()
	n := s.errors
	s.mu.Unlock()
	if n >= s.r.c.HardErrorLimit {
		s.r.log.Info("too many errors", "client", s.clientString(), "errors", n)
		return s.hangUp(newError(421, "4.7.0", "%s Error: too many errors", s.r.c.Hostname))
	}
	return nil
}

// hangUp sends a final reply and closes the connection. go-smtp only
// closes on QUIT, so the reply is written here directly; the error then
// returned to go-smtp goes nowhere.
func (s *session) hangUp(e *Error) error { return s.hangUpWith(e.SMTP()) }

// hangUpWith is hangUp for a reply already in go-smtp's form.
func (s *session) hangUpWith(e *smtp.SMTPError) error {
	if nc := s.conn.Conn(); nc != nil {
		_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		ec := e.EnhancedCode
		fmt.Fprintf(nc, "%d %d.%d.%d %s\r\n", e.Code, ec[0], ec[1], ec[2], e.Message)
		_ = nc.Close()
	}
	return e
}

// Mail implements smtp.Session.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if err := s.gate(); err != nil {
		return err
	}
	if s.mail {
		return s.fail(errNestedMail)
	}
	// A client may say EHLO again (go-smtp then resets, not renews, the
	// session): take the current name and TLS state.
	if h := s.conn.Hostname(); h != "" {
		s.helo = h
	}
	if st, ok := s.conn.TLSConnectionState(); ok {
		s.tls = &st
	}
	var o smtp.MailOptions
	if opts != nil {
		o = *opts
	}
	if _, err := policy.ParseAddress(from, o.UTF8); err != nil {
		s.r.log.Info("reject", "stage", "MAIL", "client", s.clientString(), "reply", errBadSender.Error(), "from", from, "err", err)
		return s.fail(errBadSender)
	}
	if lim := s.r.MessageSizeLimit(); lim > 0 && o.Size > lim {
		return s.fail(errSizeLimit)
	}
	s.opts = o
	s.sender = from
	s.mail = true
	if err := s.check(policy.StageMail, ""); err != nil {
		s.resetTransaction()
		return err
	}
	return nil
}

// Rcpt implements smtp.Session.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := s.gate(); err != nil {
		return err
	}
	if !s.mail {
		return s.fail(errNeedMail)
	}
	if len(s.rcpts) >= s.r.c.RecipientLimit {
		return s.fail(errTooManyRcpts)
	}
	if _, err := policy.ParseAddress(to, s.opts.UTF8); err != nil {
		s.r.log.Info("reject", "stage", "RCPT", "client", s.clientString(), "reply", errBadRcpt.Error(), "to", to, "err", err)
		return s.fail(errBadRcpt)
	}
	if err := s.check(policy.StageRcpt, to); err != nil {
		return err
	}
	rc := queue.Recipient{Address: to, Destination: s.r.destination(s.ctx, to)}
	if opts != nil {
		rc.Notify = notifyOf(opts.Notify)
		if opts.OriginalRecipient != "" {
			typ := string(opts.OriginalRecipientType)
			if typ == "" {
				typ = "rfc822"
			}
			rc.ORCPT = typ + ";" + opts.OriginalRecipient
		}
	}
	if s.queueID == "" {
		// The queue ID exists from the first accepted RCPT, as with
		// Postfix's smtpd_delay_open_until_valid_rcpt = yes.
		s.queueID = queue.NewID()
	}
	s.rcpts = append(s.rcpts, rc)
	return nil
}

func notifyOf(ns []smtp.DSNNotify) queue.Notify {
	var n queue.Notify
	for _, v := range ns {
		switch v {
		case smtp.DSNNotifyNever:
			return queue.NotifyNever
		case smtp.DSNNotifySuccess:
			n |= queue.NotifySuccess
		case smtp.DSNNotifyFailure:
			n |= queue.NotifyFailure
		case smtp.DSNNotifyDelayed:
			n |= queue.NotifyDelay
		}
	}
	return n
}

// Data implements smtp.Session: the message is normalised, checked and
// stored durably before the 250 reply.
func (s *session) Data(r io.Reader) error {
	err := s.data(r)
	if s.sc != nil {
		return err // afterWrite closes a session told to shut down
	}
	// Mounted in another server, no write hook tells when the reply is
	// out: a session told to shut down meanwhile writes its reply itself
	// and closes.
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if !closing {
		return err
	}
	if se, ok := err.(*smtp.SMTPError); ok {
		return s.hangUpWith(se)
	}
	return err
}

func (s *session) data(r io.Reader) error {
	// The transfer lasts until the reply is written (the 354 started it):
	// Shutdown waits for it.
	s.mu.Lock()
	s.inData = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.sc != nil {
			s.replyPending = true // afterWrite ends the transfer
		} else {
			s.inData = false
		}
		s.mu.Unlock()
	}()
	if err := s.errorGate(); err != nil {
		return err
	}
	if len(s.rcpts) == 0 {
		return s.fail(errNeedRcpt)
	}
	only := ""
	if len(s.rcpts) == 1 {
		only = s.rcpts[0].Address // Postfix knows the recipient at DATA only then
	}
	if err := s.check(policy.StageData, only); err != nil {
		return err
	}

	now := s.r.c.Now()
	addrs := make([]string, len(s.rcpts))
	for i, rc := range s.rcpts {
		addrs[i] = rc.Address
	}
	var hdr strings.Builder
	for _, p := range s.prepends {
		hdr.WriteString(sanitizeHeader(p))
		hdr.WriteString("\r\n")
	}
	hdr.WriteString(Received(ReceivedInfo{
		Helo: s.helo, ClientAddr: s.clientAddr, Hostname: s.r.c.Hostname, MailName: s.r.c.MailName,
		Protocol: receivedProtocol(s.protocol(), s.tls != nil, s.opts.UTF8), TLS: s.tls,
		QueueID: string(s.queueID), Recipients: addrs, Time: now,
	}))
	lim := DataLimits{MaxSize: s.r.MessageSizeLimit(), MaxHops: s.r.c.HopCountLimit, Bare: s.r.c.BareLineEndings}
	dr := newDataReader(r, lim)
	if s.discard {
		_, err := io.Copy(io.Discard, dr)
		id := s.queueID
		s.r.log.Info("discard", "queue_id", id, "client", s.clientString(), "from", s.sender)
		s.resetTransaction()
		if err != nil {
			return s.dataError(err)
		}
		return ok250(id)
	}
	env := &queue.Envelope{
		ID:         s.queueID,
		Sender:     s.sender,
		Recipients: s.rcpts,
		EnvID:      s.opts.EnvelopeID,
		SMTPUTF8:   s.opts.UTF8,
		Arrival:    now,
		Held:       s.hold,
	}
	switch s.opts.Return {
	case smtp.DSNReturnFull:
		env.Ret = queue.RetFull
	case smtp.DSNReturnHeaders:
		env.Ret = queue.RetHdrs
	}
	err := s.r.c.Queue.Store(s.ctx, env, io.MultiReader(strings.NewReader(hdr.String()), dr))
	id := env.ID
	nrcpt := len(s.rcpts)
	hold := s.hold
	s.resetTransaction()
	if err != nil {
		return s.dataError(err)
	}
	if hold {
		// Stored with Held set: it went straight to the hold queue.
		s.r.log.Info("hold", "queue_id", id, "client", s.clientString(), "from", "<"+env.Sender+">")
	}
	s.r.log.Info("queued", "queue_id", id, "client", s.clientString(), "from", "<"+env.Sender+">",
		"size", env.Size, "nrcpt", nrcpt)
	s.r.obs.Accepted(Accepted{QueueID: string(id), Size: env.Size, Recipients: nrcpt, Client: s.clientAddr})
	return ok250(id)
}

// ok250 is the end-of-data reply, Postfix's "250 2.0.0 Ok: queued as ID".
func ok250(id queue.ID) error {
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + string(id)}
}

// dataError maps a failed store: our own checks keep their reply, a
// client limit from go-smtp keeps Postfix's wording, anything else is a
// queue write error (4xx, without its text).
func (s *session) dataError(err error) error {
	var re *Error
	if errors.As(err, &re) {
		return s.fail(re)
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code == 552 {
		return s.fail(errTooBig)
	}
	if errors.Is(err, smtp.ErrTooLongLine) {
		return s.fail(errLineTooLong)
	}
	s.r.log.Error("queue file write error", "client", s.clientString(), "err", err)
	return s.fail(&Error{Code: errQueueWrite.Code, Status: errQueueWrite.Status, Message: errQueueWrite.Message, Err: err})
}

func receivedProtocol(base string, tlsOn, utf8 bool) string {
	p := base
	if tlsOn && p == "ESMTP" {
		p = "ESMTPS"
	}
	if utf8 {
		p = "UTF8" + strings.TrimPrefix(p, "E")
	}
	return p
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

// beforeWrite runs before each write to a Server's connection, with the
// reply go-smtp wrote. From the 354 reply, before the client can see it,
// the session is busy with a message. Replies to NOOP, RSET and VRFY
// count junk commands: past JunkCommandLimit each is an error, and
// at the hard limit the session answers 421 and hangs up instead of the
// reply (beforeWrite then reports true).
func (s *session) beforeWrite(p []byte) (hungUp bool) {
	if bytes.HasPrefix(p, []byte("354 ")) {
		s.mu.Lock()
		s.inData = true
		s.mu.Unlock()
		return false
	}
	if !isJunkReply(p) {
		return false
	}
	s.mu.Lock()
	s.junk++
	over := s.junk > s.r.c.JunkCommandLimit
	s.mu.Unlock()
	if !over {
		return false
	}
	if s.errorGate() != nil {
		return true
	}
	s.countError()
	return false
}

// isJunkReply reports whether p is go-smtp's reply to NOOP, RSET or VRFY.
func isJunkReply(p []byte) bool {
	for _, r := range [...]string{"250 2.0.0 I have successfully done nothing\r\n", "250 2.0.0 Session reset\r\n", "252 2.5.0 Cannot VRFY user, but will accept message\r\n"} {
		if string(p) == r {
			return true
		}
	}
	return false
}

// afterWrite runs after each write to a Server's connection: once the
// reply to the end of data is out the transfer is over, and a session
// told to shut down meanwhile closes.
func (s *session) afterWrite(p []byte) {
	s.mu.Lock()
	if !s.replyPending {
		s.mu.Unlock()
		return
	}
	s.replyPending, s.inData = false, false
	closing := s.closing
	s.mu.Unlock()
	if closing {
		_ = s.sc.Close()
	}
}

// markClosing tells the session to end after its current transfer and
// says whether it is idle (not receiving a message).
func (s *session) markClosing() (idle bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	return !s.inData
}

// closeIdle tells an idle session "421 4.3.2 Service shutting down" and
// closes its connection.
func (s *session) closeIdle() {
	if nc := s.conn.Conn(); nc != nil {
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(nc, "%d %s %s\r\n", errShutdown.Code, errShutdown.Status, errShutdown.Message)
		_ = nc.Close()
	}
}

// cut ends a session at once, message or not: nothing it was receiving
// had been answered 250, so nothing accepted is lost.
func (s *session) cut() {
	s.cancel()
	if nc := s.conn.Conn(); nc != nil {
		_ = nc.Close()
	}
}

// sessionSet tracks live sessions for Shutdown.
type sessionSet struct {
	mu     sync.Mutex
	m      map[*session]struct{}
	closed bool
	idle   chan struct{} // made by close, closed when the set is empty
}

func newSessionSet() *sessionSet {
	return &sessionSet{m: make(map[*session]struct{})}
}

func (ss *sessionSet) add(s *session) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return false
	}
	ss.m[s] = struct{}{}
	return true
}

func (ss *sessionSet) remove(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, ok := ss.m[s]; !ok {
		return
	}
	delete(ss.m, s)
	if ss.closed && len(ss.m) == 0 {
		close(ss.idle)
	}
}

// close refuses new sessions, shuts the idle ones down, and returns a
// channel closed once every session has ended.
func (ss *sessionSet) close() <-chan struct{} {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return ss.idle
	}
	ss.closed = true
	ss.idle = make(chan struct{})
	if len(ss.m) == 0 {
		close(ss.idle)
	}
	done := ss.idle
	// Every session is marked before any is told, so a client that saw
	// the 421 knows the others will close after their transfer.
	var idle []*session
	for s := range ss.m {
		if s.markClosing() {
			idle = append(idle, s)
		}
	}
	ss.mu.Unlock()
	for _, s := range idle {
		s.closeIdle()
	}
	return done
}

// cut ends the sessions still open.
func (ss *sessionSet) cut() {
	ss.mu.Lock()
	list := make([]*session, 0, len(ss.m))
	for s := range ss.m {
		list = append(list, s)
	}
	ss.mu.Unlock()
	for _, s := range list {
		s.cut()
	}
}
