package relay

import (
	"crypto/tls"
	"log/slog"
	"strconv"
	"strings"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/relay/maillog"
)

// request builds a policy request for the current state.
func (s *session) request(stage policy.Stage, rcpt string) *policy.Request {
	req := &policy.Request{
		Stage:                   stage,
		ClientAddr:              s.clientAddr,
		ClientPort:              s.clientPort,
		ServerAddr:              s.serverAddr,
		ServerPort:              s.serverPort,
		Helo:                    s.helo,
		Recipient:               rcpt,
		SMTPUTF8:                s.params.utf8,
		Size:                    max(s.params.size, 0),
		RecipientCount:          len(s.rcpts),
		QueueID:                 string(s.queueID),
		Discard:                 s.discard,
		Protocol:                s.protocol(),
		IllegalPipelining:       s.pipelining != "",
		Session:                 s.dns,
		ClientName:              knownName(s.names.Name),
		ReverseClientName:       knownName(s.names.Reverse),
		ClientNameStatus:        s.names.NameStatus,
		ReverseClientNameStatus: s.names.ReverseStatus,
	}
	if s.mail {
		req.Sender = "<" + s.sender + ">"
	}
	if s.tls != nil {
		req.TLS = &policy.TLS{Protocol: tlsVersionName(s.tls.Version), Cipher: tls.CipherSuiteName(s.tls.CipherSuite)}
	}
	return req
}

// knownName is "" for "unknown", as policy.Request wants it.
func knownName(n string) string {
	if n == "unknown" {
		return ""
	}
	return n
}

// check asks policy about one stage and returns its refusal, if any (a
// 421 refusal ends the session).
func (s *session) check(stage policy.Stage, rcpt string) *Error {
	d := s.r.c.Policy.Check(s.ctx, s.request(stage, rcpt))
	for _, a := range d.Actions {
		switch a.Kind {
		case policy.ActionPrepend:
			s.prepends = append(s.prepends, a.Value)
		case policy.ActionHold, policy.ActionDiscard, policy.ActionWarn, policy.ActionInfo:
			s.logWhatsup(actionEvent(a), stage, rcpt, a.Log, a.Reason, nil)
		case policy.ActionFilter:
			s.filter = a.Value // smtpd_check.c: the last one wins
			s.logWhatsup(maillog.Filter, stage, rcpt, a.Log, a.Reason, nil)
		case policy.ActionRedirect:
			s.redirect = a.Value // the last one wins
			s.logWhatsup(maillog.Redirect, stage, rcpt, a.Log, a.Reason, nil)
		case policy.ActionBCC:
			s.bcc = append(s.bcc, a.Value)
			s.logWhatsup(maillog.Bcc, stage, rcpt, a.Log, a.Reason, nil)
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
		s.logWhatsup(maillog.Reject, stage, rcpt, strconv.Itoa(e.Code)+" "+e.Status+" "+e.Message, d.Reason, d.Err)
		s.r.obs.Rejected(Rejection{Stage: stage.String(), Code: e.Code, Status: e.Status, Client: s.clientAddr,
			Reason: d.Reason.Restriction, Cause: causeOf(d.Err)})
		return e
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

// actionEvent names the log event of an action.
func actionEvent(a policy.Action) string {
	switch a.Kind {
	case policy.ActionHold:
		return maillog.Hold
	case policy.ActionDiscard:
		return maillog.Discard
	case policy.ActionInfo:
		return maillog.Info
	}
	if a.WarnIfReject {
		return maillog.RejectWarning
	}
	return maillog.Warn
}

// logWhatsup logs a refusal or an action as Postfix's smtpd_check.c
// log_whatsup does: the queue ID once there is one, the event, the
// stage, the client, the text (the reply sent, for a refusal), then
// from=<> (after MAIL), to=<> (a recipient), proto and helo=<> (after
// HELO); the rule that decided and the internal cause, if any, as
// attributes of their own.
func (s *session) logWhatsup(event string, stage policy.Stage, rcpt, text string, why policy.Reason, cause error) {
	s.logEvent(event, stage.String(), rcpt, text, why.String(), cause)
}

// logEvent logs a decision on an SMTP command with Postfix's whatsup
// attributes; stage is the command ("RCPT", "END-OF-MESSAGE").
func (s *session) logEvent(event, stage, rcpt, text, why string, cause error) {
	attrs := make([]slog.Attr, 0, 11)
	if s.queueID != "" {
		attrs = append(attrs, slog.String(maillog.KeyQueueID, string(s.queueID)))
	}
	attrs = append(attrs, slog.String(maillog.KeyStage, stage), slog.String(maillog.KeyClient, s.clientString()),
		slog.String(maillog.KeyReply, text))
	if s.mail {
		attrs = append(attrs, slog.String(maillog.KeyFrom, s.sender))
	}
	if rcpt != "" {
		attrs = append(attrs, slog.String(maillog.KeyTo, rcpt))
	}
	attrs = append(attrs, slog.String(maillog.KeyProto, s.protocol()))
	if s.helo != "" {
		attrs = append(attrs, slog.String(maillog.KeyHelo, s.helo))
	}
	attrs = append(attrs, slog.String("reason", why))
	if cause != nil {
		attrs = append(attrs, slog.Any(maillog.KeyErr, cause))
	}
	s.r.log.LogAttrs(s.ctx, slog.LevelInfo, event, attrs...)
}
