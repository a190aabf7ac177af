package policy

import (
	"net/netip"
	"strconv"
)

// Stage is the SMTP command a Request is checked at.
type Stage int

// The stages, in SMTP order. With smtpd_delay_reject = yes (the default)
// the client, HELO and sender restrictions are evaluated at StageRcpt, so
// their rejections appear at RCPT time; the earlier stages then
// return Continue.
const (
	StageConnect Stage = iota + 1 // smtpd_client_restrictions
	StageHelo                     // smtpd_helo_restrictions
	StageMail                     // smtpd_sender_restrictions
	StageRcpt                     // smtpd_relay_restrictions, smtpd_recipient_restrictions
	StageData                     // smtpd_data_restrictions
)

var stageNames = [...]string{StageConnect: "CONNECT", StageHelo: "HELO", StageMail: "MAIL", StageRcpt: "RCPT", StageData: "DATA"}

// String returns the stage as the policy protocol names it
// (protocol_state): CONNECT, HELO, MAIL, RCPT, DATA.
func (s Stage) String() string {
	if s > 0 && int(s) < len(stageNames) {
		return stageNames[s]
	}
	return "Stage(" + strconv.Itoa(int(s)) + ")"
}

// TLS describes the client's TLS session, for the policy protocol.
type TLS struct {
	Protocol string // "TLSv1.3"
	Cipher   string // "TLS_AES_256_GCM_SHA384"
	KeySize  int    // cipher key size in bits
	// Client certificate, when the client sent one.
	PeerSubject           string
	PeerIssuer            string
	PeerFingerprint       string
	PeerPubkeyFingerprint string
}

// Request is what policy decides about: one SMTP command of one client.
// The zero values are "not known": no client name, no HELO, no SASL login,
// no TLS, no SIZE.
type Request struct {
	// Stage is the command being checked.
	Stage Stage
	// ClientAddr is the client's IP address.
	ClientAddr netip.Addr
	// ClientPort is the client's TCP port (policy protocol only).
	ClientPort int
	// ClientName is the client's verified host name (forward-confirmed
	// reverse DNS); empty means "unknown", as Postfix says.
	ClientName string
	// ReverseClientName is the unverified reverse DNS name; empty means
	// "unknown".
	ReverseClientName string
	// ClientNameStatus and ReverseClientNameStatus say how the names
	// were found (Policy.LookupClientNames), for
	// reject_unknown_client_hostname and
	// reject_unknown_reverse_client_hostname.
	ClientNameStatus, ReverseClientNameStatus NameStatus
	// Session is the SMTP session's cache of DNS answers (NewSession):
	// with it, a DNS list or host name is asked once per session. Nil:
	// each Check asks again (the resolver's own cache still applies).
	Session *Session
	// ServerAddr and ServerPort are the local end of the connection.
	ServerAddr netip.Addr
	ServerPort int
	// Helo is the HELO/EHLO argument.
	Helo string
	// Protocol is "SMTP" or "ESMTP" (policy protocol only). Default ESMTP.
	Protocol string
	// IllegalPipelining is set once the client sent commands ahead of
	// time where RFC 2920 does not allow it (the SMTP engine tells):
	// reject_unauth_pipelining refuses every later request of the session,
	// as Postfix's smtpd does.
	IllegalPipelining bool
	// Sender is the MAIL FROM path as received, with or without angle
	// brackets and without ESMTP parameters: "<a@example.com>", "<>".
	Sender string
	// Recipient is the RCPT TO path as received, without ESMTP
	// parameters. Required at StageRcpt. At StageData, set it to the
	// transaction's only recipient when RecipientCount is 1: as in
	// Postfix, recipient restrictions in smtpd_data_restrictions apply
	// only then.
	Recipient string
	// SMTPUTF8 is set when MAIL FROM carried SMTPUTF8: non-ASCII domains
	// are then allowed in addresses.
	SMTPUTF8 bool
	// SASLMethod, SASLUsername and SASLSender describe a successful AUTH;
	// a non-empty SASLUsername satisfies permit_sasl_authenticated.
	SASLMethod, SASLUsername, SASLSender string
	// TLS is the TLS session, nil when the session is in clear text.
	TLS *TLS
	// Size is the MAIL FROM SIZE= value, 0 when none was given.
	Size int64
	// RecipientCount is the number of recipients accepted so far in this
	// transaction; at smtpd_recipient_limit more are refused (Postfix
	// counts accepted recipients only, golden case restrict).
	RecipientCount int
	// QueueID and Instance identify the transaction for the policy
	// protocol (queue_id, instance).
	QueueID, Instance string
	// Discard is set when an earlier decision in this transaction said
	// DISCARD: Postfix then accepts every later recipient without
	// further checks, and the whole message is thrown away.
	Discard bool
}

// Verdict is the outcome of a decision.
type Verdict int

// The verdicts. Reject is a 5xx answer, Defer a 4xx one.
const (
	// Continue means nothing was decided: the stage's restrictions are
	// delayed to RCPT (smtpd_delay_reject) or none of them matched.
	// Accept the command.
	Continue Verdict = iota
	// Permit accepts the command.
	Permit
	// Reject refuses it permanently (5xx).
	Reject
	// Defer refuses it temporarily (4xx).
	Defer
)

// String returns "continue", "permit", "reject" or "defer".
func (v Verdict) String() string {
	switch v {
	case Continue:
		return "continue"
	case Permit:
		return "permit"
	case Reject:
		return "reject"
	case Defer:
		return "defer"
	}
	return "Verdict(" + strconv.Itoa(int(v)) + ")"
}

