package queue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/queue"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)         { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)

func newSched(t *testing.T, cfg queue.Config) (*queue.Scheduler, *clock) {
	t.Helper()
	c := &clock{t: t0}
	cfg.Now = c.Now
	return queue.NewScheduler(queue.NewMemory(), cfg), c
}

func store(t *testing.T, s *queue.Scheduler, sender string, rcpts ...string) queue.ID {
	t.Helper()
	e := &queue.Envelope{Sender: sender}
	for _, r := range rcpts {
		e.Recipients = append(e.Recipients, queue.Recipient{Address: r})
	}
	if err := s.Store(context.Background(), e, strings.NewReader("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatalf("Store: %v", err)
	}
	return e.ID
}

func claim(t *testing.T, s *queue.Scheduler) *queue.Delivery {
	t.Helper()
	d, err := s.Claim(context.Background())
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return d
}

func noClaim(t *testing.T, s *queue.Scheduler, why string) {
	t.Helper()
	if d, err := s.Claim(context.Background()); !errors.Is(err, queue.ErrEmpty) {
		id := queue.ID("")
		if d != nil {
			id = d.Envelope.ID
		}
		t.Fatalf("%s: Claim = %s, %v; want ErrEmpty", why, id, err)
	}
}

func deferAll(d *queue.Delivery, reason string) []queue.Outcome {
	var out []queue.Outcome
	for _, i := range d.Attempt {
		out = append(out, queue.Outcome{Recipient: i, State: queue.Deferred, Reason: reason})
	}
	return out
}

func done(t *testing.T, s *queue.Scheduler, d *queue.Delivery, o []queue.Outcome) queue.Report {
	t.Helper()
	r, err := s.Done(context.Background(), d, o)
	if err != nil {
		t.Fatalf("Done: %v", err)
	}
	return r
}

// secs is the time since t0 in whole seconds.
func secs(t time.Time) int64 { return int64(t.Sub(t0) / time.Second) }

// TestRetryCurve checks Postfix's backoff (minimal_backoff_time,
// maximal_backoff_time, as qmgr_active.c applies them) to the second:
// with the defaults a message that keeps being deferred is tried at 0,
// 300, 600, 1200, 2400, 4800, 8800 s, then every 4000 s, and never a
// second earlier.
func TestRetryCurve(t *testing.T) {
	s, c := newSched(t, queue.Config{})
	id := store(t, s, "a@example.org", "u@example.com")
	want := []int64{0, 300, 600, 1200, 2400, 4800, 8800, 12800, 16800, 20800}
	var got []int64
	for n, at := range want {
		if at > 0 {
			c.Set(t0.Add(time.Duration(at)*time.Second - time.Second))
			noClaim(t, s, fmt.Sprintf("one second before attempt %d", n+1))
		}
		c.Set(t0.Add(time.Duration(at) * time.Second))
		d := claim(t, s)
		got = append(got, secs(c.Now()))
		rep := done(t, s, d, deferAll(d, "451 4.3.0 later"))
		if rep.Final || len(rep.Expired) > 0 {
			t.Fatalf("attempt %d: message ended: %+v", n+1, rep)
		}
		if rep.Envelope.Attempts != n+1 {
			t.Errorf("Attempts = %d after %d attempts", rep.Envelope.Attempts, n+1)
		}
		if r := rep.Envelope.Recipients[0]; r.State != queue.Deferred || r.Reason != "451 4.3.0 later" || !r.Updated.Equal(c.Now()) {
			t.Errorf("recipient after deferral: %+v", r)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("attempts at %v s, want %v", got, want)
	}
	e, _ := s.Get(context.Background(), id)
	if secs(e.NextAttempt) != 24800 {
		t.Errorf("next attempt at %d s, want 24800", secs(e.NextAttempt))
	}
}

// TestBackoffClamp checks Backoff's clamp(age, minimal, maximal) with
// non-default bounds.
func TestBackoffClamp(t *testing.T) {
	s, _ := newSched(t, queue.Config{MinimalBackoff: 10 * time.Second, MaximalBackoff: time.Minute})
	for _, c := range []struct{ age, want time.Duration }{
		{0, 10 * time.Second}, {9 * time.Second, 10 * time.Second}, {30 * time.Second, 30 * time.Second},
		{time.Minute, time.Minute}, {time.Hour, time.Minute},
	} {
		if got := s.Backoff(c.age); got != c.want {
			t.Errorf("Backoff(%v) = %v, want %v", c.age, got, c.want)
		}
	}
}

func TestJitter(t *testing.T) {
	s, c := newSched(t, queue.Config{Jitter: 0.2, Rand: func() float64 { return 0.5 }})
	store(t, s, "a@example.org", "u@example.com")
	d := claim(t, s)
	rep := done(t, s, d, deferAll(d, "451"))
	if got := rep.NextAttempt.Sub(c.Now()); got != 330*time.Second {
		t.Errorf("backoff with jitter 0.2 at rand 0.5 = %v, want 330s", got)
	}
}

// runUntilEnd defers every attempt as soon as it is due and returns the
// time (s after t0) of the attempt that ended the message, and its report.
func runUntilEnd(t *testing.T, s *queue.Scheduler, c *clock) (int64, queue.Report) {
	t.Helper()
	for range 1000 {
		d := claim(t, s)
		rep := done(t, s, d, deferAll(d, "451 4.4.1 no answer"))
		if rep.Final {
			return secs(c.Now()), rep
		}
		c.Set(rep.NextAttempt)
	}
	t.Fatal("message never expired")
	return 0, queue.Report{}
}

// TestExpiry checks maximal_queue_lifetime and bounce_queue_lifetime: a
// recipient still deferred after the attempt at which its lifetime has run
// out is handed back as Expired, with its last reason, and the message is
// final.
func TestExpiry(t *testing.T) {
	t.Run("maximal_queue_lifetime 5d", func(t *testing.T) {
		s, c := newSched(t, queue.Config{})
		store(t, s, "a@example.org", "u@example.com", "v@example.com")
		// Attempts at 8800+4000k; the first at or after 432000 s is 432800.
		at, rep := runUntilEnd(t, s, c)
		if at != 432800 {
			t.Errorf("expired at attempt %d s, want 432800", at)
		}
		if !slices.Equal(rep.Expired, []int{0, 1}) {
			t.Errorf("Expired = %v, want [0 1]", rep.Expired)
		}
		if r := rep.Envelope.Recipients[1]; r.State != queue.Expired || r.Reason != "451 4.4.1 no answer" {
			t.Errorf("expired recipient %+v", r)
		}
		if !rep.NextAttempt.IsZero() {
			t.Errorf("final report has NextAttempt %v", rep.NextAttempt)
		}
	})
	t.Run("bounce_queue_lifetime for <>", func(t *testing.T) {
		s, c := newSched(t, queue.Config{Lifetimes: queue.Lifetimes{Bounce: 24 * time.Hour}})
		store(t, s, "", "u@example.com")
		if at, _ := runUntilEnd(t, s, c); at != 88800 {
			t.Errorf("null-sender mail expired at %d s, want 88800 (first attempt after 1d)", at)
		}
	})
	t.Run("bounce lifetime capped to maximal", func(t *testing.T) {
		s, c := newSched(t, queue.Config{Lifetimes: queue.Lifetimes{Maximal: 2 * time.Hour, Bounce: 24 * time.Hour}})
		store(t, s, "", "u@example.com")
		if at, _ := runUntilEnd(t, s, c); at != 8800 {
			t.Errorf("null-sender mail expired at %d s, want 8800 (first attempt after 2h)", at)
		}
	})
	t.Run("lifetime 0: a single attempt", func(t *testing.T) {
		s, _ := newSched(t, queue.Config{Lifetimes: queue.Lifetimes{Maximal: -1}})
		store(t, s, "a@example.org", "u@example.com")
		d := claim(t, s)
		rep := done(t, s, d, deferAll(d, "451"))
		if !rep.Final || !slices.Equal(rep.Expired, []int{0}) {
			t.Errorf("report after the single attempt: %+v", rep)
		}
	})
	t.Run("per-destination override", func(t *testing.T) {
		s, c := newSched(t, queue.Config{Domains: map[string]queue.Lifetimes{
			"backup.example": {Maximal: 20 * 24 * time.Hour},
		}})
		store(t, s, "a@example.org", "u@example.com", "w@Backup.Example")
		var expiredAt []int64
		for range 1000 {
			d := claim(t, s)
			rep := done(t, s, d, deferAll(d, "451"))
			for _, i := range rep.Expired {
				expiredAt = append(expiredAt, int64(i), secs(c.Now()))
			}
			if rep.Final {
				break
			}
			c.Set(rep.NextAttempt)
		}
		// 20 d = 1728000 s; first attempt at or after it: 8800+4000k = 1728800.
		if want := []int64{0, 432800, 1, 1728800}; !slices.Equal(expiredAt, want) {
			t.Errorf("(recipient, expiry time) = %v, want %v", expiredAt, want)
		}
		// Lifetimes reports the lifetimes that expired them.
		for k, rcpt := range []string{"u@example.com", "w@Backup.Example"} {
			at := time.Duration(expiredAt[2*k+1]) * time.Second
			if l := s.Lifetimes(rcpt).Maximal; at < l || at >= l+4000*time.Second {
				t.Errorf("%s expired at %v; Lifetimes says %v (first attempt at or after it)", rcpt, at, l)
			}
		}
	})
}

// TestDelayWarning checks delay_warning_time: off by default; when set,
// the still-deferred recipients are reported once.
func TestDelayWarning(t *testing.T) {
	s, c := newSched(t, queue.Config{})
	store(t, s, "a@example.org", "u@example.com")
	for range 30 {
		d := claim(t, s)
		if rep := done(t, s, d, deferAll(d, "451")); len(rep.DelayWarning) > 0 {
			t.Fatal("delay warning with delay_warning_time off")
		} else {
			c.Set(rep.NextAttempt)
		}
	}

	s, c = newSched(t, queue.Config{Lifetimes: queue.Lifetimes{DelayWarning: 4 * time.Hour}})
	store(t, s, "a@example.org", "u@example.com", "v@example.com")
	var warnedAt []int64
	for range 30 {
		d := claim(t, s)
		out := deferAll(d, "451")
		if secs(c.Now()) == 0 {
			out[1].State = queue.Delivered
		}
		rep := done(t, s, d, out)
		if len(rep.DelayWarning) > 0 {
			warnedAt = append(warnedAt, secs(c.Now()))
			if !slices.Equal(rep.DelayWarning, []int{0}) || !rep.Envelope.DelayWarned {
				t.Errorf("delay warning for %v (DelayWarned %v), want [0]", rep.DelayWarning, rep.Envelope.DelayWarned)
			}
		}
		c.Set(rep.NextAttempt)
	}
	// 4h = 14400 s; attempts at 12800, 16800: the warning comes at 16800.
	if !slices.Equal(warnedAt, []int64{16800}) {
		t.Errorf("delay warnings at %v s, want once at 16800", warnedAt)
	}
}

// TestOutcomes checks per-recipient outcomes, Final and Remove.
func TestOutcomes(t *testing.T) {
	ctx := context.Background()
	s, c := newSched(t, queue.Config{})
	id := store(t, s, "a@example.org", "d@example.com", "f@example.com", "r@example.com", "n@example.com")
	d := claim(t, s)
	if !slices.Equal(d.Attempt, []int{0, 1, 2, 3}) {
		t.Fatalf("Attempt = %v", d.Attempt)
	}
	rep := done(t, s, d, []queue.Outcome{
		{Recipient: 0, State: queue.Delivered, Reason: "250 2.0.0 ok"},
		{Recipient: 1, State: queue.Failed, Reason: "550 5.1.1 unknown \xff"},
		{Recipient: 2, State: queue.Deferred, Reason: "452 4.2.2 full"},
	})
	if !slices.Equal(rep.Delivered, []int{0}) || !slices.Equal(rep.Failed, []int{1}) || rep.Final {
		t.Errorf("report %+v", rep)
	}
	rs := rep.Envelope.Recipients
	if rs[1].Reason != "550 5.1.1 unknown \uFFFD" {
		t.Errorf("invalid UTF-8 reason kept as %q", rs[1].Reason)
	}
	if rs[3].State != queue.Deferred || rs[3].Reason != "no outcome reported" {
		t.Errorf("recipient without outcome: %+v", rs[3])
	}
	// The next attempt only tries the pending recipients.
	c.Set(rep.NextAttempt)
	d = claim(t, s)
	if !slices.Equal(d.Attempt, []int{2, 3}) {
		t.Errorf("second Attempt = %v, want [2 3]", d.Attempt)
	}
	if _, err := s.Done(ctx, d, []queue.Outcome{{Recipient: 0, State: queue.Delivered}}); err == nil {
		t.Error("Done accepted an outcome for a recipient not in Attempt")
	}
	if _, err := s.Done(ctx, d, []queue.Outcome{{Recipient: 2, State: queue.Expired}}); err == nil {
		t.Error("Done accepted an Expired outcome")
	}
	if _, err := s.Done(ctx, d, []queue.Outcome{{Recipient: 2, State: queue.Delivered}, {Recipient: 2, State: queue.Failed}}); err == nil {
		t.Error("Done accepted two outcomes for one recipient")
	}
	rep = done(t, s, d, []queue.Outcome{{Recipient: 2, State: queue.Delivered}, {Recipient: 3, State: queue.Delivered}})
	if !rep.Final || !slices.Equal(rep.Delivered, []int{2, 3}) {
		t.Fatalf("final report %+v", rep)
	}
	// A final message stays claimed until Remove (its worker bounces first).
	c.Advance(time.Minute)
	noClaim(t, s, "final message before Remove")
	if err := s.Remove(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Get after Remove: %v", err)
	}
}

// TestWorkerCrash: a worker that dies keeps its message only until the
// lease ends; then another worker gets it and the dead one's late Done
// fails with ErrLeaseLost. A worker dying between a final Done and Remove
// leaves a message with nothing to attempt.
func TestWorkerCrash(t *testing.T) {
	ctx := context.Background()
	s, c := newSched(t, queue.Config{Lease: 10 * time.Minute, Concurrency: 1})
	store(t, s, "a@example.org", "u@example.com")
	d1 := claim(t, s)
	c.Advance(10*time.Minute - time.Second)
	noClaim(t, s, "during the lease")
	c.Advance(time.Second)
	d2 := claim(t, s) // concurrency 1: the lost lease's slot must not count
	if d2.Envelope.ID != d1.Envelope.ID {
		t.Fatal("another message?")
	}
	if _, err := s.Done(ctx, d1, deferAll(d1, "451")); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("late Done = %v, want ErrLeaseLost", err)
	}
	if err := s.Remove(ctx, d1); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("late Remove = %v, want ErrLeaseLost", err)
	}
	rep := done(t, s, d2, []queue.Outcome{{Recipient: 0, State: queue.Failed, Reason: "550 no"}})
	if !rep.Final {
		t.Fatal("not final")
	}
	// d2's worker dies before Remove.
	c.Advance(10 * time.Minute)
	d3 := claim(t, s)
	if len(d3.Attempt) != 0 || !d3.Envelope.Final() || d3.Envelope.Recipients[0].State != queue.Failed {
		t.Errorf("reclaimed final message: Attempt %v, recipients %+v", d3.Attempt, d3.Envelope.Recipients)
	}
	if err := s.Remove(ctx, d3); err != nil {
		t.Error(err)
	}
}

