package relay

import (
	"context"
	"io"
	"strings"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/smtpd"
)

// Connect implements smtpd.Backend: Server's engine calls it for each
// connection, before the greeting; the client restrictions run here
// (with smtpd_delay_reject = yes, the default, policy defers them to
// RCPT).
func (r *MX) Connect(ctx context.Context, c *smtpd.Client) (smtpd.Session, *smtpd.Reply) {
	s := newSession(r)
	s.clientAddr, s.clientPort = c.Addr.Addr(), int(c.Addr.Port())
	s.serverAddr, s.serverPort = c.Local.Addr(), int(c.Local.Port())
	s.lookupClientNames()
	c.Name = s.names.Name // for the engine's log lines
	xf, xerr := s.xforwardAllowed()
	c.XForward = xf
	e := &edgeSession{session: s, client: c}
	s.commands = c.Commands.String
	s.connected()
	if xerr != nil {
		s.end()
		return nil, toReply(xerr)
	}
	if r := s.anvilConnect(); r != nil {
		s.end()
		return nil, toReply(r)
	}
	if r := s.check(policy.StageConnect, ""); r != nil {
		s.end()
		return nil, toReply(r)
	}
	if r := s.milterOpen(); r != nil {
		if r.Code == 554 && s.milters != nil {
			// A milter rejected CONNECT: greet 554 and go on, the
			// milters refusing MAIL with their reply, as smtpd.c does.
			return e, toReply(r)
		}
		s.end()
		return nil, toReply(r)
	}
	return e, nil
}

// edgeSession is the engine's front end of a session.
type edgeSession struct {
	*session
	client *smtpd.Client
}

// toReply converts a decision for the engine; nil stays nil.
func toReply(e *Error) *smtpd.Reply {
	if e == nil {
		return nil
	}
	return &smtpd.Reply{Code: e.Code, Enhanced: e.Status, Text: e.Message}
}

// sync takes what the engine learnt of the client since the last command.
func (e *edgeSession) sync() {
	e.helo, e.esmtp, e.tls = e.client.Helo, e.client.ESMTP, e.client.TLS
	e.pipelining = e.client.IllegalPipelining
	e.forward = e.client.Forwarded
}

// Unknown implements smtpd.UnknownCommander: the milters hear of a
// command the engine does not know (SMFIC_UNKNOWN) and may answer it, as
// Postfix's smtpd asks them.
func (e *edgeSession) Unknown(ctx context.Context, verb string) *smtpd.Reply {
	e.sync()
	if e.milters == nil {
		return nil
	}
	return toReply(e.milterReply(e.milters.Unknown(e.ctx, verb, e.macro), "UNKNOWN", ""))
}

// Hello implements smtpd.Session: the HELO restrictions (deferred to
// RCPT by smtpd_delay_reject = yes).
func (e *edgeSession) Hello(ctx context.Context, c *smtpd.Client) *smtpd.Reply {
	e.sync()
	e.resetTransaction()
	if r := e.check(policy.StageHelo, ""); r != nil {
		return toReply(r)
	}
	return toReply(e.milterHelo())
}

// Mail implements smtpd.Session.
func (e *edgeSession) Mail(ctx context.Context, from string, p smtpd.MailParams) *smtpd.Reply {
	e.sync()
	mp := mailParams{utf8: p.SMTPUTF8, size: p.Size, envID: p.EnvID, body: p.Body}
	switch p.Ret {
	case "FULL":
		mp.ret = queue.RetFull
	case "HDRS":
		mp.ret = queue.RetHdrs
	}
	return toReply(e.mailFrom(from, mp))
}

// Rcpt implements smtpd.Session.
func (e *edgeSession) Rcpt(ctx context.Context, to string, p smtpd.RcptParams) *smtpd.Reply {
	e.sync()
	return toReply(e.rcptTo(to, notifyKeywords(p.Notify), p.ORCPT))
}

// Data implements smtpd.Session.
func (e *edgeSession) Data(ctx context.Context) *smtpd.Reply {
	e.sync()
	return toReply(e.dataStart())
}

// Message implements smtpd.Session.
func (e *edgeSession) Message(ctx context.Context, r io.Reader) *smtpd.Reply {
	id, err := e.message(r)
	if err != nil {
		return toReply(err)
	}
	return toReply(e.endReply(id))
}

// StartTLS implements smtpd.TLSLimiter (RateLimits.NewTLSSessionRate).
func (e *edgeSession) StartTLS(ctx context.Context, c *smtpd.Client) *smtpd.Reply {
	return toReply(e.anvilStartTLS())
}

// TLSStarted implements smtpd.TLSLimiter.
func (e *edgeSession) TLSStarted(ctx context.Context, c *smtpd.Client, resumed bool) *smtpd.Reply {
	return toReply(e.anvilNewTLS(resumed))
}

// Reset implements smtpd.Session.
func (e *edgeSession) Reset(ctx context.Context) { e.resetTransaction() }

// Close implements smtpd.Session.
func (e *edgeSession) Close() {
	e.sync() // STARTTLS then QUIT: the session still counts as TLS
	e.end()
}

// Flush implements smtpd.Flusher: ETRN (RFC 1985) delivers now the mail
// queued for a domain of fast_flush_domains, as Postfix's flush(8) does
// for its fast flush domains; other domains are refused with Postfix's
// "459 4.3.0 <DOMAIN>: service unavailable".
func (e *edgeSession) Flush(ctx context.Context, domain string) *smtpd.Reply {
	d := strings.TrimPrefix(domain, "@")
	ok, err := e.r.c.FastFlushDomains.MatchDomain(ctx, strings.ToLower(d))
	switch {
	case err != nil:
		e.r.log.Warn("ETRN: fast_flush_domains lookup failed", "client", e.clientString(), "domain", d, "err", err)
		return &smtpd.Reply{Code: 458, Text: "Unable to queue messages"}
	case !ok:
		return &smtpd.Reply{Code: 459, Text: "<" + domain + ">: service unavailable"}
	}
	if !e.r.flushDue(strings.ToLower(d)) {
		// Flushed moments ago: the deliveries are under way. Walking the
		// queue again for every ETRN would let a client load the server
		// and its next hop at will.
		return nil
	}
	n, err := e.r.c.Queue.Flush(ctx, d)
	if err != nil {
		e.r.log.Warn("ETRN: flush failed", "client", e.clientString(), "domain", d, "err", err)
		return &smtpd.Reply{Code: 458, Text: "Unable to queue messages"}
	}
	e.r.log.Info("ETRN", "client", e.clientString(), "domain", d, "messages", n)
	return nil
}

// Verify implements smtpd.Verifier: VRFY is answered as RCPT would be,
// through the recipient restrictions, as Postfix's vrfy_cmd does; an
// acceptable address gets the engine's "252 2.0.0".
func (e *edgeSession) Verify(ctx context.Context, addr string) *smtpd.Reply {
	e.sync()
	return toReply(e.check(policy.StageRcpt, addr))
}
