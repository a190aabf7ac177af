package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Scheduler decides when queued mail is tried again, following Postfix's
// queue manager: it hands due messages to delivery workers (Claim, Next),
// records their per-recipient outcomes (Done), computes the backoff and the
// expiry, suspends dead destinations and caps concurrency per destination.
// It also offers the mailq/postqueue/postsuper controls (List, Flush, Hold,
// Release, Delete). It keeps no mail itself: everything durable is in the
// Queue. Several Schedulers must not share one Queue.
//
// Make one with NewScheduler. The zero Scheduler has no Queue: its methods
// return ErrNoScheduler (Lifetimes and Backoff answer with the defaults,
// Suspended with false), never a nil-pointer panic.
type Scheduler struct {
	q    Queue
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	// mu guards the maps below and nothing else: no callback of the
	// caller's (Config.Now, Rand, Logger) and no I/O runs while it is
	// held, and it is never held while calling the Queue (the Queue calls
	// reserve, which takes it, inside Claim).
	mu     sync.Mutex
	active map[string]int     // deliveries in progress per destination
	leased map[leaseKey]slots // concurrency slots held per claim
	// With a backend that parks refused messages (Memory, Spool):
	park    parker
	refused map[string][]ID     // parked for a destination at its limit, oldest first
	unparkQ []ID                // to unpark once s.mu is released
	expiry  time.Time           // no lease in leased ends before this
	dead    map[string]DeadMark // suspended destinations
	// With a Shared backend:
	shared Shared
	deadAt time.Time // when dead was read from the backend
}

// NewScheduler returns a Scheduler over q.
func NewScheduler(q Queue, cfg Config) *Scheduler {
	c := cfg
	if c.MinimalBackoff <= 0 {
		c.MinimalBackoff = defaultMinBackoff
	}
	if c.MaximalBackoff <= 0 {
		c.MaximalBackoff = defaultMaxBackoff
	}
	c.MaximalBackoff = max(c.MaximalBackoff, c.MinimalBackoff)
	c.Jitter = min(max(c.Jitter, 0), 1)
	if c.Lease <= 0 {
		c.Lease = defaultLease
	}
	if c.DeadTime <= 0 {
		c.DeadTime = c.MinimalBackoff
	}
	if c.Concurrency <= 0 {
		c.Concurrency = defaultConcurrency
	}
	if c.Poll <= 0 {
		c.Poll = defaultPoll
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{q: q, cfg: c, log: log, wake: make(chan struct{}, 1),
		active: make(map[string]int), leased: make(map[leaseKey]slots), dead: make(map[string]DeadMark),
		refused: make(map[string][]ID)}
	s.park, _ = q.(parker)
	s.shared, _ = q.(Shared)
	return s
}

// Queue returns the backend the Scheduler works on (nil for a zero or nil
// Scheduler).
func (s *Scheduler) Queue() Queue {
	if s == nil {
		return nil
	}
	return s.q
}

// ErrNoScheduler is returned by the methods of a Scheduler that was not
// made by NewScheduler (the zero Scheduler, or a nil one): it has no Queue
// to work on.
var ErrNoScheduler = errors.New("queue: Scheduler has no queue: make it with queue.NewScheduler(q, cfg), not as a zero value")

// check refuses a Scheduler not made by NewScheduler.
func (s *Scheduler) check() error {
	if s == nil || s.q == nil || s.wake == nil {
		return ErrNoScheduler
	}
	return nil
}

// orDefaults is s, or, for a Scheduler not made by NewScheduler, one
// with the default configuration, so that the methods that return no
// error still answer sensibly.
func (s *Scheduler) orDefaults() *Scheduler {
	if s.check() != nil {
		return NewScheduler(nil, Config{})
	}
	return s
}

func (s *Scheduler) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Store queues a message: it sets Arrival (when zero) to now, NextAttempt
// (when zero) to Arrival, every recipient to Queued (keeping its
// Destination and DSN parameters), and returns once the backend made it
// durable. Answer 250 to the client only after it returns
// nil. Workers blocked in Next are woken.
//
// env.Held is kept: a message stored held goes straight to the hold
// queue, as Postfix's HOLD action puts it there, and no worker can claim
// it before Release. Holding it after Store instead would leave a window
// in which it could be delivered.
func (s *Scheduler) Store(ctx context.Context, env *Envelope, body io.Reader) error {
	if err := s.check(); err != nil {
		return err
	}
	if len(env.Recipients) == 0 {
		return errors.New("queue: message has no recipients")
	}
	if body == nil {
		return errNilBody
	}
	if env.Arrival.IsZero() {
		env.Arrival = s.cfg.Now().UTC()
	}
	if env.NextAttempt.IsZero() {
		env.NextAttempt = env.Arrival
	}
	for i := range env.Recipients {
		r := &env.Recipients[i]
		r.State, r.Reason, r.Status, r.Updated, r.Notified = Queued, "", "", time.Time{}, false
	}
	env.Attempts, env.DelayWarned, env.Lease = 0, false, Lease{}
	if err := s.q.Store(ctx, env, body); err != nil {
		return err
	}
	s.notify()
	return nil
}

// Next is Claim that waits: it returns the next due message, waking when a
// message is stored or flushed, a concurrency slot frees, the backend
// reports mail from another process or the next message's due time comes
// (Waker), or every Config.Poll, until ctx is done.
func (s *Scheduler) Next(ctx context.Context) (*Delivery, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	t := time.NewTimer(s.cfg.Poll)
	defer t.Stop()
	remote := wakeups(s.q)
	for {
		d, err := s.Claim(ctx)
		if err == nil {
			// One wakeup may stand for many messages: pass it on, so
			// that another idle worker looks too.
			s.notify()
		}
		if !errors.Is(err, ErrEmpty) {
			return d, err
		}
		t.Reset(s.pollWait(ctx, s.cfg.Now()))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.wake:
		case <-remote:
		case <-t.C:
		}
	}
}

// Renew extends d's lease to Config.Lease from now, for a delivery that
// takes longer than expected (a large message to a slow next hop). It
// returns ErrLeaseLost when the lease already ended and another worker
// claimed the message.
func (s *Scheduler) Renew(ctx context.Context, d *Delivery) error {
	if err := s.check(); err != nil {
		return err
	}
	until := s.cfg.Now().Add(s.cfg.Lease)
	err := s.q.Modify(ctx, d.Envelope.ID, func(e *Envelope) error {
		if e.Lease.Token != d.Envelope.Lease.Token {
			return fmt.Errorf("%w: %s", ErrLeaseLost, e.ID)
		}
		e.Lease.Until = until
		return nil
	})
	if err != nil {
		return err
	}
	k := leaseKey{d.Envelope.ID, d.Envelope.Lease.Token}
	s.mu.Lock()
	if sl, ok := s.leased[k]; ok {
		sl.until = until
		s.leased[k] = sl
	}
	s.mu.Unlock()
	d.Envelope.Lease.Until = until
	return nil
}

// Remove deletes a message its worker finished with (Report.Final), after
// any bounce was queued. It returns ErrLeaseLost when the Delivery's lease
// is no longer the message's.
func (s *Scheduler) Remove(ctx context.Context, d *Delivery) error {
	if err := s.check(); err != nil {
		return err
	}
	e, err := s.q.Get(ctx, d.Envelope.ID)
	if err != nil {
		return err
	}
	if e.Lease.Token != d.Envelope.Lease.Token {
		return fmt.Errorf("%w: %s", ErrLeaseLost, e.ID)
	}
	return s.q.Remove(ctx, d.Envelope.ID)
}
