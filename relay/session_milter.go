package relay

import (
	"bytes"
	"crypto/tls"
	"io"
	"strconv"
	"strings"

	"github.com/mxrelay/mxrelay/policy"
	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/cleanup"
	"github.com/mxrelay/mxrelay/relay/maillog"
	"github.com/mxrelay/mxrelay/relay/milter"
)

// The SMTP session's milters (Config.Milters), as Postfix's smtpd and
// cleanup talk to them: each event after the restrictions of its stage
// passed, the message after cleanup's checks and header rewriting, just
// before it is queued.

// Log events of milter decisions, as Postfix's smtpd and cleanup log them
// ("QUEUEID: milter-reject: END-OF-MESSAGE from host[addr]: 5.7.1 ...").
const (
	milterReject  = maillog.MilterReject
	milterHold    = maillog.MilterHold
	milterDiscard = maillog.MilterDiscard
)

// milterOpen starts the session's milters and reports the connection
// (and, for a go-smtp front end, which calls it after HELO, the HELO).
// As Postfix's smtpd, a 5xx refusal is "554 <host> ESMTP not accepting
// connections" instead of the greeting, and the engine's session goes on
// (edge.go): HELO answered 250, MAIL refused with the milter's reply (a
// go-smtp front end cannot greet so and hangs up); a 421 one is "421
// <host> Service unavailable - try again later" and ends the session; a
// 4xx one lets the session go on, HELO answered 250 and MAIL and what
// follows getting the milter's reply.
func (s *session) milterOpen() *Error {
	mc := s.r.c.Milters
	if !mc.enabled() {
		return nil
	}
	specs := mc.Specs
	for _, t := range mc.Maps {
		v, ok, err := t.Lookup(s.ctx, s.clientAddr.String())
		if err != nil {
			s.r.log.Warn("smtpd_milter_maps lookup failed", "client", s.clientString(), "err", err)
			continue
		}
		if !ok {
			continue
		}
		if strings.EqualFold(strings.TrimSpace(v), "DISABLE") {
			return nil
		}
		if specs, err = milter.ParseList(v, mc.Defaults); err != nil {
			s.r.log.Warn("smtpd_milter_maps: bad milter list", "client", s.clientString(), "value", v, "err", err)
			return &Error{Code: 451, Status: "4.3.5", Message: "Server configuration error", Err: err}
		}
		break
	}
	if len(specs) == 0 {
		return nil
	}
	s.milters = milter.NewSession(specs, milter.Options{Logger: s.r.log, MaxBody: int(s.r.MessageSizeLimit())})
	rep := s.milters.Connect(s.ctx, s.names.Name, s.clientAddr, s.clientPort, s.macro)
	switch e := s.milterReply(rep, "CONNECT", ""); {
	case e == nil:
	case e.Code == 421:
		return &Error{Code: 421, Message: s.r.c.Hostname + " Service unavailable - try again later"}
	case e.Code >= 500:
		return &Error{Code: 554, Message: s.r.c.Hostname + " ESMTP not accepting connections"}
	}
	if s.helo != "" {
		return s.milterHelo()
	}
	return nil
}

// milterClose ends the milters' session.
func (s *session) milterClose() {
	if s.milters != nil {
		s.milters.Close()
		s.milters = nil
	}
}

// milterAbort ends the milters' transaction.
func (s *session) milterAbort() {
	if s.milters != nil && s.mail {
		s.milters.Abort(s.ctx)
	}
}

// milterHelo reports HELO or EHLO. As Postfix's smtpd (helo_cmd, for
// Sendmail compatibility), a refusal is logged and answered 250 but for a
// 421: it stands for MAIL and what follows.
func (s *session) milterHelo() *Error {
	if s.milters == nil {
		return nil
	}
	stage := "HELO"
	if s.esmtp {
		stage = "EHLO"
	}
	if e := s.milterReply(s.milters.Helo(s.ctx, s.helo, s.macro), stage, ""); e != nil && e.Code == 421 {
		return e
	}
	return nil
}

// milterMail reports MAIL FROM with its ESMTP parameters.
func (s *session) milterMail(args []string) *Error {
	if s.milters == nil {
		return nil
	}
	return s.milterReply(s.milters.Mail(s.ctx, append([]string{"<" + s.sender + ">"}, args...), s.macro), "MAIL", "")
}

// milterRcpt reports RCPT TO; the recipient is the {rcpt_*} macros'.
func (s *session) milterRcpt(to string, args []string) *Error {
	if s.milters == nil || s.discard {
		return nil // Postfix's smtpd: no more RCPT events after a DISCARD
	}
	s.milterRcptAddr = to
	defer func() { s.milterRcptAddr = "" }()
	return s.milterReply(s.milters.Rcpt(s.ctx, append([]string{"<" + to + ">"}, args...), s.macro), "RCPT", to)
}

