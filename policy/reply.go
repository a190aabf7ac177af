package policy

import (
	"strconv"

	"github.com/mxrelay/mxrelay/lookup"
)

// replyName is the name a reply shows between angle brackets.
func (s *state) replyName(subj subject) string {
	switch subj {
	case subjClient:
		name := s.req.ClientName
		if name == "" {
			name = "unknown"
		}
		return name + "[" + s.req.ClientAddr.Unmap().String() + "]"
	case subjRevClient:
		if s.req.ReverseClientName == "" {
			return "unknown"
		}
		return s.req.ReverseClientName
	case subjHelo:
		return s.req.Helo
	case subjSender:
		return s.sender.String() // parsed by from() before any sender reply
	case subjRcpt:
		return s.rcpt.String()
	}
	return "DATA"
}

// rejectText formats "<name>: Class rejected: text".
func (s *state) rejectText(subj subject, text string) string {
	return "<" + s.replyName(subj) + ">: " + subjClass[subj] + " rejected: " + text
}

// reject is Postfix's smtpd_check_reject: warn_if_reject, reply
// validation, defer_if_reject, soft_bounce and the DSN class. Like
// Postfix 3.7 (golden case long@open.example), the text is not cut at 510
// bytes.
func (s *state) reject(class errClass, code int, dsn, text string, why Reason) status {
	warn := s.warnIf > 0 && (class == errPolicy || class == errBounce)
	if code < 400 || code > 599 || dsnValid(dsn) != len(dsn) {
		s.p.log.Warn("SMTP reply code or DSN configuration error", "code", code, "dsn", dsn, "text", text)
		code, dsn, text = 450, "4.7.1", "Service unavailable"
	}
	text = printable(text)
	if !warn && s.dir.active && code >= 500 {
		s.warnIf, s.dir.active = 0, false
		return s.reject(s.dir.class, s.dir.code, s.dir.dsn, s.dir.text, s.dir.reason)
	}
	if s.p.cfg.SoftBounce && code >= 500 {
		code -= 100
	}
	if c := byte('0' + code/100); dsn[0] != c {
		dsn = string(c) + dsn[1:]
	}
	if warn {
		reply := strconv.Itoa(code) + " " + dsn + " " + text
		// Debug: the relay logs it with the session's fields, as
		// Postfix's smtpd logs "reject_warning:" (relay/maillog).
		s.p.log.Debug("reject_warning", "reply", reply, "reason", why.String())
		s.d.Actions = append(s.d.Actions, Action{Kind: ActionWarn, Value: reply, Reason: why, Log: reply, WarnIfReject: true})
		return dunno
	}
	v := Reject
	if code < 500 {
		v = Defer
	}
	s.d.Verdict, s.d.Code, s.d.Enhanced, s.d.Text, s.d.Reason = v, code, dsn, text, why
	return rejected
}

// deferIf remembers a defer_if_permit or defer_if_reject; the first wins,
// and none is remembered under warn_if_reject.
func (s *state) deferIf(pd *pending, class errClass, code int, dsn, text string, why Reason) {
	if s.warnIf != 0 || pd.active {
		return
	}
	*pd = pending{active: true, class: class, code: code, dsn: dsn, text: text, reason: why}
}

// tempfail is Postfix's DEFER_IF_PERMIT2: a temporary failure of a
// reject_unknown_* check remembered as defer_if_permit, or answered at
// once when its *_tempfail_action is defer or under warn_if_reject.
// err, the DNS failure, is the decision's Err only when it decides: a
// Decision with Err is never answered 5xx (relay's refusal), and a
// remembered failure must not soften a later, unrelated 5xx.
func (s *state) tempfail(err error, now bool, class errClass, code int, dsn, text string, why Reason) status {
	s.p.log.Info("temporary DNS failure", "restriction", why.Restriction, "err", err)
	if s.warnIf == 0 && !now {
		s.deferIf(&s.dip, class, code, dsn, text, why)
		return dunno
	}
	st := s.reject(class, code, dsn, text, why)
	if st == rejected {
		s.d.Err = err
	}
	return st
}

// serverError is "451 4.3.5 Server configuration error".
func (s *state) serverError(msg string) status {
	s.p.log.Warn(msg)
	return s.reject(errSoftware, 451, "4.3.5", "Server configuration error", Reason{Restriction: "configuration", Value: msg})
}

// lookupError answers a table failure: 451 4.3.0 for a temporary one,
// 451 4.3.5 for a configuration error, never a 5xx (smtpd_check.c).
func (s *state) lookupError(err error, subj subject, why Reason) status {
	s.d.Err = err
	s.p.log.Warn("table lookup problem", "restriction", why.Restriction, "err", err)
	if lookup.KindOf(err) == lookup.Config {
		return s.reject(errSoftware, 451, "4.3.5", "Server configuration error", why)
	}
	return s.reject(errResource, 451, "4.3.0", "<"+s.replyName(subj)+">: Temporary lookup failure", why)
}

// printable replaces control characters, as Postfix's printable(s, ' ').
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] < 0x20 || b[j] == 0x7f {
					b[j] = ' '
				}
			}
			return string(b)
		}
	}
	return s
}
