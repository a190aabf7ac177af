package queue

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mxrelay/mxrelay/internal/regfile"
)

type tombKey struct {
	id  ID
	seq uint64
}

// scanFile is one data file (a message's own file or a segment) as read
// by the startup scan.
type scanFile struct {
	name    string
	seq     uint64 // 0 for a message's own file
	size    int64
	entries []entry
	err     error
}

func parseSeq(s string) (uint64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 16, 64)
	return n, err == nil && n != 0
}

// scan rebuilds the schedule from msg/: it reads every data file (in
// parallel), applies the removal log, tombstones and envelope updates,
// finishes interrupted removals and moves unusable files aside.
func (s *Spool) scan(ctx context.Context) error {
	d, err := os.Open(filepath.Join(s.dir, "msg"))
	if err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	des, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("queue: spool: reading msg/: %w", err)
	}
	var files []*scanFile
	envs := make(map[ID]bool)
	tombs := make(map[tombKey]bool) // tombstone files of earlier versions
	var logs []*scanLog
	var bad []Recovered
	for _, de := range des {
		n := de.Name()
		// A FIFO, device, socket, link or directory is never opened (a
		// FIFO would block the open until a writer came): it is moved
		// aside with the other unusable files, whatever its name. The
		// type comes from the directory entry (an lstat where the file
		// system does not give it); regfile.OpenNoFollow checks again.
		if t := de.Type(); !t.IsRegular() {
			bad = append(bad, Recovered{Name: n, Err: fmt.Errorf("%w (%s)", regfile.ErrNotRegular, regfile.Kind(t))})
			continue
		}
		if base, ok := strings.CutSuffix(n, segSuffix); ok {
			if seq, ok := parseSeq(base); ok {
				files = append(files, &scanFile{name: n, seq: seq})
				continue
			}
		} else if base, ok := strings.CutSuffix(n, spareSuffix); ok {
			if seq, ok := parseSeq(base); ok {
				s.seq = max(s.seq, seq)
				whole, err := s.scanSpare(n, seq)
				if err != nil {
					return err
				}
				if whole {
					files = append(files, &scanFile{name: segName(seq), seq: seq})
				}
				continue
			}
		} else if base, ok := strings.CutSuffix(n, recycleSuffix); ok {
			if seq, ok := parseSeq(base); ok {
				// A segment, its messages all removed, that was
				// being made a spare (spool_spare.go).
				s.seq = max(s.seq, seq)
				if err := s.inject("scan", n); err != nil {
					return err
				}
				if err := os.Remove(s.path(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("queue: spool: %w", err)
				}
				continue
			}
		} else if base, ok := strings.CutSuffix(n, rmlogSuffix); ok {
			if seq, ok := parseSeq(base); ok {
				logs = append(logs, &scanLog{name: n, seq: seq})
				continue
			}
		} else if base, ok := strings.CutSuffix(n, tombSuffix); ok {
			if i := strings.LastIndexByte(base, '.'); i > 0 && ID(base[:i]).Valid() {
				if seq, ok := parseSeq(base[i+1:]); ok {
					tombs[tombKey{ID(base[:i]), seq}] = true
					continue
				}
			}
		} else if base, ok := strings.CutSuffix(n, envSuffix); ok && ID(base).Valid() {
			envs[ID(base)] = true
			continue
		} else if ID(n).Valid() {
			files = append(files, &scanFile{name: n})
			continue
		}
		bad = append(bad, Recovered{Name: n, Err: errors.New("not a spool file name")})
	}

	s.readScanFiles(ctx, files)
	if err := ctx.Err(); err != nil {
		return err
	}
	// removed: what the removal log and the tombstones take out of the
	// segments.
	removed := make(map[tombKey]bool, len(tombs))
	for k := range tombs {
		removed[k] = true
	}
	for _, l := range logs {
		s.readScanLog(l)
		s.rmSeq = max(s.rmSeq, l.seq)
		for _, r := range l.recs {
			removed[tombKey{r.id, r.seg}] = true
		}
	}

	type found struct {
		l   loc
		env *Envelope
		f   *scanFile
		e   entry
	}
	msgs := make(map[ID]*found)
	var empty []uint64
	var dups []*found
	// newer reports whether a is a later copy of a message than b: an ID
	// used again after a removal that a power failure undid.
	newer := func(a, b *found) bool {
		if c := a.env.Arrival.Compare(b.env.Arrival); c != 0 {
			return c > 0
		}
		return a.l.seg > b.l.seg
	}
	add := func(m *found) {
		id := m.env.ID
		if old := msgs[id]; old != nil {
			if newer(old, m) {
				old, m = m, old
			}
			dups = append(dups, old)
			s.log.Error("queue spool: message stored twice; setting the older copy aside", slog.String("queue_id", string(id)))
		}
		msgs[id] = m
	}
	for _, f := range files {
		if f.err != nil {
			bad = append(bad, Recovered{Name: f.name, Err: f.err})
			continue
		}
		if f.seq == 0 {
			add(&found{l: loc{end: f.size}, env: f.entries[0].env, f: f, e: f.entries[0]})
			continue
		}
		s.seq = max(s.seq, f.seq)
		for _, e := range f.entries {
			if !removed[tombKey{e.env.ID, f.seq}] {
				s.live[f.seq]++
				add(&found{l: loc{seg: f.seq, end: e.end}, env: e.env, f: f, e: e})
			}
		}
	}
	for _, f := range files {
		if f.err == nil && f.seq != 0 && s.live[f.seq] == 0 {
			empty = append(empty, f.seq)
		}
	}
	stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
	// fresh: removals to write into a new log file before the files that
	// held them go (entries set aside, tombstones, damaged log files).
	var fresh []removal
	for _, m := range dups {
		if m.l.seg == 0 {
			bad = append(bad, Recovered{Name: m.f.name, Err: errors.New("older copy of a message stored again")})
			continue
		}
		if err := s.setAside(m.env.ID, m.f, m.e, stamp); err != nil {
			return err
		}
		fresh = append(fresh, removal{m.env.ID, m.l.seg})
		if s.live[m.l.seg]--; s.live[m.l.seg] == 0 {
			delete(s.live, m.l.seg)
			empty = append(empty, m.l.seg)
		}
	}

	for id, m := range msgs {
		if !envs[id] {
			continue
		}
		u, err := s.load(id, loc{env: true})
		if err == nil && u.Size != m.env.Size {
			err = fmt.Errorf("%w: size %d, body %d bytes", ErrCorrupt, u.Size, m.env.Size)
		}
		if err == nil {
			m.env, m.l.env = u, true
			continue
		}
		err = fmt.Errorf("%s: %w", id+envSuffix, err)
		delete(msgs, id)
		bad = append(bad, Recovered{Name: string(id) + envSuffix, Err: err})
		if m.l.seg == 0 {
			bad = append(bad, Recovered{Name: m.f.name, Err: fmt.Errorf("moved with its envelope update: %w", err)})
			continue
		}
		// The message shares a segment: copy its entry aside, then
		// record its removal so it is not brought back with its
		// original envelope.
		if err := s.setAside(id, m.f, m.e, stamp); err != nil {
			return err
		}
		fresh = append(fresh, removal{id, m.l.seg})
		if s.live[m.l.seg]--; s.live[m.l.seg] == 0 {
			delete(s.live, m.l.seg)
			empty = append(empty, m.l.seg)
		}
	}

	// Removals held by files that go: the tombstones, damaged log files.
	// They are written to a new log file, durably, before anything that
	// needs them is deleted or moved aside.
	onDisk := func(seg uint64) bool { return s.live[seg] > 0 }
	for k := range tombs {
		if onDisk(k.seq) {
			fresh = append(fresh, removal{k.id, k.seq})
		}
	}
	for _, l := range logs {
		if l.err != nil || !l.damaged {
			continue
		}
		for _, r := range l.recs {
			if onDisk(r.seg) {
				fresh = append(fresh, r)
			}
		}
	}
	if len(fresh) > 0 {
		g, err := s.writeGen(fresh)
		if err != nil {
			return err
		}
		logs = append(logs, g)
	}
	for _, l := range logs {
		switch {
		case l.err != nil:
			bad = append(bad, Recovered{Name: l.name, Err: l.err})
		case l.damaged:
			bad = append(bad, Recovered{Name: l.name, Err: fmt.Errorf("%w: damaged removal log; its %d good records are kept", ErrCorrupt, len(l.recs))})
		case l.tail > 0:
			s.log.Info("queue spool: a removal log ends in an unfinished record", slog.String("file", l.name), slog.Int("bytes", l.tail))
		}
	}

	// What interrupted removals left: envelope updates of messages that
	// are gone.
	for id := range envs {
		if msgs[id] == nil && !slicesContainsName(bad, string(id)+envSuffix) {
			if _, err := s.load(id, loc{env: true}); err != nil {
				// Not the rest of a removal (which leaves a good
				// update) but a damaged update whose message an
				// interrupted open already set aside: keep it too.
				bad = append(bad, Recovered{Name: string(id) + envSuffix, Err: fmt.Errorf("update of a message that is gone: %w", err)})
				continue
			}
			if err := s.inject("scan", string(id)+envSuffix); err != nil {
				return err
			}
			if err := os.Remove(s.path(string(id) + envSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("queue: spool: %w", err)
			}
			s.log.Info("queue spool: finished an interrupted removal", slog.String("queue_id", string(id)))
		}
	}
	for _, seq := range empty {
		if err := s.inject("scan", segName(seq)); err != nil {
			return err
		}
		if err := os.Remove(s.path(segName(seq))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("queue: spool: %w", err)
		}
	}

	for i := range bad {
		r := &bad[i]
		r.MovedTo = filepath.Join(s.dir, "corrupt", r.Name+"."+stamp)
		if err := s.inject("scan", r.Name); err != nil {
			return err
		}
		if err := os.Rename(s.path(r.Name), r.MovedTo); err != nil {
			return fmt.Errorf("queue: spool: moving aside %s: %w", r.Name, err)
		}
		s.log.Warn("queue spool: moved aside an unusable file", slog.String("file", r.Name),
			slog.String("to", r.MovedTo), slog.Any("err", r.Err))
	}
	s.recovered = append(s.recovered, bad...)
	if err := s.msgs.sync(); err != nil {
		return err
	}
	// The empty segments are durably gone, and the removals of the
	// others are in the log: the tombstones can go, and the log files
	// that name no segment left.
	for k := range tombs {
		if err := s.inject("scan", tombName(k.id, k.seq)); err != nil {
			return err
		}
		os.Remove(s.path(tombName(k.id, k.seq)))
	}
	for _, l := range logs {
		if l.err != nil || l.damaged {
			continue
		}
		g := &rmGen{seq: l.seq, n: len(l.recs), segs: make(map[uint64]int32)}
		for _, r := range l.recs {
			if onDisk(r.seg) {
				g.segs[r.seg]++
			}
		}
		if len(g.segs) > 0 {
			s.rmGens = append(s.rmGens, g)
			continue
		}
		if err := s.inject("scan", l.name); err != nil {
			return err
		}
		os.Remove(s.path(l.name))
	}

	for id, m := range msgs {
		s.idx.put(m.env)
		it := s.idx.items[id]
		it.seg, it.end, it.env = m.l.seg, m.l.end, m.l.env
	}
	return nil
}

func slicesContainsName(rs []Recovered, name string) bool {
	for _, r := range rs {
		if r.Name == name {
			return true
		}
	}
	return false
}

// readScanFiles reads the entries of every file, in parallel.
func (s *Spool) readScanFiles(ctx context.Context, files []*scanFile) {
	workers := min(max(runtime.GOMAXPROCS(0)*2, 2), maxScanWorkers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(files); i += workers {
				if ctx.Err() != nil {
					return
				}
				s.readScanFile(files[i])
			}
		})
	}
	wg.Wait()
}

