package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Lifetimes are the queue lifetimes of Postfix (rule Q3). In a Config a
// zero field means the default; a negative one means Postfix's 0 (a single
// attempt: a recipient still deferred after it expires).
type Lifetimes struct {
	// Maximal is how long a deferred recipient is retried before it is
	// returned as Expired. Default 5d, as Postfix maximal_queue_lifetime.
	Maximal time.Duration
	// Bounce is Maximal for mail from the null sender <>, capped to
	// Maximal. Default 5d, as Postfix bounce_queue_lifetime.
	Bounce time.Duration
	// DelayWarning is the age at which Done reports the still-deferred
	// recipients once, so the caller can send a "delayed" DSN. Default off
	// (negative or zero), as Postfix delay_warning_time = 0h.
	DelayWarning time.Duration
}

// Config tunes a Scheduler. The zero value gives Postfix 3.7's defaults.
type Config struct {
	// MinimalBackoff and MaximalBackoff clamp the time to the next attempt
	// (rule Q2). Defaults 300s and 4000s, as Postfix minimal_backoff_time
	// and maximal_backoff_time.
	MinimalBackoff time.Duration
	MaximalBackoff time.Duration
	// Jitter, between 0 and 1, adds up to that fraction of the backoff at
	// random, so that mail deferred together does not retry together.
	// Default 0: Postfix's exact curve.
	Jitter float64
	// Lifetimes are the queue lifetimes (defaults as Postfix, see Lifetimes).
	Lifetimes Lifetimes
	// Domains overrides Lifetimes per recipient domain (lower case, no
	// trailing dot); a zero field inherits from Lifetimes. A backup MX
	// typically keeps relayed mail 10 to 20 days. The map is read, never
	// written.
	Domains map[string]Lifetimes
	// Lease is how long a claimed message belongs to its worker before it
	// becomes due again (the worker is presumed dead). Default 30 minutes.
	Lease time.Duration
	// DeadTime is how long a destination stays suspended after a
	// site-level failure (rule Q5). Default MinimalBackoff: Postfix's mark
	// lasts at most minimal_backoff_time.
	DeadTime time.Duration
	// Concurrency caps the deliveries in progress per destination (a
	// recipient's Recipient.Destination, else its domain). Default 20, as
	// Postfix default_destination_concurrency_limit.
	Concurrency int
	// Poll is how often Next looks for due mail when nothing woke it.
	// Default 1s.
	Poll time.Duration
	// Now is the clock. Default time.Now. Tests inject a fake clock, or run
	// under testing/synctest (Next's waits use real timers).
	Now func() time.Time
	// Rand returns a number in [0,1) for Jitter. Default math/rand/v2.
	Rand func() float64
	// Logger receives one line per recorded attempt. Nil discards.
	Logger *slog.Logger
}

// Scheduler decides when queued mail is tried again, following Postfix's
// queue manager: it hands due messages to delivery workers (Claim, Next),
// records their per-recipient outcomes (Done), computes the backoff and the
// expiry, suspends dead destinations and caps concurrency per destination.
// It also offers the mailq/postqueue/postsuper controls (List, Flush, Hold,
// Release, Delete). It keeps no mail itself: everything durable is in the
// Queue. Several Schedulers must not share one Queue.
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
	dead    map[string]deadMark // suspended destinations
}

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

type deadMark struct {
	until  time.Time
	reason string
}

const (
	defaultMinBackoff  = 300 * time.Second
	defaultMaxBackoff  = 4000 * time.Second
	defaultLifetime    = 5 * 24 * time.Hour
	defaultLease       = 30 * time.Minute
	defaultConcurrency = 20
	defaultPoll        = time.Second
)

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
		active: make(map[string]int), leased: make(map[leaseKey]slots), dead: make(map[string]deadMark),
		refused: make(map[string][]ID)}
	s.park, _ = q.(parker)
	return s
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

// Queue returns the backend the Scheduler works on.
func (s *Scheduler) Queue() Queue { return s.q }

func (s *Scheduler) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Store queues a message: it sets Arrival (when zero) to now, NextAttempt
// (when zero) to Arrival, every recipient to Queued, and returns once the
// backend made it durable. Answer 250 to the client only after it returns
// nil. Workers blocked in Next are woken.
//
// env.Held is kept: a message stored held goes straight to the hold
// queue, as Postfix's HOLD action puts it there, and no worker can claim
// it before Release. Holding it after Store instead would leave a window
// in which it could be delivered.
func (s *Scheduler) Store(ctx context.Context, env *Envelope, body io.Reader) error {
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
		r.State, r.Reason, r.Updated, r.Notified = Queued, "", time.Time{}, false
	}
	env.Attempts, env.DelayWarned, env.Lease = 0, false, Lease{}
	if err := s.q.Store(ctx, env, body); err != nil {
		return err
	}
	s.notify()
	return nil
}

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
	dests     []string // concurrency slots held
}

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
	// Site marks a Deferred outcome as a failure of the destination
	// itself (no MX answered, connection refused, 421 at greeting): the
	// destination is suspended for Config.DeadTime (rule Q5).
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
}

