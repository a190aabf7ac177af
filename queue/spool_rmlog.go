package queue

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mxrelay/mxrelay/internal/regfile"
)

// The removal log takes a message out of a shared segment: Remove appends
// one record (rmlog_record.go) to the current log file msg/<gen>.rml, one
// write(2), where it used to create a tombstone file per message. Like a
// tombstone, the record is not fsynced: after a power failure a removed
// message may come back and be delivered again, never lost, as in
// Postfix; a killed process loses nothing, the kernel has the write.
//
// A log file (a generation) takes rmGenRecords records, then the next
// Remove starts a new one; older generations are never written again, so
// a torn last record stays at the end of its file. A generation is
// deleted once every segment it names is deleted, after a directory fsync
// that makes those deletions durable (so a segment cannot come back
// without its records). This is the log's compaction: what stays on disk
// are the records of segments still on disk, in at most a few files.
//
// OpenSpool replays every generation (a record of a segment that is gone
// is ignored), writes the good records of a damaged generation and the
// records the scan itself adds (entries set aside, tombstone files of
// earlier versions) into a new generation, durably, before it moves the
// damaged one to corrupt/ or deletes the tombstones.

const (
	rmlogSuffix  = ".rml"
	rmGenRecords = 4096 // records per log file (about 200 KB)
)

// rmGen is one removal log file.
type rmGen struct {
	seq  uint64
	f    *os.File         // open for appends while current; nil once sealed
	n    int              // records written
	segs map[uint64]int32 // records per segment, for the segments still on disk
}

func rmlogName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, rmlogSuffix) }

// logRemoval appends the record of id's removal from segment seg. The
// log's lock serialises appends (as the kernel does for O_APPEND writes
// to one file); it guards nothing else any other lock waits on.
func (s *Spool) logRemoval(id ID, seg uint64) error {
	var buf [maxRemovalLen]byte
	rec := appendRemoval(buf[:0], removal{id: id, seg: seg})
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if s.rmCur == nil || s.rmCur.n >= s.rmMax {
		if err := s.newGen(); err != nil {
			return err
		}
	}
	g := s.rmCur
	err := s.inject("append", rmlogName(g.seq))
	if err == nil {
		_, err = g.f.Write(rec)
	}
	if err != nil {
		// A partial record may be at the end of the file: the next
		// removal starts a new file, so that it stays a torn tail
		// rather than damage between good records.
		s.sealCur()
		return err
	}
	g.n++
	g.segs[seg]++
	return nil
}

// newGen seals the current log file and creates the next. s.lmu is held.
func (s *Spool) newGen() error {
	s.sealCur()
	s.rmSeq = max(s.rmSeq+1, uint64(time.Now().UnixNano()))
	name := rmlogName(s.rmSeq)
	if err := s.inject("create", name); err != nil {
		return err
	}
	// O_EXCL: never append to a file left by someone else; O_NONBLOCK
	// (with O_EXCL no FIFO can be in the way, but it costs nothing).
	f, err := os.OpenFile(s.path(name), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL|regfile.Nonblock, 0o600)
	if err != nil {
		return err
	}
	g := &rmGen{seq: s.rmSeq, f: f, segs: make(map[uint64]int32)}
	s.rmGens = append(s.rmGens, g)
	s.rmCur = g
	return nil
}

// sealCur closes the current log file. s.lmu is held.
func (s *Spool) sealCur() {
	if s.rmCur != nil {
		s.rmCur.f.Close()
		s.rmCur.f = nil
		s.rmCur = nil
	}
}

// segmentGone is called once segment seq is unlinked: the log files
// whose segments are all gone are deleted after the next directory
// fsync.
func (s *Spool) segmentGone(seq uint64) {
	var dead []string
	s.lmu.Lock()
	kept := s.rmGens[:0]
	for _, g := range s.rmGens {
		delete(g.segs, seq)
		if len(g.segs) > 0 || g.n == 0 && g == s.rmCur {
			kept = append(kept, g)
			continue
		}
		if g == s.rmCur {
			s.sealCur()
		}
		dead = append(dead, s.path(rmlogName(g.seq)))
	}
	clear(s.rmGens[len(kept):])
	s.rmGens = kept
	s.lmu.Unlock()
	if len(dead) > 0 {
		s.msgs.afterNextSync(dead)
	}
}

// closeLog closes the current log file (Close).
func (s *Spool) closeLog() {
	s.lmu.Lock()
	s.sealCur()
	s.lmu.Unlock()
}

// maxRmlogSize caps what the opening scan reads of a log file: a file
// this long is not one the spool wrote (rmGenRecords records are about
// 200 KB) and is set aside.
const maxRmlogSize = 16 << 20

// scanLog is one removal log file as read by the opening scan.
type scanLog struct {
	name    string
	seq     uint64
	recs    []removal
	damaged bool  // a bad record between good ones
	tail    int   // bytes after the last good record
	err     error // unreadable: set aside, its removals lost
}

func (s *Spool) readScanLog(l *scanLog) {
	f, err := regfile.OpenNoFollow(s.path(l.name))
	if err != nil {
		l.err = err
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		l.err = err
		return
	}
	if st.Size() > maxRmlogSize {
		l.err = fmt.Errorf("%w: removal log of %d bytes", ErrCorrupt, st.Size())
		return
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		l.err = err
		return
	}
	l.recs, l.damaged, l.tail = parseRemovals(b)
}

// writeGen durably writes rs as a new log file (opening scan).
func (s *Spool) writeGen(rs []removal) (*scanLog, error) {
	var b []byte
	seen := make(map[removal]bool, len(rs))
	var kept []removal
	for _, r := range rs {
		if !seen[r] {
			seen[r] = true
			kept = append(kept, r)
			b = appendRemoval(b, r)
		}
	}
	s.rmSeq = max(s.rmSeq+1, uint64(time.Now().UnixNano()))
	l := &scanLog{name: rmlogName(s.rmSeq), seq: s.rmSeq, recs: kept}
	if _, err := s.writeFile(l.name, b); err != nil {
		return nil, err
	}
	return l, nil
}
