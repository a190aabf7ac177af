package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
)

// NewSession implements smtp.Backend, to mount the relay in a go-smtp
// server of the user's own (examples/gateway). go-smtp calls it at the
// client's first HELO or EHLO; the client restrictions (and, with
// smtpd_delay_reject = no, the HELO restrictions) are checked here.
//
// Mounted so, go-smtp speaks SMTP and decides what the relay's own
// Server decides as Postfix does: its reply texts (greeting, EHLO, RSET,
// NOOP, syntax errors), address and parameter syntax, VRFY (always 252),
// no ETRN, no reject_unauth_pipelining, its own line length and error
// limits, and NOOP/RSET not counted as junk commands. The relay's
// decisions (policy, limits, DATA checks) and their replies are the same.
func (r *MX) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := newSession(r)
	g := &goSession{session: s, conn: c}
	s.helo = c.Hostname()
	s.esmtp = true
	if nc := c.Conn(); nc != nil {
		s.clientAddr, s.clientPort = addrPort(nc.RemoteAddr())
		s.serverAddr, s.serverPort = addrPort(nc.LocalAddr())
		s.lookupClientNames()
		if tc, ok := nc.(*tls.Conn); ok {
			st := tc.ConnectionState()
			s.tls = &st
		}
	}
	s.closeIdle = g.closeIdle
	s.cut = g.cut
	if !r.sessions.add(s) {
		// Shutting down: say so and hang up, as for an idle session.
		s.cancel()
		return nil, g.hangUp(errShutdown)
	}
	s.connected()
	if e := s.anvilConnect(); e != nil {
		s.end()
		return nil, g.reply(e)
	}
	for _, stage := range []policy.Stage{policy.StageConnect, policy.StageHelo} {
		if e := s.check(stage, ""); e != nil {
			s.end()
			return nil, g.reply(e)
		}
	}
	if e := s.milterOpen(); e != nil {
		s.end()
		return nil, g.reply(e)
	}
	return g, nil
}

// goSession is the go-smtp front end of a session.
type goSession struct {
	*session
	conn *smtp.Conn
}

// reply turns a decision into go-smtp's error: nil accepts, a 421 hangs
// up, other refusals are counted (and delayed past the soft limit).
func (g *goSession) reply(e *Error) error {
	switch {
	case e == nil:
		return nil
	case e.Code == 421:
		return g.hangUp(e)
	case e.Code >= 400:
		g.countError()
	}
	return e.SMTP()
}

// Mail implements smtp.Session.
func (g *goSession) Mail(from string, opts *smtp.MailOptions) error {
	if err := g.gate(); err != nil {
		return err
	}
	// A client may say EHLO again (go-smtp then resets, not renews, the
	// session): take the current name and TLS state.
	if h := g.conn.Hostname(); h != "" {
		g.helo = h
	}
	if st, ok := g.conn.TLSConnectionState(); ok {
		g.tls = &st
	}
	p := mailParams{size: -1}
	if opts != nil {
		p.utf8, p.size, p.envID, p.body = opts.UTF8, opts.Size, opts.EnvelopeID, string(opts.Body)
		switch opts.Return {
		case smtp.DSNReturnFull:
			p.ret = queue.RetFull
		case smtp.DSNReturnHeaders:
			p.ret = queue.RetHdrs
		}
	}
	return g.reply(g.mailFrom(from, p))
}

// Rcpt implements smtp.Session.
func (g *goSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := g.gate(); err != nil {
		return err
	}
	var notify queue.Notify
	orcpt := ""
	if opts != nil {
		notify = notifyOf(opts.Notify)
		if opts.OriginalRecipient != "" {
			typ := string(opts.OriginalRecipientType)
			if typ == "" {
				typ = "rfc822"
			}
			orcpt = typ + ";" + opts.OriginalRecipient
		}
	}
	return g.reply(g.rcptTo(to, notify, orcpt))
}

// Data implements smtp.Session: the message is normalised, checked and
// stored durably before the 250 reply.
func (g *goSession) Data(r io.Reader) error {
	g.mu.Lock()
	g.inData = true
	g.mu.Unlock()
	err := g.data(r)
	g.mu.Lock()
	g.inData = false
	closing := g.closing
	g.mu.Unlock()
	if !closing {
		return err
	}
	// Told to shut down meanwhile: write the reply and close, as no hook
	// tells when go-smtp has written it.
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return g.hangUpWith(se)
	}
	return err
}

func (g *goSession) data(r io.Reader) error {
	if err := g.errorGate(); err != nil {
		return err
	}
	if e := g.dataStart(); e != nil {
		return g.reply(e)
	}
	id, e := g.message(r)
	if e != nil {
		return g.reply(e)
	}
	return g.endReply(id).SMTP()
}

// Reset implements smtp.Session.
func (g *goSession) Reset() { g.resetTransaction() }

// Logout implements smtp.Session.
func (g *goSession) Logout() error {
	g.end()
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

// countError counts an error and, past the soft limit, waits
// ErrorSleep.
func (g *goSession) countError() {
	g.mu.Lock()
	g.errors++
	n := g.errors
	g.mu.Unlock()
	if n > g.r.c.SoftErrorLimit && g.r.c.ErrorSleep > 0 {
		t := time.NewTimer(g.r.c.ErrorSleep)
		select {
		case <-t.C:
		case <-g.ctx.Done():
			t.Stop()
		}
	}
}

// gate answers the command after the hard error limit with 421 and
// closes the connection, as Postfix's smtpd does; also when the session
// is shutting down.
func (g *goSession) gate() error {
	g.mu.Lock()
	closing := g.closing
	g.mu.Unlock()
	if closing {
		return g.hangUp(errShutdown)
	}
	return g.errorGate()
}

// errorGate is gate without the shutdown check, for DATA: once the 354
// is out, the message is received even when shutdown has begun.
func (g *goSession) errorGate() error {
	g.mu.Lock()
	n := g.errors
	g.mu.Unlock()
	if n >= g.r.c.HardErrorLimit {
		g.r.log.Info("too many errors", "client", g.clientString(), "errors", n)
		return g.hangUp(newError(421, "4.7.0", "%s Error: too many errors", g.r.c.Hostname))
	}
	return nil
}

// hangUp sends a final reply and closes the connection. go-smtp only
// closes on QUIT, so the reply is written here directly; the error then
// returned to go-smtp goes nowhere.
func (g *goSession) hangUp(e *Error) error { return g.hangUpWith(e.SMTP()) }

// hangUpWith is hangUp for a reply already in go-smtp's form.
func (g *goSession) hangUpWith(e *smtp.SMTPError) error {
	if nc := g.conn.Conn(); nc != nil {
		_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		ec := e.EnhancedCode
		fmt.Fprintf(nc, "%d %d.%d.%d %s\r\n", e.Code, ec[0], ec[1], ec[2], e.Message)
		_ = nc.Close()
	}
	return e
}

// closeIdle tells an idle session "421 4.3.2 Service shutting down" and
// closes its connection.
func (g *goSession) closeIdle() { _ = g.hangUp(errShutdown) }

// cut ends a session at once, message or not: nothing it was receiving
// had been answered 250, so nothing accepted is lost.
func (g *goSession) cut() {
	g.cancel()
	if nc := g.conn.Conn(); nc != nil {
		_ = nc.Close()
	}
}