// Claim hands out the first due message whose destinations are below
// their concurrency limit, or returns ErrEmpty. Recipients of suspended
// destinations are not in Attempt; a message with nothing but such
// recipients is deferred on the spot and Claim goes on to the next one.
func (s *Scheduler) Claim(ctx context.Context) (*Delivery, error) {
	for {
		now := s.cfg.Now()
		s.expireSlots(now)
		// A backend may call accept more than once with true (it retries
		// when another process took the message first), so every
		// reservation is kept and all but the claimed one released.
		var held []*Delivery
		accept := func(e *Envelope) bool {
			d := s.reserve(e, now)
			if d != nil {
				d.Envelope.ID = e.ID
				held = append(held, d)
			}
			return d != nil
		}
		var env Envelope
		var err error
		if s.park != nil {
			env, err = s.park.claimPark(ctx, now, s.cfg.Lease, accept)
		} else {
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
		// defer it without an attempt (rule Q5) and look further.
		if _, err := s.Done(ctx, d, nil); err != nil {
			return nil, err
		}
	}
}

// destination is the destination r counts against for concurrency and
// dead marks: the one recorded at store time, else its domain.
func destination(r *Recipient) string {
	if r.Destination != "" {
		return r.Destination
	}
	return Domain(r.Address)
}

// reserve decides whether e can be handed out now and takes its
// concurrency slots. It returns nil to refuse. It runs inside the
// backend's claim and under s.mu, so it only reads the envelope and the
// Scheduler's maps: no callback, no I/O.
func (s *Scheduler) reserve(e *Envelope, now time.Time) *Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := &Delivery{}
	for _, i := range e.Pending() {
		dest := destination(&e.Recipients[i])
		if m, ok := s.dead[dest]; ok {
			if now.Before(m.until) {
				d.suspended = append(d.suspended, i)
				d.reasons = append(d.reasons, "delivery temporarily suspended: "+m.reason)
				continue
			}
			delete(s.dead, dest)
		}
		d.Attempt = append(d.Attempt, i)
		if !slices.Contains(d.dests, dest) {
			if s.active[dest] >= s.cfg.Concurrency {
				if s.park != nil && len(s.refused[dest]) < maxRefused {
					s.refused[dest] = append(s.refused[dest], e.ID)
				}
				return nil
			}
			d.dests = append(d.dests, dest)
		}
	}
	for _, dest := range d.dests {
		s.active[dest]++
	}
	return d
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

// Next is Claim that waits: it returns the next due message, waking when a
// message is stored or flushed, a concurrency slot frees, or every
// Config.Poll, until ctx is done.
func (s *Scheduler) Next(ctx context.Context) (*Delivery, error) {
	t := time.NewTimer(s.cfg.Poll)
	defer t.Stop()
	for {
		d, err := s.Claim(ctx)
		if !errors.Is(err, ErrEmpty) {
			return d, err
		}
		t.Reset(s.cfg.Poll)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.wake:
		case <-t.C:
		}
	}
}

// Lifetimes returns the lifetimes Done applies to recipient (an address):
// the Config.Domains entry of its domain (Domain(recipient)) merged over
// Config.Lifetimes, with the defaults filled in. Unlike a Config's, the
// fields are the effective durations: Maximal and Bounce of 0 mean a
// single attempt (a negative configured lifetime, Postfix's 0), Bounce is
// capped to Maximal, and DelayWarning 0 means no delay warning. Bounce
// replaces Maximal for mail from the null sender <>. A caller quoting
// maximal_queue_lifetime to a sender (the Will-Retry-Until of a delay DSN,
// RFC 3464 section 2.3.9) should take it from here, so that a domain with
// a longer lifetime is quoted its own.
func (s *Scheduler) Lifetimes(recipient string) Lifetimes {
	return s.lifetimes(Domain(recipient))
}

// lifetimes resolves the lifetimes for one recipient domain.
func (s *Scheduler) lifetimes(domain string) Lifetimes {
	l := s.cfg.Lifetimes
	if o, ok := s.cfg.Domains[domain]; ok {
		l.Maximal = cmpOr(o.Maximal, l.Maximal)
		l.Bounce = cmpOr(o.Bounce, l.Bounce)
		l.DelayWarning = cmpOr(o.DelayWarning, l.DelayWarning)
	}
	maximal := lifetime(l.Maximal, defaultLifetime)
	return Lifetimes{
		Maximal:      maximal,
		Bounce:       min(lifetime(l.Bounce, defaultLifetime), maximal),
		DelayWarning: max(l.DelayWarning, 0),
	}
}

