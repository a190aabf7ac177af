package relay

import (
	"errors"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/relay/cleanup"
)

// cleanRecipients is the envelope the queue stores: the accepted
// recipients as Config.Cleanup rewrites them (virtual_alias_maps). An
// expanded recipient keeps the NOTIFY of its original and records the
// original as ORCPT ("rfc822;" and the address, as Postfix's smtpd
// writes it when the client gave none), so that the delivery log says
// orig_to= and DSNs name it as Original-Recipient. A refused expansion
// is the cleanup's reply (451 4.6.0).
func (s *session) cleanRecipients() ([]queue.Recipient, *Error) {
	if !s.r.c.Cleanup.Rewrites() {
		return s.rcpts, nil
	}
	addrs := make([]string, len(s.rcpts))
	byAddr := make(map[string]queue.Recipient, len(s.rcpts))
	for i, rc := range s.rcpts {
		addrs[i] = rc.Address
		if _, dup := byAddr[rc.Address]; !dup {
			byAddr[rc.Address] = rc
		}
	}
	clean, err := s.r.c.Cleanup.Recipients(s.ctx, string(s.queueID), addrs)
	if err != nil {
		var ce *cleanup.Error
		if errors.As(err, &ce) {
			return nil, &Error{Code: ce.Code, Status: ce.Status, Message: ce.Message, Err: err}
		}
		return nil, &Error{Code: errQueueWrite.Code, Status: errQueueWrite.Status, Message: errQueueWrite.Message, Err: err}
	}
	out := make([]queue.Recipient, 0, len(clean))
	for _, c := range clean {
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
	return out, nil
}
