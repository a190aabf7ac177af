package queue

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"
)

// MessageState is the queue a message would be listed in by mailq.
type MessageState uint8

// Message states for Filter.
const (
	AnyState MessageState = iota
	Incoming              // not tried yet
	Active                // claimed by a worker (live lease)
	Waiting               // tried and deferred, waiting for its next attempt (mailq's deferred queue)
	Hold                  // held (postsuper -h)
)

// StateOf returns the MessageState of e at now.
func StateOf(e *Envelope, now time.Time) MessageState {
	switch {
	case e.Held:
		return Hold
	case e.Lease.Live(now):
		return Active
	case e.Attempts > 0:
		return Waiting
	}
	return Incoming
}

// Filter selects messages for List. Zero fields match everything.
type Filter struct {
	// Domain matches messages with a recipient in that domain
	// (case-insensitive); with Pending only pending recipients count.
	Domain string
	// Pending restricts Domain to recipients still pending.
	Pending bool
	// Sender matches the sender address (case-insensitive); "<>" matches
	// the null sender.
	Sender string
	// MinAge matches messages at least that old.
	MinAge time.Duration
	// State matches one MessageState.
	State MessageState
}

// Match reports whether f selects e at now.
func (f *Filter) Match(e *Envelope, now time.Time) bool {
	if f.Sender != "" {
		if f.Sender == "<>" {
			if e.Sender != "" {
				return false
			}
		} else if !strings.EqualFold(f.Sender, e.Sender) {
			return false
		}
	}
	if f.MinAge > 0 && now.Sub(e.Arrival) < f.MinAge {
		return false
	}
	if f.State != AnyState && StateOf(e, now) != f.State {
		return false
	}
	if f.Domain != "" {
		want := strings.ToLower(strings.TrimSuffix(f.Domain, "."))
		return slices.ContainsFunc(e.Recipients, func(r Recipient) bool {
			return (!f.Pending || r.State.Pending()) && Domain(r.Address) == want
		})
	}
	return true
}

// List returns the messages f selects, oldest first (mailq).
func (s *Scheduler) List(ctx context.Context, f Filter) ([]Envelope, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var out []Envelope
	err := s.q.Walk(ctx, func(e *Envelope) error {
		if f.Match(e, now) {
			out = append(out, e.Clone())
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Envelope) int {
		if c := a.Arrival.Compare(b.Arrival); c != 0 {
			return c
		}
		return strings.Compare(string(a.ID), string(b.ID))
	})
	return out, err
}

// Get returns one message's envelope (postcat -e).
func (s *Scheduler) Get(ctx context.Context, id ID) (Envelope, error) {
	if err := s.check(); err != nil {
		return Envelope{}, err
	}
	return s.q.Get(ctx, id)
}

// Body opens one message's body.
func (s *Scheduler) Body(ctx context.Context, id ID) (io.ReadCloser, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.q.Body(ctx, id)
}

// Flush makes deferred mail due now (postqueue -f), or with a domain only
// the messages with a pending recipient in that domain (postqueue -s, for
// ETRN), and lifts the suspension of the destinations concerned. Held
// messages stay held. It returns how many messages it made due.
func (s *Scheduler) Flush(ctx context.Context, domain string) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	now := s.cfg.Now().UTC()
	f := Filter{Domain: domain, Pending: true}
	var ids []ID
	var dests []string
	err := s.q.Walk(ctx, func(e *Envelope) error {
		if e.Final() || !f.Match(e, now) {
			return nil
		}
		if !e.Held {
			ids = append(ids, e.ID)
		}
		for _, i := range e.Pending() {
			if r := &e.Recipients[i]; domain == "" || Domain(r.Address) == Domain("@"+domain) {
				dests = append(dests, destination(r))
			}
		}
		return nil
	})
	s.liftDead(ctx, dests)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		err := s.q.Modify(ctx, id, func(e *Envelope) error {
			if e.Held || e.Final() || !e.NextAttempt.After(now) {
				return errUnchanged
			}
			e.NextAttempt = now
			return nil
		})
		switch {
		case err == nil:
			n++
		case errors.Is(err, errUnchanged) || errors.Is(err, ErrNotFound):
		default:
			return n, err
		}
	}
	s.notify()
	return n, nil
}

// Hold keeps a message out of delivery until Release (postsuper -h).
func (s *Scheduler) Hold(ctx context.Context, id ID) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.q.Modify(ctx, id, func(e *Envelope) error { e.Held = true; return nil })
}

// Release undoes Hold (postsuper -H); the message is due at once.
func (s *Scheduler) Release(ctx context.Context, id ID) error {
	if err := s.check(); err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	err := s.q.Modify(ctx, id, func(e *Envelope) error {
		e.Held = false
		if e.NextAttempt.After(now) {
			e.NextAttempt = now
		}
		return nil
	})
	s.notify()
	return err
}

// Delete removes a message without bouncing it (postsuper -d).
func (s *Scheduler) Delete(ctx context.Context, id ID) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.q.Remove(ctx, id)
}

// Suspended reports whether a destination is suspended now, and why. dest
// is a destination as recipients record it in Recipient.Destination
// ("relay:[mx.example]"), or the lower-cased domain of recipients that
// record none.
func (s *Scheduler) Suspended(dest string) (reason string, ok bool) {
	if s.check() != nil {
		return "", false
	}
	now := s.cfg.Now() // a caller's clock: not called under s.mu
	s.mu.Lock()
	m, ok := s.dead[dest]
	s.mu.Unlock()
	if !ok || !now.Before(m.Until) {
		return "", false
	}
	return m.Reason, true
}

// Kick makes one deferred message due now (postqueue -i); a held
// message stays held. It lifts the suspension of the message's
// destinations, as Flush does.
func (s *Scheduler) Kick(ctx context.Context, id ID) error {
	return s.makeDue(ctx, id, false)
}

// Requeue makes one message due now, releasing it when held, and lifts
// the suspension of its destinations (postsuper -r). Its routes are
// looked up again at delivery, as they always are, and Config.Requeued,
// when set, edits its envelope (its content filter) in the same update.
func (s *Scheduler) Requeue(ctx context.Context, id ID) error {
	return s.makeDue(ctx, id, true)
}

func (s *Scheduler) makeDue(ctx context.Context, id ID, release bool) error {
	if err := s.check(); err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	var dests []string
	err := s.q.Modify(ctx, id, func(e *Envelope) error {
		dests = dests[:0]
		for _, i := range e.Pending() {
			dests = append(dests, destination(&e.Recipients[i]))
		}
		changed := release && e.Held
		if release {
			e.Held = false
			if s.cfg.Requeued != nil && !e.Final() {
				before := e.Clone()
				s.cfg.Requeued(e)
				changed = changed || e.Filter != before.Filter || !slices.Equal(e.Recipients, before.Recipients)
			}
		}
		if !e.Held && !e.Final() && e.NextAttempt.After(now) {
			e.NextAttempt, changed = now, true
		}
		if !changed {
			return errUnchanged
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		err = nil
	}
	if err != nil {
		return err
	}
	s.liftDead(ctx, dests)
	s.notify()
	return nil
}