// milterRcptRejected reports a recipient refused by the restrictions
// to the milters that want them, with Postfix's macros: {rcpt_mailer}
// "error", {rcpt_host} the enhanced status code, {rcpt_addr} the reply
// text after the address (smtpd_milter_eval).
func (s *session) milterRcptRejected(to string, args []string, e *Error) {
	if s.milters == nil || s.discard {
		return
	}
	s.milterRcptAddr, s.milterRcptReject = to, e
	defer func() { s.milterRcptAddr, s.milterRcptReject = "", nil }()
	s.milters.RcptRejected(s.ctx, append([]string{"<" + to + ">"}, args...), s.macro)
}

// milterData reports DATA.
func (s *session) milterData() *Error {
	if s.milters == nil {
		return nil
	}
	return s.milterReply(s.milters.Data(s.ctx, s.macro), "DATA", "")
}

// milterReply turns a milter's decision on an SMTP command into the
// session's: a refusal is logged and answered, a quarantine holds the
// message, a discard drops it, as Postfix's smtpd check_milter_reply.
func (s *session) milterReply(r milter.Reply, stage, rcpt string) *Error {
	switch r.Kind {
	case milter.Refuse:
		e := &Error{Code: r.Code, Status: r.Status, Message: r.Text}
		s.milterLog(milterReject, stage, rcpt, r.String())
		return e
	case milter.Shutdown:
		s.milterLog(milterReject, stage, rcpt, "421 4.7.0 Server closing connection")
		return &Error{Code: 421, Status: "4.7.0", Message: "Server closing connection"}
	case milter.Hold:
		if !s.hold {
			s.hold = true
			s.milterLog(milterHold, stage, rcpt, holdText(r))
		}
	case milter.Discard:
		if !s.discard {
			s.discard = true
			s.milterLog(milterDiscard, stage, rcpt, "milter triggers DISCARD action")
		}
	}
	return nil
}

func holdText(r milter.Reply) string {
	if r.Reason != "" {
		return r.Reason
	}
	return "milter triggers HOLD action"
}

// milterLog logs a milter's decision as Postfix does.
func (s *session) milterLog(event, stage, rcpt, text string) {
	s.logEvent(event, stage, rcpt, text, "milter", nil)
}

// milterBody reads the message and gives it to the milters
// (milterMessage); the envelope is cleaned again as the message's was,
// with the header_checks verdict, when they change it.
func (s *session) milterBody(hdr string, body io.Reader, sender string, rcpts []queue.Recipient, v cleanup.Verdict) (io.Reader, string, []queue.Recipient, bool, *Error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, "", nil, false, s.dataError(err)
	}
	reclean := func() (string, []queue.Recipient, *Error) {
		snd, rc, e := s.cleanEnvelope()
		if e == nil {
			rc, e = s.applyVerdict(v, rc)
		}
		return snd, rc, e
	}
	msg, sender, rcpts, discard, e := s.milterMessage(hdr, b, sender, rcpts, reclean)
	if e != nil || discard {
		return nil, "", nil, discard, e
	}
	return bytes.NewReader(msg), sender, rcpts, false, nil
}

// milterMessage gives the message (hdr, the relay's own header fields,
// then body) to the milters and applies what they ask: header and body
// changes, then envelope changes (the sender, recipients added and
// deleted) by running the envelope through cleanup again. It returns
// the message to queue, the envelope, and whether the milters discarded
// it.
func (s *session) milterMessage(hdr string, body []byte, sender string, rcpts []queue.Recipient, reclean func() (string, []queue.Recipient, *Error)) ([]byte, string, []queue.Recipient, bool, *Error) {
	text := make([]byte, 0, len(hdr)+len(body))
	text = append(append(text, hdr...), body...)
	msg := milter.ParseMessage(text, -1)
	for i := range msg.Fields {
		if strings.EqualFold(msg.Fields[i].Name, "Received") {
			msg.Fields[i].Hidden = true // ours
			break
		}
	}
	rep, edits := s.milters.Message(s.ctx, msg, s.macro)
	last := "" // cleanup_milter.c logs the last recipient as to=
	if len(rcpts) > 0 {
		last = rcpts[len(rcpts)-1].Address
	}
	switch rep.Kind {
	case milter.Refuse, milter.Shutdown:
		if rep.Kind == milter.Shutdown {
			rep = milter.Reply{Kind: milter.Refuse, Code: 421, Status: "4.7.0", Text: "Service unavailable"}
		}
		// cleanup_milter.c logs the reply without its code.
		s.milterLog(milterReject, "END-OF-MESSAGE", last, strings.TrimPrefix(rep.String(), strconv.Itoa(rep.Code)+" "))
		return nil, "", nil, false, &Error{Code: rep.Code, Status: rep.Status, Message: rep.Text}
	case milter.Discard:
		s.milterLog(milterDiscard, "END-OF-MESSAGE", last, "milter triggers DISCARD action")
		return nil, "", nil, true, nil
	case milter.Hold:
		if !s.hold {
			s.hold = true
			s.milterLog(milterHold, "END-OF-MESSAGE", last, holdText(rep))
		}
	}
	if len(edits) > 0 {
		var e *Error
		if sender, rcpts, e = s.milterEnvelope(edits, reclean); e != nil {
			return nil, "", nil, false, e
		}
	}
	return msg.Bytes(), sender, rcpts, false, nil
}

