package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
)

// Outcome is the result of trying one recipient.
type Outcome struct {
	// Recipient is the index into Envelope.Recipients.
	Recipient int
	// State is Delivered, Deferred or Failed.
	State State
	// Reason is the next hop's reply or a local explanation
	// ("451 4.3.0 try later", "connect to mx.example[192.0.2.1]:25:
	// Connection refused"). Invalid UTF-8 is replaced.
	Reason string
	// Status is the RFC 3463 enhanced status code of the outcome
	// ("2.0.0", "4.4.1", "5.1.1"), recorded as Recipient.Status. Empty
	// when unknown. It must be valid when set.
	Status string
	// Site marks a Deferred outcome as a failure of the destination
	// itself (no MX answered, connection refused, 421 at greeting): the
	// destination is suspended for Config.DeadTime (see Config.DeadTime).
	Site bool
}

// Report is what Done recorded.
type Report struct {
	// Envelope is the message after the update.
	Envelope Envelope
	// Delivered, Failed and Expired list the recipients that reached that
	// state in this call. The caller bounces Failed and Expired (a DSN to
	// Envelope.Sender unless it is <> or NOTIFY excludes failure) and may
	// send success DSNs for Delivered recipients that asked for them, then
	// records that with MarkNotified.
	Delivered, Failed, Expired []int
	// DelayWarning lists the still-deferred recipients when the message
	// just reached its delay_warning_time: send one "delayed" DSN.
	DelayWarning []int
	// Final is true when no recipient is pending: bounce what must be
	// bounced (the body is still readable), MarkNotified, then call Remove.
	Final bool
	// NextAttempt is when the message is due again (zero when Final).
	NextAttempt time.Time
	// Suspended lists the recipients deferred in this call without an
	// attempt because their destination is suspended (Config.DeadTime);
	// their Reason says "delivery temporarily suspended: ...".
	Suspended []int
}

