package client

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// Stage names the point of a session at which something happened, for
// error texts worded as Postfix words them and for the caller's
// try-next-address rules.
type Stage int

// Session stages, in protocol order.
const (
	StageNone     Stage = iota
	StageConnect        // TCP or UNIX-domain connect
	StageGreeting       // the 220 banner
	StageEHLO           // EHLO
	StageHELO           // HELO, after a 5xx reply to EHLO
	StageLHLO           // LHLO (LMTP)
	StageStartTLS       // STARTTLS command and TLS handshake
	StageRSET           // RSET before reusing a cached connection
	StageMail           // MAIL FROM
	StageRcpt           // RCPT TO
	StageData           // DATA command, until the 354 reply
	StageBody           // message content transfer
	StageDataDone       // end of data (".", or BDAT LAST) and its reply
	StageQuit           // QUIT
)

// Command names the command whose reply a stage waits for, as Postfix
// writes it in "(in reply to %s command)".
func (s Stage) Command() string {
	switch s {
	case StageEHLO:
		return "EHLO"
	case StageHELO:
		return "HELO"
	case StageLHLO:
		return "LHLO"
	case StageStartTLS:
		return "STARTTLS"
	case StageRSET:
		return "RSET"
	case StageMail:
		return "MAIL FROM"
	case StageRcpt:
		return "RCPT TO"
	case StageData:
		return "DATA"
	case StageBody, StageDataDone:
		return "end of DATA"
	case StageQuit:
		return "QUIT"
	}
	return ""
}

// While describes the stage for "timed out while ..." and "lost connection
// with ... while ...", in Postfix's words.
func (s Stage) While() string {
	switch s {
	case StageConnect:
		return "connecting"
	case StageGreeting:
		return "receiving the initial server greeting"
	case StageEHLO, StageHELO, StageLHLO:
		return "performing the " + s.Command() + " handshake"
	case StageStartTLS:
		return "performing the TLS handshake"
	case StageBody:
		return "sending message body"
	case StageDataDone:
		return "sending end of data -- message may be sent more than once"
	case StageData:
		return "sending DATA command"
	case StageNone:
		return "preparing the message"
	}
	return "sending " + s.Command()
}

// String returns the While phrase.
func (s Stage) String() string { return s.While() }

// Kind classifies a session-level failure for the caller's try-next-address
// rules (Error.NextAddress).
type Kind int

// Failure kinds.
const (
	// KindConnect: the connection could not be made (4.4.1). Try the next
	// address.
	KindConnect Kind = iota + 1
	// KindTimeout: a per-stage timeout (Timeouts) expired (4.4.2). Try the
	// next address.
	KindTimeout
	// KindLost: the connection was lost or the peer broke the protocol
	// (malformed or oversized reply, data after STARTTLS) (4.4.2). Try the
	// next address.
	KindLost
	// KindGreeting: the peer's banner was not 220. A 4xx banner, and a 5xx
	// banner by default (smtp_skip_5xx_greeting = yes), mean: try the next
	// address.
	KindGreeting
	// KindHelo: EHLO/HELO/LHLO was refused. 4xx: try the next address; 5xx:
	// the recipients fail.
	KindHelo
	// KindTLS: STARTTLS could not be used as the policy demands: not
	// offered under a mandatory policy (4.7.4), refused, handshake or
	// certificate failure (4.7.5). Try the next address; see
	// RetryWithoutTLS for the opportunistic case.
	KindTLS
	// KindMail: MAIL FROM was refused. 4xx: try the next address; 5xx: all
	// recipients fail.
	KindMail
	// KindRcpt: one RCPT TO was refused (set on that recipient only).
	// 4xx: the recipient is offered to the next address; 5xx: it fails.
	KindRcpt
	// KindData: DATA, the content or end of data was refused.
	KindData
	// KindMessage: the message cannot be sent to this peer at all (too
	// large for its SIZE: 5.3.4; needs SMTPUTF8 it lacks: 5.6.7; invalid
	// envelope): the recipients fail without trying other addresses.
	KindMessage
	// KindCanceled: the caller's context ended. Nothing is known about the
	// recipients beyond what the results say.
	KindCanceled
	// KindLoop: the peer answered EHLO with this host's own name
	// (Target.LoopDetect): 5.4.6 at a best MX, the recipients fail; 4.4.6
	// elsewhere, try the next address (Postfix smtp_proto.c).
	KindLoop
)

var kindNames = [...]string{"", "connect", "timeout", "lost connection", "greeting", "helo", "tls", "mail", "rcpt", "data", "message", "canceled", "loop"}

// String names the kind ("timeout", "lost connection").
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a delivery failure: a refusal by the peer (Reply set) or a local
// condition (connect failure, timeout, policy). Code and Enhanced are always
// set: from the peer's reply when there is one, otherwise synthetic (451 or
// 554 with the enhanced code Postfix uses for the condition).
type Error struct {
	// Kind classifies the failure for the try-next-address rules.
	Kind Kind
	// Stage is where in the session it happened.
	Stage Stage
	// Code is the SMTP reply code: the peer's, or 451/554 (552 for
	// 5.3.4) for local errors.
	Code int
	// Enhanced is the RFC 3463 status: the peer's, else derived from the
	// reply class (4.0.0, 5.0.0), or Postfix's for local errors.
	Enhanced EnhancedCode
	// Reply is the peer's reply; nil for local errors.
	Reply *Reply
	// Host is the next-hop host name (Target.Host) and Addr the address
	// the session used (Target.Address).
	Host, Addr string
	// Text is the description of a local error ("" for peer replies).
	Text string
	// Err is the underlying cause, if any (a net error, context.Canceled,
	// a TLS error, ErrMalformedReply).
	Err error

	temporary bool
	plainOK   bool
}

