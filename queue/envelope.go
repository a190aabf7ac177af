package queue

import (
	"strconv"
	"strings"
	"time"
)

// ID names a queued message. Backends assign it when the caller leaves it
// empty. A valid ID is 1 to 64 characters from [0-9A-Za-z_-], so it is safe
// as a file name and in a log line.
type ID string

// Valid reports whether id has the form described on ID.
func (id ID) Valid() bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// State is where one recipient stands.
type State uint8

// Recipient states. Queued and Deferred are pending (the scheduler will try
// again); Delivered, Failed and Expired are final.
const (
	Queued    State = iota // not tried yet
	Deferred               // tried, temporary failure; Reason says why
	Delivered              // accepted by the next hop
	Failed                 // permanent failure (5xx); the caller bounces it
	Expired                // still deferred when its queue lifetime ran out; the caller bounces it
	numStates
)

var stateNames = [...]string{"queued", "deferred", "delivered", "failed", "expired"}

// String returns the lower-case name of the state ("deferred").
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Pending reports whether the recipient still waits for delivery.
func (s State) Pending() bool { return s == Queued || s == Deferred }

// Notify is the RFC 3461 NOTIFY parameter of one recipient, a set of flags.
// Zero means the parameter was absent (the MTA's default: failure and delay).
type Notify uint8

// NOTIFY flags (RFC 3461 section 4.1). NotifyNever excludes the others.
const (
	NotifyNever Notify = 1 << iota
	NotifySuccess
	NotifyFailure
	NotifyDelay
)

// Ret is the RFC 3461 RET parameter of MAIL FROM.
type Ret uint8

// RET values; RetUnset means the parameter was absent.
const (
	RetUnset Ret = iota
	RetFull
	RetHdrs
)

// Recipient is one envelope recipient and its delivery state.
type Recipient struct {
	// Address is the recipient as given in RCPT TO, without angle brackets.
	Address string
	// Notify is the RFC 3461 NOTIFY parameter; zero when absent.
	Notify Notify
	// ORCPT is the RFC 3461 ORCPT parameter as received
	// ("rfc822;user@example.com", xtext decoded); empty when absent.
	ORCPT string
	// Destination is the delivery destination the caller recorded when it
	// accepted the recipient, for the Scheduler's per-destination
	// concurrency limits and dead-destination marks. Postfix's queue
	// manager names a destination transport:nexthop, for example
	// "relay:[mx.example]", so that relay-domain mail and other outbound
	// mail are limited and suspended apart. Empty means the lower-cased
	// recipient domain, as Domain returns. The Scheduler uses it as
	// recorded and never looks routes up itself.
	Destination string
	// State is the recipient's delivery state.
	State State
	// Reason is the last reason given for Deferred, Failed or Expired
	// (typically the next hop's reply, "550 5.1.1 no such user"), or the
	// delivery confirmation for Delivered.
	Reason string
	// Status is the RFC 3463 enhanced status code of Reason ("4.4.1",
	// "5.1.1"), kept apart from the text as Postfix keeps dsn= apart
	// from its reason. Empty in records written before it existed and
	// when the deliverer gave none.
	Status string
	// Updated is when State last changed; zero while Queued.
	Updated time.Time
	// Notified records that the caller dealt with the recipient's final
	// state: it queued the DSN (bounce, or success DSN) or decided none is
	// due. Scheduler.MarkNotified sets it, after the DSN is safely queued,
	// so that a worker that takes over after a crash (between Done and
	// Remove, or after a Done that left other recipients deferred) does not
	// notify the sender a second time: it notifies only the recipients of
	// Envelope.Unnotified. Only a final State can be Notified; Scheduler.Store
	// clears it.
	Notified bool
}