// milterEnvelope applies the milters' envelope changes as Postfix's
// cleanup_milter.c: a new sender (with RET= and ENVID=) and the deletion
// of recipients as the client gave them change the transaction, which
// cleanup rewrites again (canonical maps, virtual aliases, BCC); an added
// recipient is rewritten as an automatic BCC one (cleanup_addr_bcc_dsn),
// with the NOTIFY= and ORCPT= of its arguments.
func (s *session) milterEnvelope(edits []milter.EnvelopeEdit, reclean func() (string, []queue.Recipient, *Error)) (string, []queue.Recipient, *Error) {
	type added struct {
		addr, orcpt string
		notify      queue.Notify
	}
	var adds []added
	for _, e := range edits {
		addr := externalAddr(e.Address)
		switch e.Kind {
		case milter.ChangeSender:
			s.sender = addr
			for _, a := range strings.Fields(e.Args) {
				k, v, _ := strings.Cut(a, "=")
				switch strings.ToUpper(k) {
				case "RET":
					switch strings.ToUpper(v) {
					case "FULL":
						s.params.ret = queue.RetFull
					case "HDRS":
						s.params.ret = queue.RetHdrs
					}
				case "ENVID":
					s.params.envID = v
				default:
					s.r.log.Warn("ignoring bad ESMTP parameter in SMFI_CHGFROM request", "queue_id", string(s.queueID), "param", a)
				}
			}
		case milter.DeleteRecipient:
			kept := s.rcpts[:0]
			for _, rc := range s.rcpts {
				if rc.Address != addr {
					kept = append(kept, rc)
				}
			}
			s.rcpts = kept
			keptAdds := adds[:0]
			for _, a := range adds {
				if a.addr != addr {
					keptAdds = append(keptAdds, a)
				}
			}
			adds = keptAdds
		case milter.AddRecipient:
			a := added{addr: addr}
			for _, arg := range strings.Fields(e.Args) {
				k, v, _ := strings.Cut(arg, "=")
				switch strings.ToUpper(k) {
				case "NOTIFY":
					a.notify = notifyKeywords(strings.Split(v, ","))
				case "ORCPT":
					a.orcpt = v
				default:
					s.r.log.Warn("ignoring ESMTP argument from Milter", "queue_id", string(s.queueID), "param", arg)
				}
			}
			adds = append(adds, a)
		}
	}
	sender, rcpts, e := reclean()
	if e != nil {
		return "", nil, e
	}
	for _, a := range adds {
		out := []string{a.addr}
		origs := []string{a.addr}
		if s.r.c.Cleanup != nil {
			cl, err := s.r.c.Cleanup.BccRecipients(s.ctx, string(s.queueID), []string{a.addr})
			if err != nil {
				return "", nil, cleanupError(err)
			}
			out, origs = out[:0], origs[:0]
			for _, c := range cl {
				out, origs = append(out, c.Address), append(origs, c.Original)
			}
		}
		for i, addr := range out {
			rc := queue.Recipient{Address: addr, Notify: a.notify, ORCPT: a.orcpt, Destination: s.r.destination(s.ctx, addr)}
			if rc.ORCPT == "" && addr != origs[i] {
				rc.ORCPT = "rfc822;" + origs[i]
			}
			rcpts = append(rcpts, rc)
		}
	}
	return sender, rcpts, nil
}

// externalAddr is an address as a milter sends it ("<a@b>", "a@b") in
// the relay's form, without the angle brackets.
func externalAddr(a string) string {
	a = strings.TrimSpace(a)
	if strings.HasPrefix(a, "<") && strings.HasSuffix(a, ">") {
		a = a[1 : len(a)-1]
	}
	return a
}

// notifyKeywords reads the keywords of a NOTIFY= parameter (RFC 3461).
func notifyKeywords(ks []string) queue.Notify {
	var n queue.Notify
	for _, k := range ks {
		switch strings.ToUpper(k) {
		case "NEVER":
			n = queue.NotifyNever
		case "SUCCESS":
			n |= queue.NotifySuccess
		case "FAILURE":
			n |= queue.NotifyFailure
		case "DELAY":
			n |= queue.NotifyDelay
		}
	}
	return n
}

