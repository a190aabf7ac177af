package relay

import (
	"net/netip"
	"time"

	"github.com/mxrelay/mxrelay/relay/maillog"
)

// Observer receives the relay's events, for metrics. Its methods are
// called synchronously from sessions and delivery workers, possibly
// concurrently: they must be quick and safe for concurrent use.
// ObserverFuncs adapts functions.
type Observer interface {
	// Accepted is called when a message was stored and answered 250.
	Accepted(Accepted)
	// Rejected is called for each SMTP command policy refused.
	Rejected(Rejection)
	// Attempted is called once per recipient per delivery attempt.
	Attempted(Attempt)
}

// Accepted describes a message accepted by the SMTP server.
type Accepted struct {
	QueueID    string     // the queue ID of the stored message
	Size       int64      // bytes stored, with the Received: header
	Recipients int        // accepted recipients
	Client     netip.Addr // the SMTP client's address
}

// Rejection describes an SMTP command refused by policy.
type Rejection struct {
	Stage  string     // CONNECT, HELO, MAIL, RCPT, DATA
	Code   int        // the reply code sent: 450, 550, 554...
	Status string     // the enhanced status code sent: "5.7.1"
	Client netip.Addr // the SMTP client's address
	// Reason is the restriction that refused (policy.Reason.Restriction:
	// "reject_unauth_destination", "check_recipient_access"...), without
	// the table entry.
	Reason string
	// Cause is set when the refusal is a temporary one caused by a lookup
	// that failed (policy.Decision.Err): "table", "dns", or "other".
	Cause string
}

// SessionObserver is an Observer that also learns of each SMTP session's
// end. Sessions call it when the Observer given to the relay implements
// it; ObserverFuncs does.
type SessionObserver interface {
	SessionEnded(SessionEnd)
}

// SessionEnd describes an SMTP session that ended.
type SessionEnd struct {
	Client   netip.Addr // the SMTP client's address
	TLS      bool       // the session used STARTTLS (or was TLS from the start)
	Accepted int        // messages accepted in the session
}

// Attempt is the outcome of one delivery attempt for one recipient, with
// the fields Postfix logs ("to=<u@example.com>, relay=mx[192.0.2.1]:25,
// delay=1.2, dsn=2.0.0, status=sent (250 2.0.0 Ok)").
type Attempt struct {
	QueueID   string // the message's queue ID
	Recipient string // the envelope recipient
	// ORCPT is the original recipient, when the client gave one.
	ORCPT string
	// Status is "sent", "deferred", "bounced" or "expired" (returned
	// after its queue lifetime), or "discarded".
	Status string
	// DSN is the RFC 3463 status ("2.0.0", "4.4.1", "5.1.1").
	DSN string
	// Relay is where the attempt went, "host[addr]:port", or "none".
	Relay string
	// Transport is the route's transport ("relay", "smtp", "error"...).
	Transport string
	// Delay is the time since the message arrived.
	Delay time.Duration
	// Reason is the reply or the explanation, as Postfix logs it in
	// parentheses.
	Reason string
	// Delays are the parts of Delay, as Postfix's delays= field.
	Delays maillog.Delays
	// Cause says why a deferral or bounce happened on this side, when it
	// was no reply of the next hop: "table" (a table lookup failed), "dns"
	// (a DNS lookup failed), "suspended" (the destination is suspended
	// after failures), or "".
	Cause string
}

// ObserverFuncs is an Observer made of functions; nil fields ignore their
// event.
type ObserverFuncs struct {
	AcceptedFunc     func(Accepted)   // called by Accepted
	RejectedFunc     func(Rejection)  // called by Rejected
	AttemptedFunc    func(Attempt)    // called by Attempted
	SessionEndedFunc func(SessionEnd) // called by SessionEnded
}

// Accepted calls AcceptedFunc.
func (o ObserverFuncs) Accepted(a Accepted) {
	if o.AcceptedFunc != nil {
		o.AcceptedFunc(a)
	}
}

// Rejected calls RejectedFunc.
func (o ObserverFuncs) Rejected(r Rejection) {
	if o.RejectedFunc != nil {
		o.RejectedFunc(r)
	}
}

// Attempted calls AttemptedFunc.
func (o ObserverFuncs) Attempted(a Attempt) {
	if o.AttemptedFunc != nil {
		o.AttemptedFunc(a)
	}
}

// SessionEnded calls SessionEndedFunc.
func (o ObserverFuncs) SessionEnded(e SessionEnd) {
	if o.SessionEndedFunc != nil {
		o.SessionEndedFunc(e)
	}
}

type nopObserver struct{}

func (nopObserver) Accepted(Accepted)  {}
func (nopObserver) Rejected(Rejection) {}
func (nopObserver) Attempted(Attempt)  {}
