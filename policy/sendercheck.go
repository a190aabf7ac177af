package policy

import (
	"context"
	"slices"
)

// unlistedSender is reject_unlisted_sender (and smtpd_reject_unlisted_sender
// at the end of the sender restrictions): the sender is validated as a
// recipient would be (smtpd_check.c check_sender_rcpt_maps): canonical
// and virtual alias maps, relocated_maps, error:/retry: routes and the
// recipient tables of its address class, with "Sender address rejected"
// and 5.1.0. Once per decision; the null sender is not checked.
func (s *state) unlistedSender(ctx context.Context, why Reason) status {
	if s.req.Stage < StageMail || s.senderRcptDone || s.p.cfg.NoUnknownRecipientChecks {
		return dunno
	}
	sender, ok := s.from()
	if !ok {
		return s.badSender()
	}
	if sender.IsNull() {
		return dunno
	}
	if s.warnIf == 0 {
		s.senderRcptDone = true
	}
	var r resolution
	s.p.resolveAddr(ctx, &r, sender, s.req.SMTPUTF8)
	return s.validate(ctx, &r, subjSender, why)
}

// senderStage runs smtpd_sender_restrictions, then, with
// smtpd_reject_unlisted_sender = yes, the sender validation they did not
// already do (smtpd_check.c smtpd_check_mail).
func (s *state) senderStage(ctx context.Context) status {
	st := s.run(ctx, s.p.lists[listSender], subjSender)
	if s.p.rejectUnlistedSender && st != rejected && !s.discard {
		if r := s.unlistedSender(ctx, Reason{Restriction: "smtpd_reject_unlisted_sender"}); r == rejected {
			return r
		}
	}
	return st
}

// multiRecipientBounce is reject_multi_recipient_bounce: a null sender
// with more than one recipient (at RCPT: any recipient after the first
// accepted; at DATA: more than one accepted) gets
// multi_recipient_bounce_reject_code 5.5.3 "Multi-recipient bounce".
func (s *state) multiRecipientBounce(subj subject, why Reason) status {
	if s.req.Stage < StageMail {
		return dunno
	}
	sender, ok := s.from()
	if !ok || !sender.IsNull() {
		return dunno
	}
	limit := 0
	if s.req.Stage != StageRcpt {
		limit = 1
	}
	if s.req.RecipientCount <= limit {
		return dunno
	}
	return s.reject(errPolicy, s.p.multiRcptCode, "5.5.3", s.rejectText(subj, "Multi-recipient bounce"), why)
}

// permitInetInterfaces is permit_inet_interfaces: the client is one of
// this host's inet_interfaces addresses (not proxy_interfaces).
func (s *state) permitInetInterfaces(why Reason) status {
	if slices.Contains(s.p.inetAddrs, s.req.ClientAddr.Unmap()) {
		return s.permit(why)
	}
	return dunno
}

// defaultAccess is the access restriction a bare "type:table" in a list
// stands for (smtpd_check.c def_acl): the one of the list's stage. A
// restriction class takes it from the list that named it; DATA has none.
func defaultAccess(subj subject) string {
	switch subj {
	case subjClient:
		return "check_client_access"
	case subjHelo:
		return "check_helo_access"
	case subjSender:
		return "check_sender_access"
	case subjRcpt:
		return "check_recipient_access"
	}
	return ""
}