// Envelope is everything the queue knows about a message except its body.
type Envelope struct {
	// ID names the message; a backend assigns it on Store when empty.
	ID ID
	// Sender is the MAIL FROM address without angle brackets; "" is the
	// null sender <> (bounces), which gets the bounce lifetime (Postfix
	// bounce_queue_lifetime, see Lifetimes).
	Sender string
	// Recipients are the RCPT TO addresses with their state. Their order is
	// kept; an Outcome names a recipient by its index here.
	Recipients []Recipient
	// Ret is the RFC 3461 RET parameter.
	Ret Ret
	// EnvID is the RFC 3461 ENVID parameter (xtext decoded); empty when absent.
	EnvID string
	// SMTPUTF8 records that MAIL FROM carried SMTPUTF8 (RFC 6531).
	SMTPUTF8 bool
	// Size is the body size in bytes; the backend sets it on Store.
	Size int64
	// Arrival is when the message was accepted; the scheduler sets it to
	// the current time when zero.
	Arrival time.Time
	// Attempts counts delivery attempts that ended with a recorded outcome.
	Attempts int
	// NextAttempt is when the message is due; zero means due now.
	NextAttempt time.Time
	// Held keeps the message out of delivery until released (postsuper -h).
	Held bool
	// DelayWarned records that the delay warning (delay_warning_time) was
	// handed to the caller, so it is given once.
	DelayWarned bool
	// Filter is the content filter the message goes to before its
	// recipients' own routes, "transport:nexthop" as Postfix's queue
	// file FILTER record (content_filter, or a FILTER action of an
	// access table, header_checks or body_checks): every recipient is
	// delivered there, and what the filter sends back is a new message.
	// Empty: none. The queue only keeps it.
	Filter string
	// Client describes the SMTP client the message came from, as
	// Postfix's queue file keeps it for XFORWARD (smtp_send_xforward_command)
	// and logging. Zero when unknown (a record written before it was
	// kept, a message not received over SMTP). The queue only keeps it.
	Client Client
	// Lease is the current claim. Backends keep it with the message but a
	// single-process backend need not persist it: after a restart nothing is
	// claimed. It is not part of the encoded envelope.
	Lease Lease
}

// Client is the SMTP client a message came from (Postfix's
// XFORWARD_README attributes). Empty fields are unknown.
type Client struct {
	// Name is the client's verified host name; empty when it has none
	// (Postfix's "unknown").
	Name string
	// Addr is the client's IP address, without brackets.
	Addr string
	// Port is the client's TCP port, in decimal.
	Port string
	// Helo is the name the client gave in HELO or EHLO.
	Helo string
	// Proto is the protocol it spoke: "ESMTP" or "SMTP".
	Proto string
	// Source is "LOCAL" for a client whose headers are rewritten as
	// local (Postfix's local_header_rewrite_clients), "REMOTE" for
	// another.
	Source string
	// Ident is the message's queue ID on an up-stream MTA that forwarded
	// it with XFORWARD IDENT (Postfix's log_ident); empty otherwise.
	Ident string
}

// Lease is a claim on a message: the holder may deliver it until Until; a
// later claim gets a different Token. The zero Lease means not claimed.
type Lease struct {
	// Token identifies the claim; zero means none.
	Token uint64
	// Until is when the claim ends and the message is due again.
	Until time.Time
}

// Live reports whether the lease still holds at now.
func (l Lease) Live(now time.Time) bool { return l.Token != 0 && now.Before(l.Until) }

// Clone returns a deep copy of e (the recipient slice is not shared).
func (e *Envelope) Clone() Envelope {
	c := *e
	c.Recipients = append([]Recipient(nil), e.Recipients...)
	return c
}

// Pending returns the indexes of the recipients still waiting for delivery.
func (e *Envelope) Pending() []int {
	var p []int
	for i := range e.Recipients {
		if e.Recipients[i].State.Pending() {
			p = append(p, i)
		}
	}
	return p
}

// Final reports whether every recipient is in a final state.
func (e *Envelope) Final() bool {
	for i := range e.Recipients {
		if e.Recipients[i].State.Pending() {
			return false
		}
	}
	return true
}

// Unnotified returns the indexes of the recipients in a final state
// (Delivered, Failed, Expired) whose Notified mark is not set: the ones whose
// DSN may not have been queued yet. A worker that claims a message checks
// it first, sends the DSNs due (Failed and Expired recipients, Delivered ones
// that asked for NOTIFY=SUCCESS) and calls Scheduler.MarkNotified.
func (e *Envelope) Unnotified() []int {
	var u []int
	for i := range e.Recipients {
		if r := &e.Recipients[i]; !r.State.Pending() && !r.Notified {
			u = append(u, i)
		}
	}
	return u
}

// Domain returns the lower-cased domain of an address (the part after the
// last '@'), or "" when there is none.
func Domain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(addr[i+1:], "."))
}
