package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Finish is Done for the common outcome that leaves nothing to record:
// every recipient attempted was delivered, none is left pending, and none
// asked for a success notification (RFC 3461 NOTIFY=SUCCESS) that would
// have to be sent. The message is then removed at once, as Postfix's
// queue manager deletes a queue file whose recipients are all done,
// instead of writing the outcome (Done) and the notification mark
// (MarkNotified) before Remove: one durable change instead of three, and
// a shorter window in which a crash after the next hop's 250 delivers the
// message twice.
//
// ok is false, and nothing is changed, when the outcome is not of that
// kind: call Done. When ok is true and err is not nil, the removal failed
// and the message is as it was: call Done to record the outcome. The
// Report is what Done would have returned.
func (s *Scheduler) Finish(ctx context.Context, d *Delivery, outcomes []Outcome) (rep Report, ok bool, err error) {
	if err := s.check(); err != nil {
		return Report{}, false, err
	}
	if !s.finishable(d, outcomes) {
		return Report{}, false, nil
	}
	now := s.cfg.Now().UTC()
	e := d.Envelope.Clone()
	for _, o := range outcomes {
		r := &e.Recipients[o.Recipient]
		r.State, r.Reason, r.Status, r.Updated, r.Notified = Delivered, strings.ToValidUTF8(o.Reason, "\uFFFD"), o.Status, now, true
		rep.Delivered = append(rep.Delivered, o.Recipient)
	}
	e.Attempts++
	rep.Envelope, rep.Final = e, true
	if err := s.Remove(ctx, d); err != nil {
		return Report{}, true, fmt.Errorf("queue: message %s: %w", d.Envelope.ID, err)
	}
	s.releaseClaim(d)
	return rep, true, nil
}

// finishable reports whether Finish applies: each recipient of Attempt
// has a Delivered outcome (once), valid, without NOTIFY=SUCCESS unless
// the sender is null, and every other recipient was final and notified.
func (s *Scheduler) finishable(d *Delivery, outcomes []Outcome) bool {
	e := &d.Envelope
	if len(d.suspended) > 0 || len(outcomes) != len(d.Attempt) || len(outcomes) == 0 {
		return false
	}
	seen := make([]bool, len(e.Recipients))
	for _, o := range outcomes {
		if o.State != Delivered || o.Recipient < 0 || o.Recipient >= len(e.Recipients) || seen[o.Recipient] ||
			!slices.Contains(d.Attempt, o.Recipient) || o.Status != "" && !validStatus(o.Status) {
			return false
		}
		if e.Sender != "" && e.Recipients[o.Recipient].Notify&NotifySuccess != 0 {
			return false
		}
		seen[o.Recipient] = true
	}
	for i, r := range e.Recipients {
		if !seen[i] && (r.State.Pending() || !r.Notified) {
			return false
		}
	}
	return true
}
