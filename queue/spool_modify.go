package queue

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// acquire marks id busy (waiting while another Modify or Remove has it),
// so that Claim leaves it alone; release undoes it.
func (s *Spool) acquire(id ID) (*item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		it := s.idx.items[id]
		if it == nil {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if !it.busy {
			it.busy = true
			return it, nil
		}
		s.cond.Wait()
	}
}

func (s *Spool) release(it *item) {
	s.mu.Lock()
	it.busy = false
	s.mu.Unlock()
	s.cond.Broadcast()
}

// Modify implements Queue: the new envelope is written to msg/<ID>.env
// (temporary file, fsync, rename, directory fsync).
func (s *Spool) Modify(ctx context.Context, id ID, fn func(*Envelope) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.inflight.Done()
	it, err := s.acquire(id)
	if err != nil {
		return err
	}
	defer s.release(it)
	e, err := s.current(id)
	if err != nil {
		return err
	}
	size := e.Size
	old := e.Clone()
	if err := fn(e); err != nil {
		return err
	}
	e.ID, e.Size = id, size
	rec, err := EncodeEnvelope(e)
	if err != nil {
		return err
	}
	if renamed, err := s.writeFile(string(id)+envSuffix, rec); err != nil {
		if renamed {
			s.undoEnv(it, &old)
		}
		return err
	}
	c := s.cacheCopy(e)
	s.mu.Lock()
	it.env = true
	s.idx.put(e)
	s.keep(it, c)
	s.mu.Unlock()
	return nil
}

// undoEnv puts back the envelope file of it as it was before a Modify
// whose directory fsync failed after its rename, so that the failed
// Modify changes nothing, in this process or after a restart (a power
// failure may still bring either version back: the directory's state is
// unknown, and the spool acknowledges nothing more). The caller has it
// busy.
func (s *Spool) undoEnv(it *item, old *Envelope) {
	name := string(it.id) + envSuffix
	s.mu.Lock()
	hadEnv := it.env
	s.mu.Unlock()
	var err error
	if hadEnv {
		// Replaced by a rename, never deleted first: a crash in between
		// must not fall back to the record stored with the body.
		var rec []byte
		if rec, err = EncodeEnvelope(old); err == nil {
			err = os.WriteFile(filepath.Join(s.dir, "tmp", name), rec, 0o600)
		}
		if err == nil {
			err = s.inject("undo", name) // tests: a crash before the rename
		}
		if err == nil {
			err = os.Rename(filepath.Join(s.dir, "tmp", name), s.path(name))
		}
	} else {
		err = os.Remove(s.path(name))
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Error("queue spool: cannot undo a failed envelope update", slog.String("queue_id", string(it.id)), slog.Any("err", err))
	}
}
