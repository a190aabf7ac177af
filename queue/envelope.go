package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
	// Lease is the current claim. Backends keep it with the message but a
	// single-process backend need not persist it: after a restart nothing is
	// claimed. It is not part of the encoded envelope.
	Lease Lease
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

// Limits on decoded envelopes; a record beyond them is corrupt.
const (
	maxRecordSize   = 16 << 20
	maxRecipients   = 100000
	maxAddressBytes = 2048
)

// recordMagic starts every encoded envelope. The version is part of it so a
// later format can be told apart; DecodeEnvelope rejects versions it does
// not know.
const recordMagic = "MXQ1"

// wire is the JSON form of an Envelope. Times are Unix nanoseconds, so an
// envelope decodes to exactly what was encoded (UTC, no monotonic reading).
type wire struct {
	ID          string     `json:"id"`
	Sender      string     `json:"sender"`
	Recipients  []wireRcpt `json:"rcpts"`
	Ret         uint8      `json:"ret,omitempty"`
	EnvID       string     `json:"envid,omitempty"`
	SMTPUTF8    bool       `json:"smtputf8,omitempty"`
	Size        int64      `json:"size"`
	Arrival     int64      `json:"arrival"`
	Attempts    int        `json:"attempts,omitempty"`
	NextAttempt int64      `json:"next,omitempty"`
	Held        bool       `json:"held,omitempty"`
	DelayWarned bool       `json:"warned,omitempty"`
}

