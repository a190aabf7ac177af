package queue

import (
	"context"
	"log/slog"
	"time"
)

// Claim implements Queue. Envelopes are read from disk; a message whose
// files cannot be read is skipped (and logged), not handed out.
func (s *Spool) Claim(ctx context.Context, now time.Time, lease time.Duration, accept func(*Envelope) bool) (Envelope, error) {
	return s.claim(ctx, now, lease, accept, false)
}

func (s *Spool) claimPark(ctx context.Context, now time.Time, lease time.Duration, accept func(*Envelope) bool) (Envelope, error) {
	return s.claim(ctx, now, lease, accept, true)
}

func (s *Spool) unpark(ids []ID) {
	s.mu.Lock()
	s.idx.unpark(ids)
	s.mu.Unlock()
}

func (s *Spool) claim(ctx context.Context, now time.Time, lease time.Duration, accept func(*Envelope) bool, park bool) (Envelope, error) {
	if err := s.begin(ctx); err != nil {
		return Envelope{}, err
	}
	defer s.inflight.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idx.claim(now, lease, accept, func(id ID) (*Envelope, bool) {
		it := s.idx.items[id]
		if it.busy {
			return nil, false
		}
		if it.cache != nil {
			c := it.cache.Clone()
			return &c, true
		}
		e, err := s.load(id, loc{it.seg, it.end, it.env})
		if err != nil {
			s.log.Error("queue spool: cannot read message", slog.String("queue_id", string(id)), slog.Any("err", err))
			return nil, false
		}
		s.remember(it, e)
		return e, true
	}, park)
}
