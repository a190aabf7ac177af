package relay

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/cleanup"
)

// cleanEnvelope is the envelope the queue stores: the sender and the
// accepted recipients as Config.Cleanup rewrites them (canonical maps,
// virtual_alias_maps), with the automatic BCC recipients (always_bcc,
// sender_bcc_maps, recipient_bcc_maps). A rewritten recipient keeps the NOTIFY of its
// original and records the original as ORCPT ("rfc822;" and the address,
// as Postfix's smtpd writes it when the client gave none), so that the
// delivery log says orig_to= and DSNs name it as Original-Recipient. A
// refusal is the cleanup's reply (451).
func (s *session) cleanEnvelope() (string, []queue.Recipient, *Error) {
	if !s.r.c.Cleanup.Rewrites() {
		return s.sender, s.rcpts, nil
	}
	addrs := make([]string, len(s.rcpts))
	byAddr := make(map[string]queue.Recipient, len(s.rcpts))
	for i, rc := range s.rcpts {
		addrs[i] = rc.Address
		if _, dup := byAddr[rc.Address]; !dup {
			byAddr[rc.Address] = rc
		}
	}
	sender, clean, err := s.r.c.Cleanup.Envelope(s.ctx, string(s.queueID), s.sender, addrs)
	if err != nil {
		return "", nil, cleanupError(err)
	}
	out := make([]queue.Recipient, 0, len(clean))
	for _, c := range clean {
		if c.Bcc {
			// An automatic BCC recipient: never a DSN (Postfix's
			// NOTIFY=NEVER); the BCC address is its original.
			rc := queue.Recipient{Address: c.Address, Notify: queue.NotifyNever, Destination: s.r.destination(s.ctx, c.Address)}
			if c.Address != c.Original {
				rc.ORCPT = "rfc822;" + c.Original
			}
			out = append(out, rc)
			continue
		}
		rc := byAddr[c.Original]
		if c.Address != c.Original {
			rc.Address = c.Address
			rc.Destination = s.r.destination(s.ctx, c.Address)
			if rc.ORCPT == "" {
				rc.ORCPT = "rfc822;" + c.Original
			}
		}
		out = append(out, rc)
	}
	return sender, out, nil
}

// cleanupError is the reply to a message the cleanup stage refused: its
// own (451 4.6.0 or 4.3.0), else a queue write error.
func cleanupError(err error) *Error {
	var ce *cleanup.Error
	if errors.As(err, &ce) {
		return &Error{Code: ce.Code, Status: ce.Status, Message: ce.Message, Err: err}
	}
	return &Error{Code: errQueueWrite.Code, Status: errQueueWrite.Status, Message: errQueueWrite.Message, Err: err}
}

// cleanBody applies header_checks and body_checks (cleanup.Cleanup.Check,
// which reads the whole message) and then finishes the header
// (cleanup.Cleanup.FinishHeader): the address headers of a message from
// a client of local_header_rewrite_clients rewritten, its missing
// headers added (from sender, at now), message_drop_headers removed. A
// REJECT or a failure is the reply.
func (s *session) cleanBody(r io.Reader, sender string, now time.Time) (io.Reader, cleanup.Verdict, *Error) {
	var v cleanup.Verdict
	cl := s.r.c.Cleanup
	m := cleanup.Message{QueueID: string(s.queueID), Sender: sender, Arrival: now,
		Client: s.clientString(), Proto: s.protocol(), Helo: s.helo}
	if n := len(s.rcpts); n > 0 {
		m.Recipient = s.rcpts[n-1].Address
	}
	if cl.ChecksContent() {
		msg, verdict, err := cl.Check(s.ctx, m, r)
		if err != nil {
			if clientGone(err) {
				return nil, v, s.dataError(err)
			}
			return nil, v, cleanupError(err)
		}
		if verdict.Reject != nil {
			return nil, verdict, cleanupError(verdict.Reject)
		}
		r, v = bytes.NewReader(msg), verdict
	}
	m.Local = s.localRewrite()
	if !cl.PassesHeader(m.Local) {
		return r, v, nil
	}
	m.MessageIDAdded = s.logAddedMessageID // only here: a method value costs an allocation
	out, err := cl.FinishHeader(s.ctx, m, r)
	if err != nil {
		if clientGone(err) {
			return nil, v, s.dataError(err)
		}
		return nil, v, cleanupError(err)
	}
	return out, v, nil
}

// applyVerdict changes the recipients as header_checks, body_checks and
// access tables asked: BCC adds recipients (rewritten as automatic BCC
// ones); REDIRECT then sends the message to the redirect address instead,
// once, as Postfix's queue manager, which sorts the recipients (by
// domain, then address), gives the first the redirect address and drops
// the others: orig_to names that first one (golden hbc, case redirect;
// golden accessactions, cases redirect, tworedirect and bccredirect).
func (s *session) applyVerdict(v cleanup.Verdict, rcpts []queue.Recipient) ([]queue.Recipient, *Error) {
	if len(v.Bcc) > 0 {
		var bcc []cleanup.Recipient
		if s.r.c.Cleanup == nil {
			for _, a := range v.Bcc {
				bcc = append(bcc, cleanup.Recipient{Address: a, Original: a, Bcc: true})
			}
		} else {
			var err error
			if bcc, err = s.r.c.Cleanup.BccRecipients(s.ctx, string(s.queueID), v.Bcc); err != nil {
				return nil, cleanupError(err)
			}
		}
		for _, c := range bcc {
			rc := queue.Recipient{Address: c.Address, Notify: queue.NotifyNever, Destination: s.r.destination(s.ctx, c.Address)}
			if c.Address != c.Original {
				rc.ORCPT = "rfc822;" + c.Original
			}
			rcpts = append(rcpts, rc)
		}
	}
	if v.Redirect != "" && len(rcpts) > 0 {
		rc := slices.MinFunc(rcpts, qmgrOrder)
		if rc.ORCPT == "" {
			rc.ORCPT = "rfc822;" + rc.Address
		}
		rc.Address, rc.Destination = v.Redirect, s.r.destination(s.ctx, v.Redirect)
		rcpts = []queue.Recipient{rc}
	}
	return rcpts, nil
}

// qmgrOrder is the order of Postfix's qmgr_message_sort before routing:
// recipients with a domain first, by domain, then by address, without
// case.
func qmgrOrder(a, b queue.Recipient) int {
	at1, at2 := strings.LastIndexByte(a.Address, '@'), strings.LastIndexByte(b.Address, '@')
	switch {
	case at1 < 0 && at2 >= 0:
		return 1
	case at1 >= 0 && at2 < 0:
		return -1
	case at1 >= 0 && at2 >= 0:
		if c := strings.Compare(strings.ToLower(a.Address[at1:]), strings.ToLower(b.Address[at2:])); c != 0 {
			return c
		}
	}
	return strings.Compare(strings.ToLower(a.Address), strings.ToLower(b.Address))
}