// Temporary reports whether the failure is transient (a 4xx condition): the
// recipient stays queued and may be tried at another address.
func (e *Error) Temporary() bool { return e.temporary }

// NextAddress reports whether, by Postfix's try-next-address rules
// (smtp_trouble.c), the recipients this error applies to should be offered
// to the next address of the nexthop. It is true for every temporary error
// except a canceled context and a local problem with the message itself
// (KindMessage).
func (e *Error) NextAddress() bool {
	return e.temporary && e.Kind != KindCanceled && e.Kind != KindMessage
}

// RetryWithoutTLS reports that an opportunistic STARTTLS failed after the
// peer offered it: like Postfix, the caller may retry the same address in
// clear text (TLSNone) before moving on.
func (e *Error) RetryWithoutTLS() bool { return e.plainOK }

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Status returns the enhanced code as text ("5.1.1").
func (e *Error) Status() string { return e.Enhanced.String() }

// Error formats the failure as Postfix logs it, e.g.
// "host mx.example.com[192.0.2.1] said: 550 5.1.1 <u@example.com>: User
// unknown (in reply to RCPT TO command)".
func (e *Error) Error() string {
	peer := e.peer()
	switch {
	case e.Reply != nil && e.Kind == KindGreeting:
		return fmt.Sprintf("host %s refused to talk to me: %s", peer, e.Reply)
	case e.Reply != nil:
		return fmt.Sprintf("host %s said: %s (in reply to %s command)", peer, e.Reply, e.Stage.Command())
	case e.Kind == KindConnect:
		if _, port := namaddr(e.Host, e.Addr); port != "" {
			peer += ":" + port
		}
		return fmt.Sprintf("connect to %s: %s", peer, causeText(e.Err))
	case e.Kind == KindTimeout:
		return fmt.Sprintf("conversation with %s timed out while %s", peer, e.Stage.While())
	case e.Kind == KindLost:
		if e.Text != "" {
			return fmt.Sprintf("%s with %s while %s", e.Text, peer, e.Stage.While())
		}
		return fmt.Sprintf("lost connection with %s while %s", peer, e.Stage.While())
	case e.Kind == KindCanceled:
		return fmt.Sprintf("delivery to %s canceled while %s: %v", peer, e.Stage.While(), e.Err)
	}
	if e.Err != nil {
		return e.Text + ": " + e.Err.Error()
	}
	return e.Text
}

func (e *Error) peer() string {
	if e.Host == "" && e.Addr == "" {
		return "(unknown)"
	}
	p, _ := namaddr(e.Host, e.Addr)
	return p
}

// namaddr formats a peer as Postfix does, "mx.example.com[192.0.2.1]",
// and returns the port apart (Postfix writes it only in "connect to
// host[addr]:port"). A UNIX-domain socket path stays whole.
func namaddr(host, address string) (string, string) {
	if h, port, err := net.SplitHostPort(address); err == nil {
		return host + "[" + h + "]", port
	}
	return host + "[" + address + "]", ""
}

// causeText is the system's reason for a failed connect, worded as
// strerror(3) ("Connection refused"), like Postfix's %m.
func causeText(err error) string {
	if err == nil {
		return "failed"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	s := err.Error()
	// "dial tcp 127.0.0.1:25: connect: connection refused" → "connection refused"
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// replyError builds the error for a reply that refuses (or, being 2xx or
// 3xx where the other is due, breaks the protocol) at a stage.
func replyError(kind Kind, stage Stage, r Reply, t *Target) *Error {
	e := &Error{Kind: kind, Stage: stage, Code: r.Code, Enhanced: r.Enhanced, Reply: &r,
		Host: t.Host, Addr: t.Address, temporary: r.Code/100 != 5}
	switch {
	case r.Code/100 == 2 || r.Code/100 == 3:
		// An unexpected positive reply (e.g. 250 to DATA) is a protocol
		// error: temporary, whatever status it carries.
		e.Enhanced = EnhancedCode{4, 5, 0}
	case e.Enhanced.IsZero():
		e.Enhanced = EnhancedCode{r.Code / 100, 0, 0}
	}
	return e
}

// soften makes e temporary, with a 4.x.x status as Postfix gives a
// softened reply (the reply code stays the peer's).
func (e *Error) soften() {
	e.temporary = true
	e.Enhanced[0] = 4
}

// localError builds an error for a local condition.
func localError(kind Kind, stage Stage, temporary bool, enh EnhancedCode, text string, cause error, t *Target) *Error {
	code := 451
	if !temporary {
		code = 554
		if enh == (EnhancedCode{5, 3, 4}) {
			code = 552
		}
	}
	return &Error{Kind: kind, Stage: stage, Code: code, Enhanced: enh, Text: text, Err: cause,
		Host: t.Host, Addr: t.Address, temporary: temporary}
}