// TestSuspension checks dead destinations (Postfix's qmgr_queue.c): after
// a site-level failure, other mail for the destination is deferred without
// an attempt until the mark expires (DeadTime, default
// minimal_backoff_time).
func TestSuspension(t *testing.T) {
	s, c := newSched(t, queue.Config{})
	a := store(t, s, "x@example.org", "u@dead.example")
	c.Advance(time.Second)
	b := store(t, s, "x@example.org", "v@dead.example")
	c.Advance(time.Second)
	mixed := store(t, s, "x@example.org", "w@Dead.Example", "z@alive.example")
	d := claim(t, s)
	if d.Envelope.ID != a {
		t.Fatal("due order")
	}
	done(t, s, d, []queue.Outcome{{Recipient: 0, State: queue.Deferred, Site: true,
		Reason: "connect to mx.dead.example[192.0.2.1]:25: Connection refused"}})
	if why, ok := s.Suspended("dead.example"); !ok || !strings.Contains(why, "Connection refused") {
		t.Errorf("Suspended = %q, %v", why, ok)
	}
	// b is deferred on the spot; Claim goes on to mixed, whose dead
	// recipient is left out of the attempt.
	d = claim(t, s)
	if d.Envelope.ID != mixed || !slices.Equal(d.Attempt, []int{1}) {
		t.Fatalf("Claim = %s attempt %v, want %s attempt [1]", d.Envelope.ID, d.Attempt, mixed)
	}
	eb, _ := s.Get(context.Background(), b)
	if r := eb.Recipients[0]; r.State != queue.Deferred || r.Reason != "delivery temporarily suspended: connect to mx.dead.example[192.0.2.1]:25: Connection refused" {
		t.Errorf("suspended message's recipient %+v", r)
	}
	if secs(eb.NextAttempt) != 302 {
		t.Errorf("suspended message next attempt %d s, want 302", secs(eb.NextAttempt))
	}
	rep := done(t, s, d, []queue.Outcome{{Recipient: 1, State: queue.Delivered}})
	if r := rep.Envelope.Recipients[0]; r.State != queue.Deferred || !strings.HasPrefix(r.Reason, "delivery temporarily suspended: ") {
		t.Errorf("dead recipient of the mixed message: %+v", r)
	}
	noClaim(t, s, "everything deferred")
	// The mark lasts DeadTime (300 s by default).
	c.Advance(299 * time.Second)
	if _, ok := s.Suspended("dead.example"); !ok {
		t.Error("suspension ended early")
	}
	c.Advance(time.Second)
	if _, ok := s.Suspended("dead.example"); ok {
		t.Error("suspension outlived DeadTime")
	}
	d = claim(t, s)
	if len(d.Attempt) != 1 {
		t.Errorf("after the mark expired: attempt %v", d.Attempt)
	}
}

