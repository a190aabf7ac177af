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
// in tmp/ are. An empty spare is removed too. A whole spare whose commit
// had not returned (SIGKILL between its write and its rename) is kept
// too: its messages, never acknowledged, are delivered, as a message
// renamed into msg/ before its directory fsync was before spares.
//
// A segment whose messages are all removed is recycled into a spare
// rather than deleted while fewer than spareTarget are waiting: renamed
// msg/<seq>.recycle, truncated to nothing, renamed to the next spare
// name, and handed out only after the next refill's directory fsync has
// made that name durable (a commit into it whose rename a power failure
// undid would otherwise be under a name the next open deletes). File creation costs
// far more than a truncation and a rename on the file systems measured
// (BENCHMARKS.md), so a spool in a steady state creates no file per
// message (the removal log still starts a file every rmGenRecords). A
// segment that a reader has open is deleted instead (its reader keeps
// the data), and readers are not let in while a segment is recycled. A
// crash midway leaves a *.recycle file, which the next open deletes: no
// message of it was left. No segment name is ever on a file cut short, so
// an empty or short segment stays damage to report.

const (
	spareSuffix   = ".spare"
	recycleSuffix = ".recycle" // a segment on its way to being a spare
	spareTarget   = 64         // spares created by one refill
	spareLow      = 32         // a refill starts when fewer are left
)

// spareFile is a spare segment file, open for writing.
type spareFile struct {
	seq uint64
	f   *os.File
}

func spareName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, spareSuffix) }

func recycleName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, recycleSuffix) }

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

// refillSpares creates spares up to spareTarget and makes their names,
// and those of the segments recycled since the last refill, durable with
// one directory fsync before any commit may use them.
func (s *Spool) refillSpares() error {
	s.spmu.Lock()
	recycled := s.recycled
	s.recycled = nil
	need := spareTarget - len(s.spares) - len(recycled)
	s.spmu.Unlock()
	made := make([]spareFile, 0, max(need, 0)+len(recycled))
	made = append(made, recycled...)
	undo := func() {
		for _, sp := range made {
			sp.f.Close()
			os.Remove(s.path(spareName(sp.seq)))
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
	for _, sp := range append(s.spares, s.recycled...) {
		sp.f.Close()
		os.Remove(s.path(spareName(sp.seq)))
	}
	s.spares, s.recycled = nil, nil
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

// recycle makes segment seq, whose messages are all removed, the newest
// spare. It returns false, having changed nothing the caller needs to
// undo, when spares are off or enough are waiting, when a reader has the
// segment open, or when a step fails: the caller then deletes the
// segment.
func (s *Spool) recycle(seq uint64) bool {
	if s.spWake == nil {
		return false
	}
	s.spmu.Lock()
	full := len(s.spares)+len(s.recycled) >= spareTarget
	s.spmu.Unlock()
	if full {
		return false
	}
	s.rmu.Lock()
	busy := s.readers[seq] > 0
	if !busy {
		s.recycling[seq] = true
	}
	s.rmu.Unlock()
	if busy {
		return false
	}
	defer func() {
		s.rmu.Lock()
		delete(s.recycling, seq)
		s.rmu.Unlock()
	}()
	s.mu.Lock()
	s.seq++
	next := s.seq
	s.mu.Unlock()
	// Renamed away first, so that no crash leaves a segment's name on a
	// file cut short: a leftover *.recycle is deleted by the next open.
	seg, mid, spare := s.path(segName(seq)), s.path(recycleName(next)), s.path(spareName(next))
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	if err := os.Rename(seg, mid); err != nil {
		f.Close()
		return false
	}
	err = f.Truncate(0)
	if err == nil {
		err = os.Rename(mid, spare)
	}
	if err != nil {
		f.Close()
		os.Remove(mid)
		return true // the segment is gone all the same
	}
	// Not a spare yet: its new name is not durable. The next refill's
	// directory fsync makes it so, then hands it out.
	s.spmu.Lock()
	s.recycled = append(s.recycled, spareFile{seq: next, f: f})
	s.spmu.Unlock()
	return true
}

// holdSegment counts a reader of segment seq until release; ok is false
// while the segment is being recycled (its messages are all removed).
// It takes rmu only: callers may hold mu (the claim reads envelopes).
func (s *Spool) holdSegment(seq uint64) (release func(), ok bool) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.recycling[seq] {
		return nil, false
	}
	s.readers[seq]++
	return func() {
		s.rmu.Lock()
		if s.readers[seq]--; s.readers[seq] <= 0 {
			delete(s.readers, seq)
		}
		s.rmu.Unlock()
	}, true
}
