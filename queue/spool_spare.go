package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
)

// Spare segment files.
//
// A group commit writes its segment into a spare: an empty file
// msg/<seq>.spare created ahead of time, whose directory entry a directory
// fsync has already made durable. The commit is then write, fsync and a
// rename to msg/<seq>.seg: one fsync per segment instead of a file fsync
// and a directory fsync, and no file creation on the commit's path (the
// creation was most of the commit's CPU).
//
// The rename is not made durable at once (the next directory fsync of any
// other change does it). After a power failure the segment may come back
// under its spare name: the opening scan then finds a spare with content.
// If the content reads back whole, the fsync completed, the messages may
// have been acknowledged, and the file becomes a segment again. If it does
// not (a write cut by SIGKILL or a crash before its fsync returned), no
// message in it was acknowledged: it is removed, as the unfinished writes
// in tmp/ are. An empty spare is removed too.

const (
	spareSuffix = ".spare"
	spareTarget = 64 // spares created by one refill
	spareLow    = 32 // a refill starts when fewer are left
)

// spareFile is a spare segment file, open for writing.
type spareFile struct {
	seq uint64
	f   *os.File
}

func spareName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, spareSuffix) }

// startSpares creates the first spares and the goroutine that makes more
// as they are used. Close stops it. A spool that cannot create them (a
// full disk) still opens: its commits create their segments.
func (s *Spool) startSpares() {
	s.spWake = make(chan struct{}, 1)
	s.spStop = make(chan struct{})
	s.spDone = make(chan struct{})
	if err := s.refillSpares(); err != nil {
		s.log.Warn("queue spool: creating spare segment files", slog.Any("err", err))
	}
	go s.runSpares()
}

func (s *Spool) runSpares() {
	defer close(s.spDone)
	for {
		select {
		case <-s.spStop:
			return
		case <-s.spWake:
			if err := s.refillSpares(); err != nil {
				// Commits fall back to creating their segment.
				s.log.Warn("queue spool: creating spare segment files", slog.Any("err", err))
			}
		}
	}
}

// refillSpares creates spares up to spareTarget and makes their names
// durable with one directory fsync before any commit may use them.
func (s *Spool) refillSpares() error {
	s.spmu.Lock()
	need := spareTarget - len(s.spares)
	s.spmu.Unlock()
	made := make([]spareFile, 0, max(need, 0))
	undo := func() {
		for _, sp := range made {
			sp.f.Close()
			os.Remove(sp.f.Name())
		}
	}
	for range need {
		s.mu.Lock()
		s.seq++
		seq := s.seq
		s.mu.Unlock()
		f, err := os.OpenFile(s.path(spareName(seq)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			undo()
			return fmt.Errorf("queue: spool: %w", err)
		}
		made = append(made, spareFile{seq: seq, f: f})
	}
	if len(made) == 0 {
		return nil
	}
	if err := s.msgs.sync(); err != nil {
		undo()
		return err
	}
	s.spmu.Lock()
	s.spares = append(s.spares, made...)
	s.spmu.Unlock()
	return nil
}

// takeSpare returns the oldest spare, and asks for more when few are
// left. ok is false when there is none (spares off, or used up).
func (s *Spool) takeSpare() (sp spareFile, ok bool) {
	if s.spWake == nil {
		return spareFile{}, false
	}
	s.spmu.Lock()
	if len(s.spares) > 0 {
		sp, ok = s.spares[0], true
		s.spares = s.spares[1:]
	}
	low := len(s.spares) < spareLow
	s.spmu.Unlock()
	if low {
		select {
		case s.spWake <- struct{}{}:
		default:
		}
	}
	return sp, ok
}

// closeSpares stops the refills and removes the spares left.
func (s *Spool) closeSpares() {
	if s.spWake == nil {
		return
	}
	close(s.spStop)
	<-s.spDone
	s.spmu.Lock()
	defer s.spmu.Unlock()
	for _, sp := range s.spares {
		sp.f.Close()
		os.Remove(sp.f.Name())
	}
	s.spares = nil
}

// scanSpare handles msg/<seq>.spare at open: it returns true when the
// file held a whole segment and now has its segment name again.
func (s *Spool) scanSpare(name string, seq uint64) (bool, error) {
	sf := &scanFile{name: name, seq: seq}
	s.readScanFile(sf)
	if err := s.inject("scan", name); err != nil {
		return false, err
	}
	if sf.err == nil && sf.size > 0 {
		if err := os.Rename(s.path(name), s.path(segName(seq))); err != nil {
			return false, fmt.Errorf("queue: spool: %w", err)
		}
		s.log.Info("queue spool: a segment came back under its spare name", slog.String("file", name))
		return true, nil
	}
	if sf.size > 0 {
		s.log.Info("queue spool: removed an unfinished segment write", slog.String("file", name), slog.Any("err", sf.err))
	}
	if err := os.Remove(s.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("queue: spool: %w", err)
	}
	return false, nil
}
