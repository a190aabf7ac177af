package relay

import (
	"github.com/emersion/go-smtp"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
)

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