// Done records the outcome of a Delivery: each Outcome sets its
// recipient's state; recipients of Attempt without an Outcome are deferred
// ("no outcome reported"), those of suspended destinations are deferred
// with "delivery temporarily suspended". Then, if recipients remain
// deferred, the ones whose lifetime ran out become Expired (Lifetimes:
// maximal_queue_lifetime, or bounce_queue_lifetime for mail from <>) and
// the message is due again after the Backoff. Done frees the
// delivery's concurrency slots and suspends destinations of Site outcomes.
// It returns ErrLeaseLost when the lease expired and another worker claimed
// the message.
func (s *Scheduler) Done(ctx context.Context, d *Delivery, outcomes []Outcome) (Report, error) {
	if err := s.check(); err != nil {
		return Report{}, err
	}
	defer s.releaseClaim(d)
	now := s.cfg.Now().UTC()
	var rep Report
	var final Envelope
	err := s.q.Modify(ctx, d.Envelope.ID, func(e *Envelope) error {
		rep = Report{}
		if e.Lease.Token != d.Envelope.Lease.Token {
			return fmt.Errorf("%w: %s", ErrLeaseLost, e.ID)
		}
		set := func(i int, st State, reason, status string) {
			r := &e.Recipients[i]
			r.State, r.Reason, r.Status, r.Updated, r.Notified = st, strings.ToValidUTF8(reason, "\uFFFD"), status, now, false
			switch st {
			case Delivered:
				rep.Delivered = append(rep.Delivered, i)
			case Failed:
				rep.Failed = append(rep.Failed, i)
			case Expired:
				rep.Expired = append(rep.Expired, i)
			}
		}
		done := make(map[int]bool, len(outcomes))
		for _, o := range outcomes {
			if !slices.Contains(d.Attempt, o.Recipient) || done[o.Recipient] {
				return fmt.Errorf("queue: message %s: outcome for recipient %d, which was not in Attempt or was reported twice", e.ID, o.Recipient)
			}
			switch o.State {
			case Delivered, Deferred, Failed:
			default:
				return fmt.Errorf("queue: message %s: outcome state %v is not Delivered, Deferred or Failed", e.ID, o.State)
			}
			if o.Status != "" && !validStatus(o.Status) {
				return fmt.Errorf("queue: message %s: outcome status %q is not an RFC 3463 status code", e.ID, o.Status)
			}
			done[o.Recipient] = true
			set(o.Recipient, o.State, o.Reason, o.Status)
		}
		for _, i := range d.Attempt {
			if !done[i] {
				set(i, Deferred, "no outcome reported", "4.3.0")
			}
		}
		for k, i := range d.suspended {
			set(i, Deferred, d.reasons[k], d.statuses[k])
			rep.Suspended = append(rep.Suspended, i)
		}
		if len(d.Attempt) > 0 || len(d.suspended) > 0 {
			e.Attempts++
		}
		age := now.Sub(e.Arrival)
		warn := false
		for _, i := range e.Pending() {
			l := s.Lifetimes(e.Recipients[i].Address)
			maximal := l.Maximal
			if e.Sender == "" {
				maximal = l.Bounce
			}
			if age >= maximal {
				set(i, Expired, e.Recipients[i].Reason, e.Recipients[i].Status)
				continue
			}
			if w := l.DelayWarning; w > 0 && age >= w && !e.DelayWarned {
				warn = true
			}
		}
		if warn {
			rep.DelayWarning = e.Pending()
			e.DelayWarned = true
		}
		if e.Final() {
			rep.Final = true
			e.Lease.Until = now.Add(s.cfg.Lease) // keep it until Remove
			final = e.Clone()
			return nil
		}
		b := s.Backoff(age)
		if s.cfg.Jitter > 0 {
			b += time.Duration(float64(b) * s.cfg.Jitter * s.cfg.Rand())
		}
		e.NextAttempt = now.Add(b)
		rep.NextAttempt = e.NextAttempt
		e.Lease = Lease{}
		final = e.Clone()
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	rep.Envelope = final
	marks := make(map[string]DeadMark)
	for _, o := range outcomes {
		if o.Site && o.State == Deferred {
			marks[destination(&d.Envelope.Recipients[o.Recipient])] = DeadMark{Until: now.Add(s.cfg.DeadTime), Reason: o.Reason, Status: o.Status}
		}
	}
	if len(marks) > 0 {
		s.mu.Lock()
		maps.Copy(s.dead, marks)
		s.mu.Unlock()
		s.shareDead(ctx, marks)
	}
	attrs := []slog.Attr{slog.String("queue_id", string(d.Envelope.ID)),
		slog.Int("delivered", len(rep.Delivered)), slog.Int("failed", len(rep.Failed)),
		slog.Int("expired", len(rep.Expired)), slog.Bool("final", rep.Final)}
	if !rep.NextAttempt.IsZero() {
		attrs = append(attrs, slog.Time("next", rep.NextAttempt))
	}
	// Debug: the relay logs each recipient's outcome (Postfix's status lines).
	s.log.LogAttrs(ctx, slog.LevelDebug, "queue attempt", attrs...)
	return rep, nil
}

// MarkNotified records that the DSNs of the given recipients were queued
// (or that none was due), setting their Recipient.Notified, so that no
// worker notifies the sender about them again. Each must be in a final
// state (Delivered, Failed, Expired), else MarkNotified changes nothing and
// returns an error. It works on d's message after Done as well, whether
// Done left it Final (its lease still held) or deferred other recipients
// (its lease ended: the mark is recorded whoever holds the message now).
//
// The protocol that notifies each sender once, even when a worker dies at
// any point, is, for every Delivery:
//
//  1. Before delivering, notify about d.Envelope.Unnotified(): final
//     recipients whose DSN an earlier worker may not have queued (it died
//     after Done); queue the DSNs, then MarkNotified them.
//  2. Deliver d.Attempt and call Done.
//  3. Queue the DSNs for Report.Failed, Report.Expired (and Delivered
//     with NOTIFY=SUCCESS), then MarkNotified all of Failed, Expired
//     and Delivered in one call (one durable write).
//  4. If Report.Final, call Remove.
//
// A crash between queuing a DSN and MarkNotified still sends that DSN
// twice (a DSN is a message of its own, which the mark cannot join
// atomically); a crash anywhere else neither loses nor repeats one.
//
// Marking recipients for which no DSN is due (Delivered without
// NOTIFY=SUCCESS, a <> sender, NOTIFY=NEVER) is optional: when nothing
// was queued, skipping MarkNotified saves a durable write, and a
// successor that sees them in Unnotified again decides again that no DSN
// is due.
func (s *Scheduler) MarkNotified(ctx context.Context, d *Delivery, recipients []int) error {
	if err := s.check(); err != nil {
		return err
	}
	if len(recipients) == 0 {
		return nil
	}
	err := s.q.Modify(ctx, d.Envelope.ID, func(e *Envelope) error {
		changed := false
		for _, i := range recipients {
			if i < 0 || i >= len(e.Recipients) {
				return fmt.Errorf("queue: message %s: MarkNotified: no recipient %d", e.ID, i)
			}
			r := &e.Recipients[i]
			if r.State.Pending() {
				return fmt.Errorf("queue: message %s: MarkNotified: recipient %d is %v, not final", e.ID, i, r.State)
			}
			changed = changed || !r.Notified
			r.Notified = true
		}
		if !changed {
			return errUnchanged
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

var errUnchanged = errors.New("unchanged")
