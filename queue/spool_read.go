package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/mxrelay/mxrelay/internal/regfile"
)

// remember caches a copy of e as it's envelope, evicting the oldest
// cached envelopes beyond cacheMax. The caller holds s.mu.
func (s *Spool) remember(it *item, e *Envelope) {
	s.keep(it, s.cacheCopy(e))
}

// cacheCopy returns the copy of e that keep caches (nil when the cache is
// off); it takes no lock, so that callers copy before they lock.
func (s *Spool) cacheCopy(e *Envelope) *Envelope {
	if s.cacheMax < 0 {
		return nil
	}
	c := e.Clone()
	c.Lease = Lease{}
	return &c
}

// keep caches c, from cacheCopy, as it's envelope. s.mu is held.
func (s *Spool) keep(it *item, c *Envelope) {
	if c == nil {
		return
	}
	if it.cache == nil {
		s.cacheN++
		s.cacheRing = append(s.cacheRing, it.id)
	}
	it.cache = c
	for s.cacheN > s.cacheMax && len(s.cacheRing) > 0 {
		old := s.idx.items[s.cacheRing[0]]
		s.cacheRing = s.cacheRing[1:]
		if old != nil && old.cache != nil {
			old.cache = nil
			s.cacheN--
		}
	}
	if len(s.cacheRing) > 2*s.cacheMax+64 { // drop stale entries
		ring := s.cacheRing[:0]
		for _, id := range s.cacheRing {
			if x := s.idx.items[id]; x != nil && x.cache != nil {
				ring = append(ring, id)
			}
		}
		s.cacheRing = ring
	}
}

// forget drops it's cached envelope (it is being removed). The caller
// holds s.mu.
func (s *Spool) forget(it *item) {
	if it.cache != nil {
		it.cache = nil
		s.cacheN--
	}
}

// current returns id's envelope from the cache or, failing that, from
// disk (and caches it), with its lease.
func (s *Spool) current(id ID) (*Envelope, error) {
	s.mu.Lock()
	it := s.idx.items[id]
	if it == nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if it.cache != nil {
		c := it.cache.Clone()
		c.Lease = s.idx.lease(id)
		s.mu.Unlock()
		return &c, nil
	}
	l := loc{it.seg, it.end, it.env}
	s.mu.Unlock()
	e, err := s.load(id, l)
	if err != nil {
		return nil, notFound(id, err)
	}
	s.mu.Lock()
	if it2 := s.idx.items[id]; it2 == it && !it.busy && it.cache == nil && it.env == l.env {
		s.remember(it, e)
	}
	e.Lease = s.idx.lease(id)
	s.mu.Unlock()
	return e, nil
}

// load reads the current envelope of id: msg/<ID>.env when there is one,
// else the record stored with the body.
func (s *Spool) load(id ID, l loc) (*Envelope, error) {
	var e *Envelope
	if l.env {
		b, err := regfile.ReadFileNoFollow(s.path(string(id) + envSuffix))
		if err != nil {
			return nil, err
		}
		var n int
		e, n, err = decodeRecord(b)
		if err == nil && n != len(b) {
			err = fmt.Errorf("%w: %d bytes after the record", ErrCorrupt, len(b)-n)
		}
		if err != nil {
			return nil, err
		}
	} else {
		f, err := s.openData(id, l)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		en, err := readEntry(f, l.end)
		if err != nil {
			return nil, err
		}
		e = en.env
	}
	if e.ID != id {
		return nil, fmt.Errorf("%w: found the record of message %s", ErrCorrupt, e.ID)
	}
	return e, nil
}

// locate returns where id's files are, or ErrNotFound.
func (s *Spool) locate(id ID) (loc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.idx.items[id]
	if it == nil {
		return loc{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return loc{it.seg, it.end, it.env}, nil
}

// notFound maps a file that vanished (a concurrent Remove) to ErrNotFound.
func notFound(id ID, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return fmt.Errorf("queue: spool: message %s: %w", id, err)
}

// Get implements Queue.
func (s *Spool) Get(ctx context.Context, id ID) (Envelope, error) {
	if err := s.begin(ctx); err != nil {
		return Envelope{}, err
	}
	defer s.inflight.Done()
	e, err := s.current(id)
	if err != nil {
		return Envelope{}, err
	}
	return *e, nil
}

// Body implements Queue. The reader streams from the data file, checks
// the body's checksum at the end, and stays valid after the message is
// removed.
func (s *Spool) Body(ctx context.Context, id ID) (io.ReadCloser, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.inflight.Done()
	l, err := s.locate(id)
	if err != nil {
		return nil, err
	}
	f, err := s.openData(id, l)
	if err != nil {
		return nil, notFound(id, err)
	}
	en, err := readEntry(f, l.end)
	if err == nil && en.env.ID != id {
		err = fmt.Errorf("%w: found the record of message %s", ErrCorrupt, en.env.ID)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: spool: message %s: %w", id, err)
	}
	return &bodyReader{r: io.NewSectionReader(f, en.bodyStart, en.env.Size), c: f, id: id, sum: en.sum}, nil
}

// Walk implements Queue. It reads each envelope from disk, without
// holding the spool's lock while fn runs; messages removed meanwhile are
// skipped.
func (s *Spool) Walk(ctx context.Context, fn func(*Envelope) error) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.inflight.Done()
	s.mu.Lock()
	ids := make([]ID, 0, len(s.idx.items))
	for id := range s.idx.items {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := s.current(id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// dataFile is an open data file; closing a segment's releases its hold
// (holdSegment).
type dataFile struct {
	*os.File
	release func()
}

func (f *dataFile) Close() error {
	if f.release != nil {
		f.release()
		f.release = nil
	}
	return f.File.Close()
}

// openData opens the data file of id at l. A segment being recycled is
// not found: its messages are all removed.
func (s *Spool) openData(id ID, l loc) (*dataFile, error) {
	var release func()
	if l.seg != 0 {
		var ok bool
		if release, ok = s.holdSegment(l.seg); !ok {
			return nil, fs.ErrNotExist
		}
	}
	f, err := regfile.OpenNoFollow(s.path(l.data(id)))
	if err != nil {
		if release != nil {
			release()
		}
		return nil, err
	}
	return &dataFile{File: f, release: release}, nil
}
