package relay

import (
	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/maillog"
)

// mailFrom decides on MAIL FROM: the address syntax (policy.ParseAddress),
// the announced size, then the sender restrictions.
func (s *session) mailFrom(from string, p mailParams) *Error {
	if s.mail {
		return errNestedMail
	}
	if e := s.anvilMail(); e != nil {
		return e
	}
	if _, err := policy.ParseAddress(from, p.utf8); err != nil {
		// Postfix's smtpd logs no line for a syntax error.
		s.r.log.Debug("bad address syntax", "stage", "MAIL", "client", s.clientString(), "reply", errBadSender.Error(), "from", from, "err", err)
		return errBadSender
	}
	if lim := s.r.MessageSizeLimit(); lim > 0 && p.size > lim {
		return errSizeLimit
	}
	s.params = p
	s.sender = from
	s.mail = true
	if e := s.check(policy.StageMail, ""); e != nil {
		s.resetTransaction()
		return e
	}
	if e := s.milterMail(mailArgs(p)); e != nil {
		s.resetTransaction()
		return e
	}
	return nil
}

// rcptTo decides on RCPT TO: the recipient limit, the address syntax,
// then the restrictions; an accepted recipient is recorded with its
// delivery destination.
func (s *session) rcptTo(to string, notify queue.Notify, orcpt string) *Error {
	if !s.mail {
		return errNeedMail
	}
	if e := s.anvilRcpt(); e != nil {
		return e
	}
	if len(s.rcpts) >= s.r.c.RecipientLimit {
		return errTooManyRcpts
	}
	if _, err := policy.ParseAddress(to, s.params.utf8); err != nil {
		s.r.log.Debug("bad address syntax", "stage", "RCPT", "client", s.clientString(), "reply", errBadRcpt.Error(), "to", to, "err", err)
		return errBadRcpt
	}
	if e := s.check(policy.StageRcpt, to); e != nil {
		s.milterRcptRejected(to, rcptArgs(notify, orcpt), e)
		return e
	}
	if e := s.milterRcpt(to, rcptArgs(notify, orcpt)); e != nil {
		return e
	}
	if s.proxied() {
		// No queue file: the filter gets the recipient (session_proxy.go).
		if e := s.proxyRcpt(to, notify, orcpt); e != nil {
			return e
		}
		s.rcpts = append(s.rcpts, queue.Recipient{Address: to, Notify: notify, ORCPT: orcpt})
		return nil
	}
	rc := queue.Recipient{Address: to, Destination: s.r.destination(s.ctx, to), Notify: notify, ORCPT: orcpt}
	if s.queueID == "" {
		// The queue ID exists from the first accepted RCPT, as with
		// Postfix's smtpd_delay_open_until_valid_rcpt = yes.
		s.queueID = queue.NewID()
		s.logClientLine(maillog.KeyQueueID, string(s.queueID))
	}
	s.rcpts = append(s.rcpts, rc)
	return nil
}