// storeDest stores a message to one recipient with its recorded
// Recipient.Destination.
func storeDest(t *testing.T, s *queue.Scheduler, rcpt, dest string) queue.ID {
	t.Helper()
	e := &queue.Envelope{Sender: "x@example.org", Recipients: []queue.Recipient{{Address: rcpt, Destination: dest}}}
	if err := s.Store(context.Background(), e, strings.NewReader("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatalf("Store: %v", err)
	}
	return e.ID
}

// TestConcurrency checks the per-destination limit and the recorded
// Recipient.Destination: a.example and b.example were recorded with one
// next hop, so they share its limit; c.example has none recorded and
// counts against its domain.
func TestConcurrency(t *testing.T) {
	s, c := newSched(t, queue.Config{Concurrency: 2})
	var aIDs []queue.ID
	for range 3 {
		aIDs = append(aIDs, storeDest(t, s, "u@a.example", "smtp:[relay.example]"))
		c.Advance(time.Second)
	}
	bID := storeDest(t, s, "u@b.example", "smtp:[relay.example]")
	c.Advance(time.Second)
	other := store(t, s, "x@example.org", "u@c.example")
	d1, d2 := claim(t, s), claim(t, s)
	if d1.Envelope.ID != aIDs[0] || d2.Envelope.ID != aIDs[1] {
		t.Fatal("due order")
	}
	if d3 := claim(t, s); d3.Envelope.ID != other {
		t.Errorf("third claim %s, want %s (the relay at its limit)", d3.Envelope.ID, other)
	}
	noClaim(t, s, "the relay at its limit")
	done(t, s, d1, []queue.Outcome{{Recipient: 0, State: queue.Delivered}})
	if d := claim(t, s); d.Envelope.ID != aIDs[2] {
		t.Errorf("after a slot freed: %s, want %s", d.Envelope.ID, aIDs[2])
	}
	noClaim(t, s, "the relay at its limit again")
	done(t, s, d2, []queue.Outcome{{Recipient: 0, State: queue.Delivered}})
	if d := claim(t, s); d.Envelope.ID != bID {
		t.Errorf("after a slot freed: %s, want %s", d.Envelope.ID, bID)
	}
}

// TestRecordedDestinationSuspension: a site-level failure marks the
// recorded destination dead, not the recipient domain; mail for another
// domain recorded with that destination waits, mail for the same domain
// recorded with another destination goes ahead; Flush of a domain lifts
// the marks of the destinations its pending recipients recorded.
func TestRecordedDestinationSuspension(t *testing.T) {
	ctx := context.Background()
	s, c := newSched(t, queue.Config{})
	a := storeDest(t, s, "u@a.example", "relay:[mx.example]")
	c.Advance(time.Second)
	b := storeDest(t, s, "u@b.example", "relay:[mx.example]")
	c.Advance(time.Second)
	other := storeDest(t, s, "v@a.example", "smtp:a.example")
	d := claim(t, s)
	if d.Envelope.ID != a {
		t.Fatal("due order")
	}
	done(t, s, d, []queue.Outcome{{Recipient: 0, State: queue.Deferred, Site: true, Reason: "refused"}})
	if _, ok := s.Suspended("relay:[mx.example]"); !ok {
		t.Error("the recorded destination is not suspended")
	}
	if _, ok := s.Suspended("a.example"); ok {
		t.Error("the recipient domain was suspended instead of the recorded destination")
	}
	if d := claim(t, s); d.Envelope.ID != other || len(d.Attempt) != 1 {
		t.Errorf("Claim = %s attempt %v, want %s (b is deferred on the spot)", d.Envelope.ID, d.Attempt, other)
	}
	if eb, _ := s.Get(ctx, b); !strings.HasPrefix(eb.Recipients[0].Reason, "delivery temporarily suspended: ") {
		t.Errorf("b.example recorded with the dead destination: %+v", eb.Recipients[0])
	}
	if _, err := s.Flush(ctx, "b.example"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Suspended("relay:[mx.example]"); ok {
		t.Error("Flush of b.example left its recorded destination suspended")
	}
}

// TestLifetimes: Scheduler.Lifetimes reports what Done applies, with a
// per-domain override merged over the global lifetimes and the defaults.
func TestLifetimes(t *testing.T) {
	const day = 24 * time.Hour
	s, _ := newSched(t, queue.Config{
		Lifetimes: queue.Lifetimes{DelayWarning: 4 * time.Hour},
		Domains: map[string]queue.Lifetimes{
			"backup.example": {Maximal: 20 * day},
			"short.example":  {Maximal: 2 * day, Bounce: 3 * day},
			"once.example":   {Maximal: -1, DelayWarning: -1},
		},
	})
	for _, tc := range []struct {
		rcpt string
		want queue.Lifetimes
	}{
		{"u@backup.example", queue.Lifetimes{Maximal: 20 * day, Bounce: 5 * day, DelayWarning: 4 * time.Hour}},
		{"u@Backup.Example.", queue.Lifetimes{Maximal: 20 * day, Bounce: 5 * day, DelayWarning: 4 * time.Hour}},
		{"u@other.example", queue.Lifetimes{Maximal: 5 * day, Bounce: 5 * day, DelayWarning: 4 * time.Hour}},
		{"u@short.example", queue.Lifetimes{Maximal: 2 * day, Bounce: 2 * day, DelayWarning: 4 * time.Hour}},
		{"u@once.example", queue.Lifetimes{}},
		{"postmaster", queue.Lifetimes{Maximal: 5 * day, Bounce: 5 * day, DelayWarning: 4 * time.Hour}},
	} {
		if got := s.Lifetimes(tc.rcpt); got != tc.want {
			t.Errorf("Lifetimes(%q) = %+v, want %+v", tc.rcpt, got, tc.want)
		}
	}
	// The defaults alone are Postfix's.
	d, _ := newSched(t, queue.Config{})
	if got, want := d.Lifetimes("u@example.com"), (queue.Lifetimes{Maximal: 5 * day, Bounce: 5 * day}); got != want {
		t.Errorf("default Lifetimes = %+v, want %+v", got, want)
	}
}

// TestConcurrentWorkers runs many workers against one scheduler: every
// message is delivered exactly once, and the limit is never exceeded.
func TestConcurrentWorkers(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		s, _ := newSched(t, queue.Config{Concurrency: 3})
		concurrentWorkers(t, s)
	})
	t.Run("spool", func(t *testing.T) {
		sp := openSpool(t, t.TempDir())
		defer sp.Close()
		c := &clock{t: t0}
		concurrentWorkers(t, queue.NewScheduler(sp, queue.Config{Concurrency: 3, Now: c.Now}))
	})
}

