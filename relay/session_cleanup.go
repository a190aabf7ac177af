package relay

import (
	"errors"
	"io"

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

// cleanBody rewrites the address headers of a message from a client of
// local_header_rewrite_clients (cleanup.Cleanup.RewriteHeaders); other
// messages pass as they are.
func (s *session) cleanBody(r io.Reader) (io.Reader, *Error) {
	if !s.r.c.Cleanup.RewritesHeaders(s.ctx, s.clientAddr) {
		return r, nil
	}
	out, err := s.r.c.Cleanup.RewriteHeaders(s.ctx, string(s.queueID), r)
	if err != nil {
		if clientGone(err) {
			return nil, s.dataError(err)
		}
		return nil, cleanupError(err)
	}
	return out, nil
}