// macro is the value of a macro, as Postfix's smtpd_milter_eval gives
// it, then milter_macro_defaults. There is no SMTP AUTH, so {auth_*} are
// never defined.
func (s *session) macro(name string) (string, bool) {
	mc := s.r.c.Milters
	switch name {
	case "j":
		return s.r.c.Hostname, true
	case "{daemon_name}":
		if mc.DaemonName != "" {
			return mc.DaemonName, true
		}
		return s.r.c.Hostname, true
	case "v":
		return mc.Version, mc.Version != ""
	case "_":
		v := s.names.Reverse
		if v == "" {
			v = "unknown"
		}
		v += " [" + s.clientAddr.String() + "]"
		if s.names.Name != "" && !strings.EqualFold(s.names.Name, s.names.Reverse) {
			v += " (may be forged)"
		}
		return v, true
	case "{client_addr}":
		return s.clientAddr.String(), s.clientAddr.IsValid()
	case "{client_port}":
		return strconv.Itoa(s.clientPort), true
	case "{client_name}":
		return knownOr(s.names.Name), true
	case "{client_ptr}":
		return knownOr(s.names.Reverse), true
	case "{client_resolve}":
		switch s.names.NameStatus {
		case policy.NameOK:
			return "OK", true
		case policy.NameForged:
			return "FORGED", true
		case policy.NameTemporary:
			return "TEMP", true
		}
		return "FAIL", true
	case "{daemon_addr}":
		return s.serverAddr.String(), s.serverAddr.IsValid()
	case "{daemon_port}":
		return strconv.Itoa(s.serverPort), s.serverPort != 0
	case "{tls_version}":
		if s.tls != nil {
			return tlsVersionName(s.tls.Version), true
		}
	case "{cipher}":
		if s.tls != nil {
			return tls.CipherSuiteName(s.tls.CipherSuite), true
		}
	case "i":
		if s.queueID != "" {
			return string(s.queueID), true
		}
	case "{mail_addr}":
		if s.mail {
			return s.sender, true
		}
	case "{mail_host}", "{mail_mailer}":
		if s.mail {
			return destPart(s.r.destination(s.ctx, s.sender), name == "{mail_mailer}"), true
		}
	case "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}":
		if e := s.milterRcptReject; e != nil {
			switch name {
			case "{rcpt_mailer}":
				return "error", true
			case "{rcpt_host}":
				return e.Status, true
			}
			_, after, _ := strings.Cut(e.Message, " ")
			return after, true
		}
		if s.milterRcptAddr == "" {
			break
		}
		if name == "{rcpt_addr}" {
			return s.milterRcptAddr, true
		}
		return destPart(s.r.destination(s.ctx, s.milterRcptAddr), name == "{rcpt_mailer}"), true
	}
	v, ok := mc.MacroDefaults[name]
	return v, ok
}

func knownOr(n string) string {
	if n == "" {
		return "unknown"
	}
	return n
}

// destPart is the transport (mailer) or next hop (host) of a
// destination "transport:nexthop" (a bare domain is smtp's).
func destPart(dest string, mailer bool) string {
	t, h, ok := strings.Cut(dest, ":")
	if !ok {
		t, h = "smtp", dest
	}
	if mailer {
		return t
	}
	return h
}

// mailArgs are the ESMTP parameters of MAIL FROM as the client sent
// them, for the milters.
func mailArgs(p mailParams) []string {
	var a []string
	if p.size > 0 {
		a = append(a, "SIZE="+strconv.FormatInt(p.size, 10))
	}
	if p.utf8 {
		a = append(a, "SMTPUTF8")
	}
	switch p.ret {
	case queue.RetFull:
		a = append(a, "RET=FULL")
	case queue.RetHdrs:
		a = append(a, "RET=HDRS")
	}
	if p.envID != "" {
		a = append(a, "ENVID="+p.envID)
	}
	return a
}

// rcptArgs are the ESMTP parameters of RCPT TO, for the milters.
func rcptArgs(n queue.Notify, orcpt string) []string {
	var a []string
	if n != 0 {
		var ks []string
		if n == queue.NotifyNever {
			ks = []string{"NEVER"}
		} else {
			for _, k := range []struct {
				f queue.Notify
				s string
			}{{queue.NotifySuccess, "SUCCESS"}, {queue.NotifyFailure, "FAILURE"}, {queue.NotifyDelay, "DELAY"}} {
				if n&k.f != 0 {
					ks = append(ks, k.s)
				}
			}
		}
		a = append(a, "NOTIFY="+strings.Join(ks, ","))
	}
	if orcpt != "" {
		a = append(a, "ORCPT="+orcpt)
	}
	return a
}