func concurrentWorkers(t *testing.T, s *queue.Scheduler) {
	ctx := context.Background()
	const n = 300
	for i := range n {
		store(t, s, "x@example.org", fmt.Sprintf("u%d@d%d.example", i, i%4))
	}
	var mu sync.Mutex
	active := map[string]int{}
	delivered := map[queue.ID]int{}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				d, err := s.Claim(ctx)
				if errors.Is(err, queue.ErrEmpty) {
					mu.Lock()
					left := n - len(delivered)
					mu.Unlock()
					if left == 0 {
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				dest := queue.Domain(d.Envelope.Recipients[0].Address)
				mu.Lock()
				active[dest]++
				if active[dest] > 3 {
					t.Errorf("%d deliveries to %s at once", active[dest], dest)
				}
				delivered[d.Envelope.ID]++
				mu.Unlock()
				time.Sleep(50 * time.Microsecond)
				mu.Lock()
				active[dest]--
				mu.Unlock()
				rep, err := s.Done(ctx, d, []queue.Outcome{{Recipient: 0, State: queue.Delivered}})
				if err != nil || !rep.Final {
					t.Errorf("Done: %v %+v", err, rep)
					return
				}
				if err := s.Remove(ctx, d); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for id, k := range delivered {
		if k != 1 {
			t.Errorf("%s delivered %d times", id, k)
		}
	}
	if l, _ := s.List(ctx, queue.Filter{}); len(l) != 0 {
		t.Errorf("%d messages left", len(l))
	}
}

func ids(es []queue.Envelope) []queue.ID {
	var out []queue.ID
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

// TestInspection covers the mailq / postqueue / postsuper controls.
func TestInspection(t *testing.T) {
	ctx := context.Background()
	s, c := newSched(t, queue.Config{})
	m1 := store(t, s, "Alice@Example.org", "u@a.example", "v@b.example")
	c.Advance(time.Hour)
	m2 := store(t, s, "", "postmaster@b.example")
	c.Advance(time.Hour)
	m3 := store(t, s, "bob@example.org", "w@c.example")

	list := func(f queue.Filter) []queue.ID {
		t.Helper()
		l, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return ids(l)
	}
	check := func(what string, got []queue.ID, want ...queue.ID) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	check("all, oldest first", list(queue.Filter{}), m1, m2, m3)
	check("domain", list(queue.Filter{Domain: "B.example."}), m1, m2)
	check("sender", list(queue.Filter{Sender: "alice@example.ORG"}), m1)
	check("null sender", list(queue.Filter{Sender: "<>"}), m2)
	check("age", list(queue.Filter{MinAge: time.Hour}), m1, m2)
	check("incoming", list(queue.Filter{State: queue.Incoming}), m1, m2, m3)

	// m1: a.example delivered, b.example deferred.
	d := claim(t, s)
	check("active", list(queue.Filter{State: queue.Active}), m1)
	done(t, s, d, []queue.Outcome{{Recipient: 0, State: queue.Delivered}, {Recipient: 1, State: queue.Deferred, Reason: "451"}})
	check("waiting", list(queue.Filter{State: queue.Waiting}), m1)
	check("domain, pending only", list(queue.Filter{Domain: "a.example", Pending: true}))
	check("domain, any state", list(queue.Filter{Domain: "a.example"}), m1)

	// Hold and release (postsuper -h / -H).
	if err := s.Hold(ctx, m2); err != nil {
		t.Fatal(err)
	}
	check("hold", list(queue.Filter{State: queue.Hold}), m2)
	d = claim(t, s)
	if d.Envelope.ID != m3 {
		t.Errorf("claimed %s, want %s (m2 held)", d.Envelope.ID, m3)
	}
	done(t, s, d, deferAll(d, "451"))
	noClaim(t, s, "m2 held, others deferred")

	// Flush one destination (ETRN / postqueue -s): only m1 is due, and
	// the held m2 stays held.
	if n, err := s.Flush(ctx, "b.example"); err != nil || n != 1 {
		t.Errorf("Flush(b.example) = %d, %v; want 1", n, err)
	}
	if d := claim(t, s); d.Envelope.ID != m1 || !slices.Equal(d.Attempt, []int{1}) {
		t.Errorf("after flush: %s %v", d.Envelope.ID, d.Attempt)
	} else {
		done(t, s, d, deferAll(d, "451"))
	}
	noClaim(t, s, "after the flushed message")
	// Flush all (postqueue -f).
	if n, err := s.Flush(ctx, ""); err != nil || n != 2 {
		t.Errorf("Flush() = %d, %v; want 2", n, err)
	}
	if err := s.Release(ctx, m2); err != nil {
		t.Fatal(err)
	}
	var got []queue.ID
	for range 3 {
		d := claim(t, s)
		got = append(got, d.Envelope.ID)
		done(t, s, d, deferAll(d, "451"))
	}
	// m2 was due since its arrival; the flushed ones became due now.
	check("due after flush and release", got, m2, m1, m3)

	// Show one; delete (postsuper -d).
	e, err := s.Get(ctx, m3)
	if err != nil || e.Sender != "bob@example.org" {
		t.Errorf("Get: %v %v", e.Sender, err)
	}
	rc, err := s.Body(ctx, m3)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(rc)
	rc.Close()
	if buf.String() != "Subject: x\r\n\r\nhi\r\n" {
		t.Errorf("Body = %q", buf.String())
	}
	if err := s.Delete(ctx, m3); err != nil {
		t.Fatal(err)
	}
	check("after delete", list(queue.Filter{}), m1, m2)
	if err := s.Hold(ctx, m3); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Hold of a deleted message = %v", err)
	}
}

// TestFlushLiftsSuspension: ETRN for a dead destination tries it now.
func TestFlushLiftsSuspension(t *testing.T) {
	ctx := context.Background()
	s, _ := newSched(t, queue.Config{})
	store(t, s, "x@example.org", "u@dead.example")
	store(t, s, "x@example.org", "v@dead.example")
	d := claim(t, s)
	done(t, s, d, []queue.Outcome{{Recipient: 0, State: queue.Deferred, Site: true, Reason: "refused"}})
	noClaim(t, s, "suspended")
	if n, err := s.Flush(ctx, "dead.example"); err != nil || n != 2 {
		t.Errorf("Flush = %d, %v", n, err)
	}
	if _, ok := s.Suspended("dead.example"); ok {
		t.Error("Flush left the destination suspended")
	}
	if d := claim(t, s); len(d.Attempt) != 1 {
		t.Errorf("after Flush: attempt %v", d.Attempt)
	}
}

// TestNextWakes: Next returns when mail arrives, without waiting for Poll.
func TestNextWakes(t *testing.T) {
	s, _ := newSched(t, queue.Config{Poll: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan queue.ID, 1)
	go func() {
		d, err := s.Next(ctx)
		if err != nil {
			t.Error(err)
			got <- ""
			return
		}
		got <- d.Envelope.ID
	}()
	time.Sleep(10 * time.Millisecond)
	id := store(t, s, "x@example.org", "u@example.com")
	if g := <-got; g != id {
		t.Errorf("Next returned %q, want %s (woken by Store)", g, id)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := s.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with canceled context = %v", err)
	}
}

// TestStoreResets: Store sets Arrival, NextAttempt and Queued states.
func TestStoreResets(t *testing.T) {
	s, _ := newSched(t, queue.Config{})
	e := &queue.Envelope{Recipients: []queue.Recipient{{Address: "u@example.com", State: queue.Delivered, Reason: "x"}}, Attempts: 4, Held: true}
	if err := s.Store(context.Background(), e, strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	g, _ := s.Get(context.Background(), e.ID)
	if !g.Arrival.Equal(t0) || !g.NextAttempt.Equal(t0) || g.Recipients[0].State != queue.Queued || g.Attempts != 0 || !g.Held {
		t.Errorf("stored %+v", g)
	}
	// Stored held (policy HOLD): never claimable until released.
	noClaim(t, s, "a message stored held")
	if err := s.Release(context.Background(), e.ID); err != nil {
		t.Fatal(err)
	}
	if d := claim(t, s); d.Envelope.ID != e.ID {
		t.Errorf("claimed %s after Release; want %s", d.Envelope.ID, e.ID)
	}
	if err := s.Store(context.Background(), &queue.Envelope{}, strings.NewReader("")); err == nil {
		t.Error("Store without recipients succeeded")
	}
	if err := s.Store(context.Background(), &queue.Envelope{Recipients: []queue.Recipient{{Address: "u@example.com"}}}, nil); err == nil {
		t.Error("Store with a nil body succeeded")
	}
}

// TestSchedulerSpoolRestart: over the Spool, the retry schedule and the
// per-recipient state survive a restart; a claim held when the process
// stopped is gone, so the message is due at its NextAttempt.
func TestSchedulerSpoolRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := &clock{t: t0}
	sp := openSpool(t, dir)
	s := queue.NewScheduler(sp, queue.Config{Now: c.Now})
	a := store(t, s, "x@example.org", "u@a.example", "v@b.example")
	c.Advance(time.Second)
	b := store(t, s, "x@example.org", "w@a.example")
	d := claim(t, s)
	done(t, s, d, []queue.Outcome{{Recipient: 0, State: queue.Delivered}, {Recipient: 1, State: queue.Deferred, Reason: "451 later"}})
	if d := claim(t, s); d.Envelope.ID != b {
		t.Fatal("due order")
	} // b's worker "dies" with the process
	sp.Close()

	sp = openSpool(t, dir)
	defer sp.Close()
	s = queue.NewScheduler(sp, queue.Config{Now: c.Now})
	if d := claim(t, s); d.Envelope.ID != b || !slices.Equal(d.Attempt, []int{0}) {
		t.Errorf("after restart: %s %v, want %s (its claim died with the process)", d.Envelope.ID, d.Attempt, b)
	}
	noClaim(t, s, "a deferred until 301 s")
	c.Set(t0.Add(301 * time.Second))
	d = claim(t, s)
	if d.Envelope.ID != a || !slices.Equal(d.Attempt, []int{1}) || d.Envelope.Recipients[1].Reason != "451 later" || d.Envelope.Attempts != 1 {
		t.Errorf("after restart: %+v attempt %v", d.Envelope, d.Attempt)
	}
	rep := done(t, s, d, []queue.Outcome{{Recipient: 1, State: queue.Delivered}})
	if !rep.Final {
		t.Fatal("not final")
	}
	if err := s.Remove(ctx, d); err != nil {
		t.Fatal(err)
	}
}

// TestHeadOfLine: thousands of due messages for a destination at its
// concurrency limit do not keep mail for other destinations waiting, and
// they come back, in order, as slots free (Memory and Spool).
func TestHeadOfLine(t *testing.T) {
	for _, backend := range []string{"memory", "spool"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			c := &clock{t: t0}
			var q queue.Queue = queue.NewMemory()
			if backend == "spool" {
				sp := openSpool(t, t.TempDir())
				defer sp.Close()
				q = sp
			}
			s := queue.NewScheduler(q, queue.Config{Now: c.Now, Concurrency: 1})
			busy := make([]queue.ID, 3000)
			var wg sync.WaitGroup
			for w := range 16 { // concurrent Stores share fsyncs
				wg.Go(func() {
					for i := w; i < len(busy); i += 16 {
						e := &queue.Envelope{Recipients: []queue.Recipient{{Address: fmt.Sprintf("u%d@busy.example", i)}},
							Arrival: t0.Add(time.Duration(i) * time.Millisecond)}
						if err := s.Store(ctx, e, strings.NewReader("x")); err != nil {
							t.Error(err)
						}
						busy[i] = e.ID
					}
				})
			}
			wg.Wait()
			c.Advance(time.Second)
			free := store(t, s, "x@example.org", "v@free.example")
			d1 := claim(t, s)
			if d1.Envelope.ID != busy[0] {
				t.Fatal("due order")
			}
			// 2,999 refusals (three times the examination limit) before
			// the free destination's message.
			if d := claim(t, s); d.Envelope.ID != free {
				t.Fatalf("second claim %s, want the free destination's %s", d.Envelope.ID, free)
			} else {
				done(t, s, d, []queue.Outcome{{Recipient: 0, State: queue.Delivered}})
			}
			noClaim(t, s, "busy.example at its limit")
			// A slot frees: the next busy message in due order comes back.
			done(t, s, d1, []queue.Outcome{{Recipient: 0, State: queue.Delivered}})
			for k := 1; k <= 3; k++ {
				d := claim(t, s)
				if d.Envelope.ID != busy[k] {
					t.Fatalf("after a slot freed: %s, want %s", d.Envelope.ID, busy[k])
				}
				done(t, s, d, []queue.Outcome{{Recipient: 0, State: queue.Delivered}})
			}
			// A scheduler that went away leaves messages parked: they come
			// back after at most a minute.
			d := claim(t, s)                                 // busy[4], holds the slot forever
			noClaim(t, s, "busy.example at its limit again") // parks the rest
			s2 := queue.NewScheduler(q, queue.Config{Now: c.Now, Concurrency: 1})
			noClaim(t, s2, "parked by the first scheduler")
			c.Advance(time.Minute)
			if d2 := claim(t, s2); d2.Envelope.ID != busy[5] {
				t.Errorf("after the parking time: %s, want %s", d2.Envelope.ID, busy[5])
			}
			_ = d
		})
	}
}

// TestRenew: a worker that renews its lease keeps the message (and its
// concurrency slot) past the original lease; a late renewal fails.
func TestRenew(t *testing.T) {
	ctx := context.Background()
	s, c := newSched(t, queue.Config{Lease: 10 * time.Minute, Concurrency: 1})
	store(t, s, "x@example.org", "u@example.com")
	c.Advance(time.Second)
	store(t, s, "x@example.org", "v@example.com")
	d := claim(t, s)
	c.Advance(9 * time.Minute)
	if err := s.Renew(ctx, d); err != nil {
		t.Fatal(err)
	}
	if !d.Envelope.Lease.Until.Equal(c.Now().Add(10 * time.Minute)) {
		t.Errorf("renewed lease until %v", d.Envelope.Lease.Until)
	}
	c.Advance(5 * time.Minute) // past the original lease
	noClaim(t, s, "renewed lease, slot still held")
	done(t, s, d, []queue.Outcome{{Recipient: 0, State: queue.Delivered}})
	if err := s.Remove(ctx, d); err != nil {
		t.Fatal(err)
	}
	d2 := claim(t, s)
	c.Advance(10 * time.Minute)
	d3 := claim(t, s) // d2's lease ran out and the message changed hands
	if d3.Envelope.ID != d2.Envelope.ID {
		t.Fatal("another message?")
	}
	if err := s.Renew(ctx, d2); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("late Renew = %v, want ErrLeaseLost", err)
	}
}

