package queue

import (
	"context"
	"log/slog"
	"time"
)

// DeadMark suspends a destination after a site-level failure
// (Outcome.Site), as Postfix's queue manager marks a destination dead.
type DeadMark struct {
	// Until is when the suspension ends. A zero Until in Shared.SetDead
	// lifts the mark.
	Until time.Time
	// Reason is the failure that suspended it; Status its enhanced
	// status code.
	Reason, Status string
}

// Shared is implemented by a backend that several Schedulers, in several
// processes, share (package postgres): it holds their scheduling state,
// so that it applies to the cluster rather than to each process. Without
// it each Scheduler keeps its own, and N processes on one queue allow N
// times Config.Concurrency per destination.
type Shared interface {
	// ClaimSlots is Queue.Claim where accept also returns the
	// destinations whose concurrency slot the claim takes. The backend
	// takes them in the same transaction as the lease, counting the
	// slots of the live claims of every Scheduler, and passes over a
	// message one of whose destinations d has limit(d) of them already
	// (Config.Concurrency, or a transport's limit: Config.Transports;
	// a slot may also be a transport's process limit). A
	// slot is held until its claim ends: Modify gives the message another
	// lease token (Done), Remove, or the lease ends. When accept refuses
	// a message (ok false), the destinations it returns are at their
	// limit in this process: the backend may pass over their other
	// messages for the rest of the claim.
	ClaimSlots(ctx context.Context, now time.Time, lease time.Duration, limit func(dest string) int, accept func(*Envelope) ([]string, bool)) (Envelope, error)
	// SetDead records dead-destination marks for every Scheduler; a mark
	// with a zero Until lifts the destination's mark.
	SetDead(ctx context.Context, marks map[string]DeadMark) error
	// DeadMarks returns the marks that last beyond now.
	DeadMarks(ctx context.Context, now time.Time) (map[string]DeadMark, error)
}

// deadRefresh is how often a Scheduler on a Shared backend without dead
// marks reads the cluster's: a destination another process found dead
// is suspended here within it.
const deadRefresh = time.Second

// refreshDead replaces the dead marks with the cluster's when they are
// older than deadRefresh. A failure keeps the marks it has.
func (s *Scheduler) refreshDead(ctx context.Context, now time.Time) {
	s.mu.Lock()
	// While marks are held they are read at every claim: a mark lifted
	// elsewhere (a flush) must not defer mail here once more.
	stale := len(s.dead) > 0 || !now.Before(s.deadAt.Add(deadRefresh)) || now.Before(s.deadAt)
	if stale {
		s.deadAt = now
	}
	s.mu.Unlock()
	if !stale {
		return
	}
	marks, err := s.shared.DeadMarks(ctx, now)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "queue: reading the shared dead-destination marks", slog.Any("err", err))
		return
	}
	s.mu.Lock()
	s.dead = marks
	s.mu.Unlock()
}

// shareDead records marks for the cluster; a failure is logged (the marks
// still hold in this process).
func (s *Scheduler) shareDead(ctx context.Context, marks map[string]DeadMark) {
	if s.shared == nil || len(marks) == 0 {
		return
	}
	if err := s.shared.SetDead(ctx, marks); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "queue: recording dead-destination marks for the cluster", slog.Any("err", err))
	}
}

// liftDead lifts the marks of dests here and, with a Shared backend, for
// the cluster (Flush, Kick, Requeue).
func (s *Scheduler) liftDead(ctx context.Context, dests []string) {
	lift := make(map[string]DeadMark, len(dests))
	s.mu.Lock()
	for _, d := range dests {
		delete(s.dead, d)
		lift[d] = DeadMark{}
	}
	s.mu.Unlock()
	s.shareDead(ctx, lift)
}