func cmpOr(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

func lifetime(v, def time.Duration) time.Duration {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Backoff returns the delay before the next attempt of a message that has
// been in the queue for age: clamp(age, MinimalBackoff, MaximalBackoff), as
// Postfix's qmgr (rule Q2), without jitter.
func (s *Scheduler) Backoff(age time.Duration) time.Duration {
	return min(max(age, s.cfg.MinimalBackoff), s.cfg.MaximalBackoff)
}

// Done records the outcome of a Delivery: each Outcome sets its
// recipient's state; recipients of Attempt without an Outcome are deferred
// ("no outcome reported"), those of suspended destinations are deferred
// with "delivery temporarily suspended". Then, if recipients remain
// deferred, the ones whose lifetime ran out become Expired (rule Q3) and the
// message is due again after the backoff (rule Q2). Done frees the
// delivery's concurrency slots and suspends destinations of Site outcomes.
// It returns ErrLeaseLost when the lease expired and another worker claimed
// the message.
func (s *Scheduler) Done(ctx context.Context, d *Delivery, outcomes []Outcome) (Report, error) {
	defer s.releaseClaim(d)
	now := s.cfg.Now().UTC()
	var rep Report
	var final Envelope
	err := s.q.Modify(ctx, d.Envelope.ID, func(e *Envelope) error {
		rep = Report{}
		if e.Lease.Token != d.Envelope.Lease.Token {
			return fmt.Errorf("%w: %s", ErrLeaseLost, e.ID)
		}
		set := func(i int, st State, reason string) {
			r := &e.Recipients[i]
			r.State, r.Reason, r.Updated, r.Notified = st, strings.ToValidUTF8(reason, "\uFFFD"), now, false
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
			done[o.Recipient] = true
			set(o.Recipient, o.State, o.Reason)
		}
		for _, i := range d.Attempt {
			if !done[i] {
				set(i, Deferred, "no outcome reported")
			}
		}
		for k, i := range d.suspended {
			set(i, Deferred, d.reasons[k])
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
				set(i, Expired, e.Recipients[i].Reason)
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
	marks := make(map[string]deadMark)
	for _, o := range outcomes {
		if o.Site && o.State == Deferred {
			marks[destination(&d.Envelope.Recipients[o.Recipient])] = deadMark{until: now.Add(s.cfg.DeadTime), reason: o.Reason}
		}
	}
	if len(marks) > 0 {
		s.mu.Lock()
		maps.Copy(s.dead, marks)
		s.mu.Unlock()
	}
	attrs := []slog.Attr{slog.String("queue_id", string(d.Envelope.ID)),
		slog.Int("delivered", len(rep.Delivered)), slog.Int("failed", len(rep.Failed)),
		slog.Int("expired", len(rep.Expired)), slog.Bool("final", rep.Final)}
	if !rep.NextAttempt.IsZero() {
		attrs = append(attrs, slog.Time("next", rep.NextAttempt))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "queue attempt", attrs...)
	return rep, nil
}

// Renew extends d's lease to Config.Lease from now, for a delivery that
// takes longer than expected (a large message to a slow next hop). It
// returns ErrLeaseLost when the lease already ended and another worker
// claimed the message.
func (s *Scheduler) Renew(ctx context.Context, d *Delivery) error {
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

// Remove deletes a message its worker finished with (Report.Final), after
// any bounce was queued. It returns ErrLeaseLost when the Delivery's lease
// is no longer the message's.
func (s *Scheduler) Remove(ctx context.Context, d *Delivery) error {
	e, err := s.q.Get(ctx, d.Envelope.ID)
	if err != nil {
		return err
	}
	if e.Lease.Token != d.Envelope.Lease.Token {
		return fmt.Errorf("%w: %s", ErrLeaseLost, e.ID)
	}
	return s.q.Remove(ctx, d.Envelope.ID)
}

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
func (s *Scheduler) Get(ctx context.Context, id ID) (Envelope, error) { return s.q.Get(ctx, id) }

// Body opens one message's body.
func (s *Scheduler) Body(ctx context.Context, id ID) (io.ReadCloser, error) { return s.q.Body(ctx, id) }

// Flush makes deferred mail due now (postqueue -f), or with a domain only
// the messages with a pending recipient in that domain (postqueue -s, for
// ETRN), and lifts the suspension of the destinations concerned. Held
// messages stay held. It returns how many messages it made due.
func (s *Scheduler) Flush(ctx context.Context, domain string) (int, error) {
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
	s.mu.Lock()
	for _, dest := range dests {
		delete(s.dead, dest)
	}
	s.mu.Unlock()
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

var errUnchanged = errors.New("unchanged")

// Hold keeps a message out of delivery until Release (postsuper -h).
func (s *Scheduler) Hold(ctx context.Context, id ID) error {
	return s.q.Modify(ctx, id, func(e *Envelope) error { e.Held = true; return nil })
}

// Release undoes Hold (postsuper -H); the message is due at once.
func (s *Scheduler) Release(ctx context.Context, id ID) error {
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
func (s *Scheduler) Delete(ctx context.Context, id ID) error { return s.q.Remove(ctx, id) }

// Suspended reports whether a destination is suspended now, and why. dest
// is a destination as recipients record it in Recipient.Destination
// ("relay:[mx.example]"), or the lower-cased domain of recipients that
// record none.
func (s *Scheduler) Suspended(dest string) (reason string, ok bool) {
	now := s.cfg.Now() // a caller's clock: not called under s.mu
	s.mu.Lock()
	m, ok := s.dead[dest]
	s.mu.Unlock()
	if !ok || !now.Before(m.until) {
		return "", false
	}
	return m.reason, true
}
