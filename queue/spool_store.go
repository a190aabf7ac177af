package queue

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// getBuf returns a buffer for a small message from the spool's pool.
func (s *Spool) getBuf() []byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, smallMax+4096)
}

func (s *Spool) putBuf(b []byte) {
	if cap(b) <= 2*smallMax {
		b = b[:0]
		s.bufs.Put(&b)
	}
}

// Store implements Queue; see Spool for how a message is made durable.
func (s *Spool) Store(ctx context.Context, env *Envelope, body io.Reader) (err error) {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.inflight.Done()
	if body == nil {
		return errNilBody
	}
	if env.ID == "" {
		env.ID = NewID()
	}
	env.Lease, env.Size = Lease{}, 0
	if err := check(env); err != nil {
		return err
	}
	id := env.ID
	s.mu.Lock()
	if s.idx.items[id] != nil || s.storing[id] {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrExists, id)
	}
	s.storing[id] = true
	s.mu.Unlock()
	var at loc
	defer func() {
		var c *Envelope
		if err == nil {
			c = s.cacheCopy(env) // before the lock: every Store of a group commit takes it at once
		}
		s.mu.Lock()
		delete(s.storing, id)
		if err == nil {
			s.idx.put(env)
			it := s.idx.items[id]
			it.seg, it.end = at.seg, at.end
			s.keep(it, c)
		}
		s.mu.Unlock()
	}()

	buf := s.getBuf()
	defer func() { s.putBuf(buf) }()
	var sum uint32
	var eof bool
	buf, sum, eof, err = fill(ctx, body, buf, smallMax+1, 0)
	if err != nil {
		return err
	}
	if eof && len(buf) <= smallMax {
		env.Size = int64(len(buf))
		rec, err := EncodeEnvelope(env)
		if err != nil {
			return err
		}
		buf = append(append(buf, rec...), footer(env.Size, len(rec), sum)...)
		p := &pendingStore{data: buf}
		if err := s.commitSmall(p); err != nil {
			return err
		}
		at = loc{seg: p.seg, end: p.end}
		return nil
	}
	at.end, err = s.storeLarge(ctx, env, body, buf, sum)
	return err
}

// fill reads from r into buf until it holds limit bytes or r ends, and
// updates the CRC-32C sum with what it read.
func fill(ctx context.Context, r io.Reader, buf []byte, limit int, sum uint32) ([]byte, uint32, bool, error) {
	for len(buf) < limit {
		if err := ctx.Err(); err != nil {
			return buf, 0, false, err
		}
		k, err := r.Read(buf[len(buf):min(limit, cap(buf))])
		sum = crc32.Update(sum, castagnoli, buf[len(buf):len(buf)+k])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			return buf, sum, true, nil
		}
		if err != nil {
			return buf, 0, false, fmt.Errorf("queue: reading body: %w", err)
		}
	}
	return buf, sum, false, nil
}

// storeLarge streams a message to its own file msg/<ID>; head is the start
// of the body, already read, and sum its CRC-32C. It returns the file size.
func (s *Spool) storeLarge(ctx context.Context, env *Envelope, body io.Reader, head []byte, sum uint32) (size int64, err error) {
	id := env.ID
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), string(id)+".*")
	if err != nil {
		return 0, fmt.Errorf("queue: spool: %w", err)
	}
	renamed := false
	defer func() {
		if err != nil {
			f.Close()
			if renamed {
				os.Remove(s.path(string(id)))
			} else {
				os.Remove(f.Name())
			}
		}
	}()
	buf := head
	n := int64(0)
	for eof := false; !eof; {
		if len(buf) >= copyBufSize {
			if err := s.write(f, string(id), buf); err != nil {
				return 0, err
			}
			n += int64(len(buf))
			buf = buf[:0]
		}
		buf, sum, eof, err = fill(ctx, body, buf, copyBufSize, sum)
		if err != nil {
			return 0, err
		}
	}
	n += int64(len(buf))
	env.Size = n
	rec, err := EncodeEnvelope(env)
	if err != nil {
		return 0, err
	}
	buf = append(append(buf, rec...), footer(n, len(rec), sum)...)
	if err := s.write(f, string(id), buf); err != nil {
		return 0, err
	}
	size = n + int64(len(rec)) + footerLen
	return size, s.install(f, string(id), &renamed)
}

// pendingStore is one small message waiting for group commit.
type pendingStore struct {
	data []byte // body, record, footer
	seg  uint64 // set when written
	end  int64
	done bool
	err  error
}

// commitSmall adds p to the next segment and returns once that segment is
// durable. The first caller to find no segment being written writes one
// with everything pending (leader); the others wait for it.
func (s *Spool) commitSmall(p *pendingStore) error {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	s.bpending = append(s.bpending, p)
	for !p.done {
		if s.brunning {
			s.bcond.Wait()
			continue
		}
		s.brunning = true
		n, size := 0, 0
		for n < len(s.bpending) && n < maxBatch && (n == 0 || size+len(s.bpending[n].data) <= maxBatchBytes) {
			size += len(s.bpending[n].data)
			n++
		}
		batch := s.bpending[:n:n]
		s.bpending = append([]*pendingStore(nil), s.bpending[n:]...)
		s.bmu.Unlock()
		err := s.writeSegment(batch)
		s.bmu.Lock()
		s.brunning = false
		for _, q := range batch {
			q.done, q.err = true, err
		}
		s.bcond.Broadcast()
	}
	return p.err
}

// writeSegment writes batch to a new segment: into a spare segment file,
// fsync, rename (spool_spare.go); without a spare, into a temporary file,
// fsync, rename, directory fsync.
func (s *Spool) writeSegment(batch []*pendingStore) (err error) {
	// A commit into a spare does no directory fsync: after one failed,
	// nothing more is acknowledged all the same (dirSync).
	if err := s.msgs.failed(); err != nil {
		return err
	}
	sp, spare := s.takeSpare()
	seq, f, from := sp.seq, sp.f, s.path(spareName(sp.seq))
	if !spare {
		s.mu.Lock()
		s.seq++
		seq = s.seq
		s.mu.Unlock()
		f, err = os.CreateTemp(filepath.Join(s.dir, "tmp"), segName(seq)+".*")
		if err != nil {
			return fmt.Errorf("queue: spool: %w", err)
		}
		from = f.Name()
	}
	name := segName(seq)
	renamed := false
	defer func() {
		if err != nil {
			f.Close()
			if renamed {
				os.Remove(s.path(name))
			} else {
				os.Remove(from)
			}
		}
	}()
	// One write(2) for the batch when it fits the leader's buffer (only
	// the leader, one at a time, runs this); otherwise one per message.
	var off int64
	for _, q := range batch {
		off += int64(len(q.data))
		q.seg, q.end = seq, off
	}
	if len(batch) > 1 && off <= segBufMax {
		b := s.segBuf[:0]
		for _, q := range batch {
			b = append(b, q.data...)
		}
		s.segBuf = b
		if err := s.write(f, name, b); err != nil {
			return err
		}
	} else {
		for _, q := range batch {
			if err := s.write(f, name, q.data); err != nil {
				return err
			}
		}
	}
	if spare {
		// The spare's name is durable; the rename's need not be
		// (spool_spare.go).
		err = s.syncRename(f, from, name, &renamed)
	} else {
		err = s.install(f, name, &renamed)
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.live[seq] = int32(len(batch))
	s.mu.Unlock()
	return nil
}
