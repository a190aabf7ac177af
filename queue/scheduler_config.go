package queue

import (
	"log/slog"
	"strings"
	"time"
)

// Lifetimes are the queue lifetimes of Postfix: maximal_queue_lifetime,
// bounce_queue_lifetime and delay_warning_time, applied after each attempt
// as Postfix's qmgr_active.c applies them. In a Config a
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
	// (see Backoff). Defaults 300s and 4000s, as Postfix
	// minimal_backoff_time and maximal_backoff_time.
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
	// site-level failure (Outcome.Site), as Postfix's queue manager marks
	// a destination dead (qmgr_queue_throttle in qmgr_queue.c). Default
	// MinimalBackoff: Postfix's mark lasts at most minimal_backoff_time.
	DeadTime time.Duration
	// Concurrency caps the deliveries in progress per destination (a
	// recipient's Recipient.Destination, else its domain). Default 20, as
	// Postfix default_destination_concurrency_limit.
	Concurrency int
	// Transports are limits of their own for the destinations of a
	// transport, by transport name: the part of a Destination before its
	// first ":" ("smtp-amavis" of "smtp-amavis:[127.0.0.1]:10024"). Nil:
	// Concurrency for every destination, no transport-wide cap. The map
	// is read, never written.
	Transports map[string]TransportLimits
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
	// Requeued, when set, edits the envelope of a message that Requeue
	// (postsuper -r) makes due, in the same update: Postfix's postsuper
	// -r sends the message through pickup and cleanup again, which drop
	// its content filter and give it the current one (package relay sets
	// Envelope.Filter and the recipients' Destination). It runs while the
	// backend updates the message: it must be quick and do no I/O.
	Requeued func(*Envelope)
	// Suspended, when set, is called with the Report of a message that
	// Next deferred without handing it out, because every pending
	// recipient waits for a suspended destination (Report.Suspended lists
	// them), so that the caller can log their status as Postfix logs
	// "status=deferred (delivery temporarily suspended: ...)". It runs on
	// Next's goroutine: it must be quick.
	Suspended func(Report)
}

// TransportLimits are the concurrency limits of one transport, as
// Postfix's queue manager applies them (qmgr_transport.c,
// qmgr_queue.c).
type TransportLimits struct {
	// Concurrency caps the deliveries in progress per destination of the
	// transport, as Postfix's TRANSPORT_destination_concurrency_limit.
	// Zero: Config.Concurrency.
	Concurrency int
	// Processes caps the deliveries in progress through the transport,
	// over all its destinations, as the process limit (maxproc) of its
	// master.cf service caps Postfix's: a message counts once however
	// many of its destinations use the transport. Zero: no cap of its
	// own.
	Processes int
}

// transportSlot is the concurrency slot of a transport's process limit:
// no destination starts with ":" (a Destination starts with its
// transport name, a domain with a letter or digit).
func transportSlot(transport string) string { return ":" + transport }

// limit returns the concurrency limit of a slot: a destination's, or a
// transport's process limit (transportSlot).
func (s *Scheduler) limit(slot string) int {
	if t, ok := strings.CutPrefix(slot, ":"); ok {
		return s.cfg.Transports[t].Processes
	}
	if t, _, ok := strings.Cut(slot, ":"); ok {
		if n := s.cfg.Transports[t].Concurrency; n > 0 {
			return n
		}
	}
	return s.cfg.Concurrency
}

const (
	defaultMinBackoff  = 300 * time.Second
	defaultMaxBackoff  = 4000 * time.Second
	defaultLifetime    = 5 * 24 * time.Hour
	defaultLease       = 30 * time.Minute
	defaultConcurrency = 20
	defaultPoll        = time.Second
)

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
	return s.orDefaults().lifetimes(Domain(recipient))
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
// Postfix's queue manager computes it from minimal_backoff_time and
// maximal_backoff_time (qmgr_active.c), without jitter.
func (s *Scheduler) Backoff(age time.Duration) time.Duration {
	s = s.orDefaults()
	return min(max(age, s.cfg.MinimalBackoff), s.cfg.MaximalBackoff)
}
