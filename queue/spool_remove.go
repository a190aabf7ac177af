package queue

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
)

// Remove implements Queue. A message in its own file loses its data file
// first, so that an interruption between the two unlinks never brings back
// the original envelope; a message in a segment gets a record in the
// removal log, and the segment goes with its last message.
//
// Like Postfix, Remove does not fsync: it is called after delivery, and
// after a power failure a removed message may come back and be delivered
// a second time, but nothing is ever lost. An interrupted process (kill,
// panic) loses no removal: the kernel still has it.
func (s *Spool) Remove(ctx context.Context, id ID) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.inflight.Done()
	it, err := s.acquire(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	l := loc{it.seg, it.end, it.env}
	// The last live message of its segment goes with the segment: no
	// removal record to write.
	alone := l.seg != 0 && s.live[l.seg] == 1
	s.mu.Unlock()
	dropped := false
	err = s.inject("remove", string(id))
	switch {
	case err != nil:
	case l.seg == 0:
		err = os.Remove(s.path(string(id)))
	case alone && s.dropSegment(l.seg) == nil:
		dropped = true
	default:
		err = s.logRemoval(id, l.seg)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.release(it)
		return fmt.Errorf("queue: spool: removing %s: %w", id, err)
	}
	// The message is gone now: its data file or its entry in the
	// segment. Its envelope update alone does not bring it back; one that
	// cannot be deleted now is deleted by the next open.
	if l.env {
		err = s.inject("remove", string(id)+envSuffix)
		if err == nil {
			err = os.Remove(s.path(string(id) + envSuffix))
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("queue spool: removed message left its envelope update; the next open deletes it",
				slog.String("queue_id", string(id)), slog.Any("err", err))
		}
	}
	s.mu.Lock()
	it.busy = false
	s.forget(it)
	s.idx.remove(id)
	last := false
	if l.seg != 0 {
		if s.live[l.seg]--; s.live[l.seg] <= 0 {
			delete(s.live, l.seg)
			last = true
		}
	}
	s.mu.Unlock()
	s.cond.Broadcast()
	if last && !dropped {
		s.dropSegment(l.seg)
	}
	return nil
}

// dropSegment deletes a segment whose messages are all removed, or makes
// it a spare (spool_spare.go); the removal log forgets it. A failure leaves a segment that the next open
// deletes.
func (s *Spool) dropSegment(seq uint64) error {
	name := segName(seq)
	err := s.inject("remove", name)
	if err == nil && s.recycle(seq) {
		s.segmentGone(seq)
		return nil
	}
	if err == nil {
		err = os.Remove(s.path(name))
	}
	if err != nil {
		s.log.Error("queue spool: cannot remove an empty segment", slog.String("file", name), slog.Any("err", err))
		return err
	}
	s.segmentGone(seq)
	return nil
}