// reentrantHandler is a slog.Handler that calls back into the Scheduler
// for every record.
type reentrantHandler struct{ probe func() }

func (h reentrantHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h reentrantHandler) Handle(context.Context, slog.Record) error {
	h.probe()
	return nil
}
func (h reentrantHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h reentrantHandler) WithGroup(string) slog.Handler      { return h }

// TestCallbacksOutsideLock: the Scheduler calls the caller's code
// (Config.Now, Rand, Logger) only without holding its mutex, so a
// callback that calls back into the Scheduler does not deadlock. Each
// callback here calls Suspended, which takes the mutex; the Scheduler
// itself looks nothing up while holding it.
func TestCallbacksOutsideLock(t *testing.T) {
	for _, backend := range []string{"memory", "spool"} {
		t.Run(backend, func(t *testing.T) {
			var s *queue.Scheduler
			var calls, depth atomic.Int32
			probe := func() {
				if depth.Add(1) == 1 && s != nil {
					calls.Add(1)
					s.Suspended("probe.example")
				}
				depth.Add(-1)
			}
			c := &clock{t: t0}
			var q queue.Queue = queue.NewMemory()
			if backend == "spool" {
				sp := openSpool(t, t.TempDir())
				t.Cleanup(func() { sp.Close() })
				q = sp
			}
			s = queue.NewScheduler(q, queue.Config{
				Concurrency: 1, Jitter: 0.5,
				Now:    func() time.Time { probe(); return c.Now() },
				Rand:   func() float64 { probe(); return 0.5 },
				Logger: slog.New(reentrantHandler{probe}),
			})
			finished := make(chan struct{})
			go func() {
				defer close(finished)
				ctx := context.Background()
				store(t, s, "x@example.org", "u@a.example", "v@b.example")
				c.Advance(time.Second)
				store(t, s, "x@example.org", "w@a.example")
				d, err := s.Claim(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Claim(ctx); !errors.Is(err, queue.ErrEmpty) {
					t.Errorf("second Claim = %v, want ErrEmpty (a.example at its limit)", err)
				}
				if err := s.Renew(ctx, d); err != nil {
					t.Error(err)
				}
				rep, err := s.Done(ctx, d, []queue.Outcome{{Recipient: 0, State: queue.Deferred, Site: true, Reason: "refused"},
					{Recipient: 1, State: queue.Failed, Reason: "550 no"}})
				if err != nil {
					t.Error(err)
					return
				}
				if err := s.MarkNotified(ctx, d, rep.Failed); err != nil {
					t.Error(err)
				}
				if _, ok := s.Suspended("a.example"); !ok {
					t.Error("a.example not suspended")
				}
				if _, err := s.List(ctx, queue.Filter{State: queue.Waiting}); err != nil {
					t.Error(err)
				}
				if _, err := s.Flush(ctx, "a.example"); err != nil {
					t.Error(err)
				}
				d, err = s.Claim(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if err := s.Hold(ctx, d.Envelope.ID); err != nil {
					t.Error(err)
				}
				if err := s.Release(ctx, d.Envelope.ID); err != nil {
					t.Error(err)
				}
			}()
			select {
			case <-finished:
			case <-time.After(20 * time.Second):
				t.Fatal("deadlock: a callback ran while the Scheduler held its mutex")
			}
			if calls.Load() == 0 {
				t.Error("the callbacks were never called")
			}
		})
	}
}
