package relay

import (
	"crypto/tls"
	"strings"

	"github.com/mxrelay/mxrelay/policy"
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
