package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// leaseKey names one claim of one message.
type leaseKey struct {
	id    ID
	token uint64
}

// slots are the concurrency slots a claim holds until Done, or until its
// lease ends: a worker that hangs or forgets Done does not block its
// destinations forever.
type slots struct {
	dests []string
	until time.Time
}

// parker is implemented by the backends of this package: a claim that
// parks the messages accept refuses, so that mail for a destination at
// its concurrency limit does not keep other mail from being examined, and
// a way to put them back when a slot frees.
type parker interface {
	claimPark(ctx context.Context, now time.Time, lease time.Duration, accept func(*Envelope) bool) (Envelope, error)
	unpark(ids []ID)
}

// unparkPerSlot is how many parked messages of a destination come back
// when one of its slots frees: more than one, in case some were removed
// or are held back by another destination.
const unparkPerSlot = 4

// maxRefused caps the parked IDs remembered per destination; the ones
// dropped come back after the backend's parking time.
const maxRefused = 1 << 16

// Delivery is one claimed message: deliver the body to the recipients in
// Attempt, then call Done with their outcomes. A Delivery whose Attempt is
// empty has no pending recipient (Envelope.Final()): its worker died after
// Done and before Remove, so send the DSNs of Envelope.Unnotified (its
// earlier worker had not marked them sent) and call Remove.
//
// To notify each sender once even when workers die, follow the
// notification protocol of MarkNotified.
type Delivery struct {
	// Envelope is the message as claimed, Lease included.
	Envelope Envelope
	// Attempt lists the indexes (into Envelope.Recipients) to try now.
	// Pending recipients of a suspended destination are left out: Done
	// defers them without an attempt.
	Attempt []int

	suspended []int    // pending recipients of dead destinations
	reasons   []string // suspension reason per entry of suspended
	statuses  []string // and its enhanced status code
	dests     []string // concurrency slots held
}

// Claim hands out the first due message whose destinations are below
// their concurrency limit, or returns ErrEmpty. Recipients of suspended
// destinations are not in Attempt; a message with nothing but such
// recipients is deferred on the spot and Claim goes on to the next one.
func (s *Scheduler) Claim(ctx context.Context) (*Delivery, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	for {
		now := s.cfg.Now()
		s.expireSlots(now)
		// A backend may call accept more than once with true (it retries
		// when another process took the message first), so every
		// reservation is kept and all but the claimed one released.
		var held []*Delivery
		accept := func(e *Envelope) bool {
			d, _ := s.reserve(e, now)
			if d != nil {
				d.Envelope.ID = e.ID
				held = append(held, d)
			}
			return d != nil
		}
		var env Envelope
		var err error
		switch {
		case s.shared != nil:
			s.refreshDead(ctx, now)
			env, err = s.shared.ClaimSlots(ctx, now, s.cfg.Lease, s.limit, func(e *Envelope) ([]string, bool) {
				d, full := s.reserve(e, now)
				if d == nil {
					return []string{full}, false
				}
				d.Envelope.ID = e.ID
				held = append(held, d)
				return d.dests, true
			})
		case s.park != nil:
			env, err = s.park.claimPark(ctx, now, s.cfg.Lease, accept)
		default:
			env, err = s.q.Claim(ctx, now, s.cfg.Lease, accept)
		}
		var d *Delivery
		for _, r := range held {
			if err == nil && d == nil && r.Envelope.ID == env.ID {
				d = r
				continue
			}
			s.release(r.dests)
		}
		if errors.Is(err, errMore) {
			continue // the examined ones are parked: look at the next ones
		}
		if err != nil {
			return nil, err
		}
		if d == nil {
			return nil, fmt.Errorf("queue: backend claimed message %s that accept refused", env.ID)
		}
		d.Envelope = env
		if len(d.dests) > 0 {
			s.mu.Lock()
			s.leased[leaseKey{env.ID, env.Lease.Token}] = slots{d.dests, env.Lease.Until}
			if len(s.leased) == 1 || env.Lease.Until.Before(s.expiry) {
				s.expiry = env.Lease.Until
			}
			s.mu.Unlock()
		}
		if len(d.Attempt) > 0 || len(d.suspended) == 0 {
			return d, nil
		}
		// Every pending recipient waits for a suspended destination:
		// defer it without an attempt, as Postfix defers mail for a dead
		// destination ("delivery temporarily suspended"), and look further.
		rep, err := s.Done(ctx, d, nil)
		if err != nil {
			return nil, err
		}
		if s.cfg.Suspended != nil {
			s.cfg.Suspended(rep)
		}
	}
}

