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
	ID          string      `json:"id"`
	Sender      string      `json:"sender"`
	Recipients  []wireRcpt  `json:"rcpts"`
	Ret         uint8       `json:"ret,omitempty"`
	EnvID       string      `json:"envid,omitempty"`
	SMTPUTF8    bool        `json:"smtputf8,omitempty"`
	Size        int64       `json:"size"`
	Arrival     int64       `json:"arrival"`
	Attempts    int         `json:"attempts,omitempty"`
	NextAttempt int64       `json:"next,omitempty"`
	Held        bool        `json:"held,omitempty"`
	DelayWarned bool        `json:"warned,omitempty"`
	Filter      string      `json:"filter,omitempty"`
	Client      *wireClient `json:"client,omitempty"`
}

// wireClient is the JSON form of a Client; records written before it
// existed have no "client" and decode to the zero Client.
type wireClient struct {
	Name   string `json:"name,omitempty"`
	Addr   string `json:"addr,omitempty"`
	Port   string `json:"port,omitempty"`
	Helo   string `json:"helo,omitempty"`
	Proto  string `json:"proto,omitempty"`
	Source string `json:"source,omitempty"`
	Ident  string `json:"ident,omitempty"`
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
	Status      string `json:"dsn,omitempty"`
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
		DelayWarned: e.DelayWarned, Filter: e.Filter, Recipients: make([]wireRcpt, len(e.Recipients)),
	}
	if e.Client != (Client{}) {
		c := wireClient(e.Client)
		w.Client = &c
	}
	for i, r := range e.Recipients {
		w.Recipients[i] = wireRcpt{Address: r.Address, Notify: uint8(r.Notify), ORCPT: r.ORCPT,
			Destination: r.Destination, State: uint8(r.State), Reason: r.Reason, Status: r.Status, Updated: toNanos(r.Updated), Notified: r.Notified}
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
	case len(e.Sender) > maxAddressBytes || len(e.Filter) > maxAddressBytes:
		return fmt.Errorf("queue: message %s: sender too long", e.ID)
	case e.Ret > RetHdrs:
		return fmt.Errorf("queue: message %s: RET %d out of range", e.ID, e.Ret)
	case e.Size < 0 || e.Attempts < 0:
		return fmt.Errorf("queue: message %s: negative size or attempts", e.ID)
	}
	if !utf8.ValidString(e.Sender) || !utf8.ValidString(e.EnvID) || !utf8.ValidString(e.Filter) {
		return fmt.Errorf("queue: message %s: sender or ENVID is not valid UTF-8", e.ID)
	}
	for _, v := range []string{e.Client.Name, e.Client.Addr, e.Client.Port, e.Client.Helo, e.Client.Proto, e.Client.Source, e.Client.Ident} {
		if len(v) > maxAddressBytes || !utf8.ValidString(v) {
			return fmt.Errorf("queue: message %s: client attribute too long or not valid UTF-8", e.ID)
		}
	}
	for i := range e.Recipients {
		r := &e.Recipients[i]
		if !utf8.ValidString(r.Address) || !utf8.ValidString(r.ORCPT) || !utf8.ValidString(r.Reason) || !utf8.ValidString(r.Destination) {
			return fmt.Errorf("queue: message %s: recipient %d: text is not valid UTF-8", e.ID, i)
		}
		if r.Status != "" && !validStatus(r.Status) {
			return fmt.Errorf("queue: message %s: recipient %d: %q is not an RFC 3463 status code", e.ID, i, r.Status)
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
		Filter: w.Filter, Recipients: make([]Recipient, len(w.Recipients)),
	}
	if w.Client != nil {
		e.Client = Client(*w.Client)
	}
	for i, r := range w.Recipients {
		e.Recipients[i] = Recipient{Address: r.Address, Notify: Notify(r.Notify), ORCPT: r.ORCPT,
			Destination: r.Destination, State: State(r.State), Reason: r.Reason, Status: r.Status, Updated: fromNanos(r.Updated), Notified: r.Notified}
	}
	if err := check(e); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return e, end + 1, nil
}
