package policy

import "context"

// run is Postfix's generic_checks: the restrictions of one list, left to
// right, until one permits or rejects.
func (s *state) run(ctx context.Context, list compiled, subj subject) status {
	if len(list) == 0 {
		return dunno
	}
	if s.recursion >= 100 {
		return s.serverError("restriction classes nested too deeply")
	}
	if s.recursion == 0 {
		s.list = subj // a stage's list: what a bare type:table stands for
	}
	s.recursion++
	st := s.runList(ctx, list, subj)
	s.recursion--
	return st
}

func (s *state) runList(ctx context.Context, list compiled, subj subject) status {
	for i := range list {
		if s.discard {
			break
		}
		st := &list[i]
		if st.name == "warn_if_reject" {
			if s.warnIf == 0 {
				s.warnIf = s.recursion
			}
			continue
		}
		status := s.step(ctx, st, subj)
		if s.warnIf >= s.recursion {
			s.warnIf = 0
		}
		if status != dunno {
			return status
		}
	}
	return dunno
}

// step evaluates one restriction.
func (s *state) step(ctx context.Context, st *step, subj subject) status {
	p := s.p
	why := Reason{Restriction: st.name}
	switch st.kind {
	case stepClass:
		return s.run(ctx, p.classes[st.name], subj)
	case stepCustom:
		action, err := st.check.Check(ctx, s.req)
		if err != nil {
			return s.lookupError(err, subj, why)
		}
		if action == "" {
			return dunno
		}
		why.Value = action
		return s.tableResult(ctx, action, why, subj)
	case stepAccess:
		return s.access(ctx, st, s.list, why)
	case stepService:
		return s.policyService(ctx, st, subj, why)
	case stepDNSList:
		return s.dnsListStep(ctx, st, subj, why)
	}
	switch st.name {
	case "reject_unverified_recipient":
		if s.hasRcpt {
			return s.unverified(ctx, subjRcpt, why)
		}
		return dunno
	case "reject_unverified_sender":
		if s.req.Stage >= StageMail {
			return s.unverified(ctx, subjSender, why)
		}
		return dunno
	case "permit":
		return s.permit(why)
	case "dunno":
		return dunno
	case "reject":
		return s.reject(errPolicy, p.rejectCode, "5.7.1", s.rejectText(subj, "Access denied"), why)
	case "defer":
		return s.reject(errPolicy, p.deferCode, "4.3.2", s.rejectText(subj, "Try again later"), why)
	case "defer_if_permit":
		// Postfix hard-codes 450 4.7.0 here (golden case dip@backup.example).
		s.deferIf(&s.dip, errPolicy, 450, "4.7.0", s.rejectText(subj, "defer_if_permit requested"), why)
		return dunno
	case "defer_if_reject":
		s.deferIf(&s.dir, errPolicy, 450, "4.7.0", s.rejectText(subj, "defer_if_reject requested"), why)
		return dunno
	case "permit_mynetworks":
		ok, err := p.mynet.MatchClient(ctx, s.req.ClientAddr, s.req.ClientName)
		if err != nil {
			return s.lookupError(err, subj, why)
		}
		if ok {
			return s.permit(why)
		}
	case "permit_sasl_authenticated":
		if s.req.SASLUsername != "" {
			return s.permit(why)
		}
	case "permit_auth_destination", "reject_unauth_destination", "defer_unauth_destination":
		if !s.hasRcpt {
			return dunno
		}
		ok, res := s.authDestination(ctx)
		switch {
		case res == rejected:
			return res
		case st.name[0] == 'p':
			if ok {
				return s.permit(why)
			}
			return dunno
		case ok:
			return dunno
		}
		code, dsn := p.relayCode, "5.7.1"
		if st.name[0] == 'd' {
			code, dsn = code-100, "4.7.1"
		}
		return s.reject(errPolicy, code, dsn, "<"+s.rcpt.String()+">: Relay access denied", why)
	case "permit_mx_backup":
		return s.permitMXBackup(ctx, why)
	case "reject_unlisted_recipient":
		if s.hasRcpt {
			return s.unlisted(ctx)
		}
	case "reject_non_fqdn_recipient":
		if s.hasRcpt {
			return s.nonFQDN(s.rcpt, subjRcpt, why)
		}
	case "reject_non_fqdn_sender":
		if sender, ok := s.from(); !ok {
			return s.badSender()
		} else if s.req.Stage >= StageMail && !sender.IsNull() {
			return s.nonFQDN(sender, subjSender, why)
		}
	case "reject_invalid_helo_hostname", "reject_invalid_hostname":
		return s.invalidHelo(why)
	case "reject_unauth_pipelining":
		// smtpd_check.c: a protocol error, which warn_if_reject does not
		// soften.
		if s.req.IllegalPipelining {
			return s.reject(errProtocol, 503, "5.5.0", s.rejectText(subj, "Improper use of SMTP command pipelining"), why)
		}
	case "reject_non_fqdn_helo_hostname", "reject_non_fqdn_hostname":
		return s.nonFQDNHelo(why)
	case "reject_unknown_client_hostname", "reject_unknown_client", "reject_unknown_reverse_client_hostname":
		return s.unknownClient(st.name == "reject_unknown_reverse_client_hostname", why)
	case "reject_unknown_helo_hostname", "reject_unknown_hostname":
		return s.unknownHelo(ctx, why)
	case "reject_unknown_recipient_domain":
		if s.hasRcpt {
			return s.unknownDomain(ctx, subjRcpt, why)
		}
	case "reject_unlisted_sender":
		return s.unlistedSender(ctx, why)
	case "reject_multi_recipient_bounce":
		return s.multiRecipientBounce(subj, why)
	case "permit_inet_interfaces":
		return s.permitInetInterfaces(why)
	case "reject_sender_login_mismatch", "reject_authenticated_sender_login_mismatch",
		"reject_known_sender_login_mismatch", "reject_unauthenticated_sender_login_mismatch":
		// Postfix without SASL (smtpd_sasl_auth_enable = no): "restriction
		// ignored: no SASL support". New reports it in Warnings.
		return dunno
	case "reject_unknown_sender_domain", "reject_unknown_address":
		if s.req.Stage >= StageMail {
			return s.unknownDomain(ctx, subjSender, why)
		}
	}
	return dunno
}

func (s *state) permit(why Reason) status {
	s.d.Reason = why
	return permitted
}