// DestinationOf is the destination r counts against for concurrency
// limits and dead marks: the one recorded at store time
// (Recipient.Destination), else its domain. A Shared backend uses it to
// know a message's destinations without decoding it.
func DestinationOf(r *Recipient) string {
	if r.Destination != "" {
		return r.Destination
	}
	return Domain(r.Address)
}

func destination(r *Recipient) string { return DestinationOf(r) }

// reserve decides whether e can be handed out now and takes its
// concurrency slots. It returns nil to refuse, with the destination at
// its limit that made it refuse. It runs inside the
// backend's claim and under s.mu, so it only reads the envelope and the
// Scheduler's maps: no callback, no I/O.
func (s *Scheduler) reserve(e *Envelope, now time.Time) (*Delivery, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &Delivery{}
	for _, i := range e.Pending() {
		dest := destination(&e.Recipients[i])
		if m, ok := s.dead[dest]; ok {
			if now.Before(m.Until) {
				d.suspended = append(d.suspended, i)
				d.reasons = append(d.reasons, "delivery temporarily suspended: "+m.Reason)
				d.statuses = append(d.statuses, m.Status)
				continue
			}
			delete(s.dead, dest)
		}
		d.Attempt = append(d.Attempt, i)
		slot := []string{dest}
		if t, _, ok := strings.Cut(dest, ":"); ok && s.cfg.Transports[t].Processes > 0 {
			slot = append(slot, transportSlot(t))
		}
		for _, dest := range slot {
			if slices.Contains(d.dests, dest) {
				continue
			}
			if s.active[dest] >= s.limit(dest) {
				if s.park != nil && len(s.refused[dest]) < maxRefused {
					s.refused[dest] = append(s.refused[dest], e.ID)
				}
				return nil, dest
			}
			d.dests = append(d.dests, dest)
		}
	}
	for _, dest := range d.dests {
		s.active[dest]++
	}
	return d, ""
}

func (s *Scheduler) release(dests []string) {
	s.mu.Lock()
	s.releaseLocked(dests)
	s.mu.Unlock()
	s.flushUnpark()
	if len(dests) > 0 {
		s.notify()
	}
}

// releaseLocked frees one slot of each destination and queues some of the
// messages parked for it to come back. The caller holds s.mu and calls
// flushUnpark after releasing it.
func (s *Scheduler) releaseLocked(dests []string) {
	for _, dest := range dests {
		if s.active[dest]--; s.active[dest] <= 0 {
			delete(s.active, dest)
		}
		if r := s.refused[dest]; len(r) > 0 {
			k := min(len(r), unparkPerSlot)
			s.unparkQ = append(s.unparkQ, r[:k]...)
			if k == len(r) {
				delete(s.refused, dest)
			} else {
				s.refused[dest] = r[k:]
			}
		}
	}
}

// flushUnpark hands the queued IDs to the backend.
func (s *Scheduler) flushUnpark() {
	s.mu.Lock()
	ids := s.unparkQ
	s.unparkQ = nil
	s.mu.Unlock()
	if len(ids) > 0 {
		s.park.unpark(ids)
	}
}

// releaseClaim frees the slots of d's claim unless its lease already
// ended and expireSlots freed them.
func (s *Scheduler) releaseClaim(d *Delivery) {
	k := leaseKey{d.Envelope.ID, d.Envelope.Lease.Token}
	s.mu.Lock()
	sl, ok := s.leased[k]
	if ok {
		delete(s.leased, k)
		s.releaseLocked(sl.dests)
	}
	s.mu.Unlock()
	if ok {
		s.flushUnpark()
		s.notify()
	}
}

// expireSlots frees the slots of claims whose lease ended at now.
func (s *Scheduler) expireSlots(now time.Time) {
	s.mu.Lock()
	if len(s.leased) == 0 || now.Before(s.expiry) {
		s.mu.Unlock()
		return
	}
	var next time.Time
	for k, sl := range s.leased {
		if !now.Before(sl.until) {
			delete(s.leased, k)
			s.releaseLocked(sl.dests)
		} else if next.IsZero() || sl.until.Before(next) {
			next = sl.until
		}
	}
	s.expiry = next
	s.mu.Unlock()
	s.flushUnpark()
}