func (s *Spool) readScanFile(sf *scanFile) {
	f, err := regfile.OpenNoFollow(s.path(sf.name))
	if err != nil {
		sf.err = err
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		sf.err = err
		return
	}
	sf.size = st.Size()
	sf.entries, sf.err = readEntries(f, sf.size)
	if sf.err == nil && sf.seq == 0 {
		if len(sf.entries) != 1 {
			sf.err = fmt.Errorf("%w: %d entries in a message file", ErrCorrupt, len(sf.entries))
		} else if id := sf.entries[0].env.ID; string(id) != sf.name {
			sf.err = fmt.Errorf("%w: file holds message %s", ErrCorrupt, id)
		}
	}
}

// setAside copies the entry of id out of segment f into corrupt/, durably;
// the caller then writes the removal that takes it out of the segment.
func (s *Spool) setAside(id ID, f *scanFile, e entry, stamp string) error {
	src, err := regfile.OpenNoFollow(s.path(f.name))
	if err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	defer src.Close()
	b := make([]byte, e.end-e.bodyStart)
	if _, err := src.ReadAt(b, e.bodyStart); err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	dst := filepath.Join(s.dir, "corrupt", string(id)+".entry."+stamp)
	if err := s.inject("scan", dst); err != nil {
		return err
	}
	// The copy must be durable before a removal record hides the entry.
	if err := writeSynced(dst, b); err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	s.recovered = append(s.recovered, Recovered{Name: f.name, MovedTo: dst,
		Err: fmt.Errorf("entry of message %s copied out and removed from the segment", id)})
	return nil
}

// writeSynced creates path with b, fsyncs it and its directory.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
