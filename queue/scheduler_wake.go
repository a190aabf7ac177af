package queue

import (
	"context"
	"time"
)

// Waker is implemented by a backend that several processes share
// (package postgres), so that Next wakes when mail becomes claimable
// rather than at its next Config.Poll, which remains the fallback.
type Waker interface {
	// Wakeups delivers a value when mail may have become claimable
	// through another process (stored, flushed, released, a concurrency
	// slot freed, or given back when its claimer died). It returns the
	// same channel every time; a nil channel never wakes.
	Wakeups() <-chan struct{}
	// NextDue returns when the first message not held becomes due (its
	// NextAttempt, or the end of its lease), and false when there is
	// none: Next sleeps until then, not a whole Poll, when it is sooner.
	NextDue(ctx context.Context) (time.Time, bool, error)
}

// wakeups is the backend's Wakeups channel, or nil.
func wakeups(q Queue) <-chan struct{} {
	if w, ok := q.(Waker); ok {
		return w.Wakeups()
	}
	return nil
}

// pollWait is how long Next sleeps when nothing is claimable at now:
// Config.Poll, or less when a Waker backend says mail becomes due
// sooner. Mail due already but not claimable (its destination at its
// limit) waits for a wakeup or the poll.
func (s *Scheduler) pollWait(ctx context.Context, now time.Time) time.Duration {
	w, ok := s.q.(Waker)
	if !ok {
		return s.cfg.Poll
	}
	due, ok, err := w.NextDue(ctx)
	if err != nil || !ok || !due.After(now) {
		return s.cfg.Poll
	}
	return min(due.Sub(now), s.cfg.Poll)
}