// wireRcpt is the JSON form of a Recipient. Destination was added after
// the first records were written: a record without "dest" decodes to an
// empty Destination.
type wireRcpt struct {
	Address     string `json:"addr"`
	Notify      uint8  `json:"notify,omitempty"`
	ORCPT       string `json:"orcpt,omitempty"`
	Destination string `json:"dest,omitempty"`
	State       uint8  `json:"state,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Updated     int64  `json:"updated,omitempty"`
	Notified    bool   `json:"notified,omitempty"`
}

func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// ErrCorrupt is wrapped by every error DecodeEnvelope returns.
var ErrCorrupt = errors.New("queue: corrupt envelope record")

// EncodeEnvelope returns the self-checking record of e: a header line
// "MXQ1 <crc32c hex> <length>\n" followed by a JSON object of that length
// and a final "\n". Times are kept to the nanosecond in UTC; the Lease is
// not encoded. It fails when e would not decode (invalid ID, no
// recipients, state out of range, limits exceeded).
func EncodeEnvelope(e *Envelope) ([]byte, error) {
	if err := check(e); err != nil {
		return nil, err
	}
	w := wire{
		ID: string(e.ID), Sender: e.Sender, Ret: uint8(e.Ret), EnvID: e.EnvID,
		SMTPUTF8: e.SMTPUTF8, Size: e.Size, Arrival: toNanos(e.Arrival),
		Attempts: e.Attempts, NextAttempt: toNanos(e.NextAttempt), Held: e.Held,
		DelayWarned: e.DelayWarned, Recipients: make([]wireRcpt, len(e.Recipients)),
	}
	for i, r := range e.Recipients {
		w.Recipients[i] = wireRcpt{Address: r.Address, Notify: uint8(r.Notify), ORCPT: r.ORCPT,
			Destination: r.Destination, State: uint8(r.State), Reason: r.Reason, Updated: toNanos(r.Updated), Notified: r.Notified}
	}
	body, err := json.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("queue: encode envelope %s: %w", e.ID, err)
	}
	if len(body) > maxRecordSize {
		return nil, fmt.Errorf("queue: envelope %s: record of %d bytes exceeds %d", e.ID, len(body), maxRecordSize)
	}
	out := make([]byte, 0, len(body)+32)
	out = fmt.Appendf(out, "%s %08x %d\n", recordMagic, crc32.Checksum(body, castagnoli), len(body))
	out = append(out, body...)
	return append(out, '\n'), nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// check validates the fields an encoded envelope must satisfy.
func check(e *Envelope) error {
	switch {
	case !e.ID.Valid():
		return fmt.Errorf("queue: invalid message ID %q", e.ID)
	case len(e.Recipients) == 0:
		return fmt.Errorf("queue: message %s has no recipients", e.ID)
	case len(e.Recipients) > maxRecipients:
		return fmt.Errorf("queue: message %s has %d recipients (limit %d)", e.ID, len(e.Recipients), maxRecipients)
	case len(e.Sender) > maxAddressBytes:
		return fmt.Errorf("queue: message %s: sender too long", e.ID)
	case e.Ret > RetHdrs:
		return fmt.Errorf("queue: message %s: RET %d out of range", e.ID, e.Ret)
	case e.Size < 0 || e.Attempts < 0:
		return fmt.Errorf("queue: message %s: negative size or attempts", e.ID)
	}
	if !utf8.ValidString(e.Sender) || !utf8.ValidString(e.EnvID) {
		return fmt.Errorf("queue: message %s: sender or ENVID is not valid UTF-8", e.ID)
	}
	for i := range e.Recipients {
		r := &e.Recipients[i]
		if !utf8.ValidString(r.Address) || !utf8.ValidString(r.ORCPT) || !utf8.ValidString(r.Reason) || !utf8.ValidString(r.Destination) {
			return fmt.Errorf("queue: message %s: recipient %d: text is not valid UTF-8", e.ID, i)
		}
		if r.State >= numStates {
			return fmt.Errorf("queue: message %s: recipient %d: state %d out of range", e.ID, i, r.State)
		}
		if r.Notified && r.State.Pending() {
			return fmt.Errorf("queue: message %s: recipient %d: pending yet marked notified", e.ID, i)
		}
		if r.Address == "" || len(r.Address) > maxAddressBytes {
			return fmt.Errorf("queue: message %s: recipient %d: empty or too long address", e.ID, i)
		}
		if len(r.Destination) > maxAddressBytes {
			return fmt.Errorf("queue: message %s: recipient %d: destination too long", e.ID, i)
		}
	}
	return nil
}

// DecodeEnvelope parses a record made by EncodeEnvelope. Trailing bytes
// after the record are ignored (a spool data file has a footer after it).
// A truncated, altered or unknown-version record gives an error wrapping
// ErrCorrupt, never a panic. The decoded Lease is zero.
func DecodeEnvelope(b []byte) (*Envelope, error) {
	e, _, err := decodeRecord(b)
	return e, err
}

// decodeRecord decodes the record at the start of b and returns the number
// of bytes it takes (header, JSON and the final newline).
func decodeRecord(b []byte) (*Envelope, int, error) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 || nl > 64 {
		return nil, 0, fmt.Errorf("%w: no header line", ErrCorrupt)
	}
	// The header must be exactly as EncodeEnvelope writes it, so that any
	// change to it is detected, not only those the checksum covers.
	f := strings.Split(string(b[:nl]), " ")
	if len(f) != 3 || f[0] != recordMagic || len(f[1]) != 8 {
		return nil, 0, fmt.Errorf("%w: bad header %q", ErrCorrupt, b[:nl])
	}
	sum, err1 := strconv.ParseUint(f[1], 16, 32)
	n, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil || n < 2 || n > maxRecordSize || f[2] != strconv.Itoa(n) || f[1] != fmt.Sprintf("%08x", sum) {
		return nil, 0, fmt.Errorf("%w: bad header %q", ErrCorrupt, b[:nl])
	}
	end := nl + 1 + n
	if len(b) < end+1 {
		return nil, 0, fmt.Errorf("%w: truncated (%d of %d bytes)", ErrCorrupt, len(b), end+1)
	}
	body := b[nl+1 : end]
	if b[end] != '\n' {
		return nil, 0, fmt.Errorf("%w: missing record terminator", ErrCorrupt)
	}
	if crc32.Checksum(body, castagnoli) != uint32(sum) {
		return nil, 0, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if dec.More() {
		return nil, 0, fmt.Errorf("%w: data after the JSON object", ErrCorrupt)
	}
	e := &Envelope{
		ID: ID(w.ID), Sender: w.Sender, Ret: Ret(w.Ret), EnvID: w.EnvID, SMTPUTF8: w.SMTPUTF8,
		Size: w.Size, Arrival: fromNanos(w.Arrival), Attempts: w.Attempts,
		NextAttempt: fromNanos(w.NextAttempt), Held: w.Held, DelayWarned: w.DelayWarned,
		Recipients: make([]Recipient, len(w.Recipients)),
	}
	for i, r := range w.Recipients {
		e.Recipients[i] = Recipient{Address: r.Address, Notify: Notify(r.Notify), ORCPT: r.ORCPT,
			Destination: r.Destination, State: State(r.State), Reason: r.Reason, Updated: fromNanos(r.Updated), Notified: r.Notified}
	}
	if err := check(e); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return e, end + 1, nil
}