// Reason says which restriction decided and, for table lookups, which
// table entry. It is meant for the log and for users' tests.
type Reason struct {
	Restriction string // "reject_unauth_destination", "check_recipient_access", "reject_unlisted_recipient", ...
	Table       string // the table, as "type:name", when a lookup decided
	Key         string // the key that matched
	Value       string // the table's value, or the policy server's action
}

// String formats the reason for a log line:
// "check_recipient_access hash:/etc/postfix/access user@example.com=REJECT".
func (r Reason) String() string {
	s := r.Restriction
	add := func(part string) {
		if part != "" {
			if s != "" {
				s += " "
			}
			s += part
		}
	}
	add(r.Table)
	if r.Key != "" {
		add(r.Key + "=" + r.Value)
	} else {
		add(r.Value)
	}
	return s
}

// ActionKind is a side effect an access table or policy server asked for.
type ActionKind int

// The side effects of access(5) actions that do not decide by themselves.
const (
	ActionHold     ActionKind = iota + 1 // HOLD [text]: put the message on hold
	ActionDiscard                        // DISCARD [text]: accept and throw away
	ActionPrepend                        // PREPEND header: add a header
	ActionRedirect                       // REDIRECT addr: deliver to addr only
	ActionBCC                            // BCC addr: add a recipient
	ActionFilter                         // FILTER transport:dest: route through a content filter
	ActionWarn                           // WARN text, or a warn_if_reject rejection: log only
	ActionInfo                           // INFO text: log only
)

var actionNames = [...]string{ActionHold: "HOLD", ActionDiscard: "DISCARD", ActionPrepend: "PREPEND",
	ActionRedirect: "REDIRECT", ActionBCC: "BCC", ActionFilter: "FILTER", ActionWarn: "WARN", ActionInfo: "INFO"}

// String returns the access(5) action name: "HOLD", "PREPEND"...
func (k ActionKind) String() string {
	if k > 0 && int(k) < len(actionNames) {
		return actionNames[k]
	}
	return "ActionKind(" + strconv.Itoa(int(k)) + ")"
}

// Action is one side effect, with the reason it was asked for.
type Action struct {
	Kind   ActionKind // what to do
	Value  string     // the header, address, nexthop or text
	Reason Reason     // the restriction and table entry that asked for it
	// Log is the text Postfix's smtpd logs for a HOLD, DISCARD, WARN or
	// INFO action (smtpd_check.c log_whatsup): "<u@example.com>:
	// Recipient address triggers HOLD action", the WARN or INFO text, or
	// for warn_if_reject the reply that was not sent; for FILTER,
	// REDIRECT and BCC, "<u@example.com>: Recipient address triggers
	// FILTER smtp:[ip]:port".
	Log string
	// WarnIfReject marks the ActionWarn of a rejection that
	// warn_if_reject turned into a warning (Postfix logs it as
	// "reject_warning:").
	WarnIfReject bool
}

// Decision is policy's answer to a Request. For Reject and Defer, Code,
// Enhanced and Text make the SMTP reply; for Permit they are the usual
// success reply (250 2.1.5 Ok at RCPT).
type Decision struct {
	Verdict  Verdict // Permit, Reject, Defer or Continue
	Code     int     // SMTP reply code: 250, 454, 550...
	Enhanced string  // RFC 3463 enhanced status code: "5.7.1"
	Text     string  // the reply text after the codes: "<u@example.com>: Relay access denied"
	// Reason names the restriction and table entry that decided.
	Reason Reason // the restriction and table entry that asked for it
	// EndSession is set for a 421 reply: the server must close the
	// connection after sending it.
	EndSession bool
	// Discard is set when the transaction must be accepted and thrown
	// away (DISCARD); Hold when the message must be put on hold (HOLD).
	// Both apply to the whole message, not only this recipient.
	Discard, Hold bool
	// Actions are the side effects asked for on the way (PREPEND,
	// REDIRECT, WARN...), in order.
	Actions []Action
	// Err is the table or policy server failure behind a 451, for the log.
	Err error
}

// Reply returns the whole SMTP reply line: "550 5.1.1 <u@example.com>: ...".
func (d Decision) Reply() string {
	if d.Code == 0 {
		return ""
	}
	return strconv.Itoa(d.Code) + " " + d.Enhanced + " " + d.Text
}

// String summarises the decision for logs and test failures:
// "reject: 550 5.1.1 <u@example.com>: ... [reject_unlisted_recipient relay_recipient_maps]".
func (d Decision) String() string {
	s := d.Verdict.String()
	if d.Code != 0 {
		s += ": " + d.Reply()
	}
	if r := d.Reason.String(); r != "" {
		s += " [" + r + "]"
	}
	if d.Discard {
		s += " DISCARD"
	}
	if d.Hold {
		s += " HOLD"
	}
	if d.Err != nil {
		s += " (" + d.Err.Error() + ")"
	}
	return s
}

// okDecision is the decision for an accepted command.
func okDecision(stage Stage) Decision {
	switch stage {
	case StageRcpt:
		return Decision{Verdict: Permit, Code: 250, Enhanced: "2.1.5", Text: "Ok"}
	case StageMail:
		return Decision{Verdict: Permit, Code: 250, Enhanced: "2.1.0", Text: "Ok"}
	}
	return Decision{Verdict: Permit, Code: 250, Enhanced: "2.0.0", Text: "Ok"}
}
