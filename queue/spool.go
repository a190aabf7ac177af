package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Spool is the file-backed Queue, the default for an embedded relay.
//
// Store writes the message (body, envelope record, footer: see
// spool_data.go) to a file under tmp/, fsyncs it, renames it into msg/ and
// fsyncs msg/ before returning, so an acknowledged message survives a
// crash, power loss included, on a file system that honours fsync.
// Messages whose body is at most 128 KiB are group-committed: the Stores
// under way at the same time are written into one segment file
// (msg/<seq>.seg) with one fsync, so the rate is not capped at one fsync
// per message and nothing is acknowledged before it is on disk. The
// segment is written into a spare, an empty file made ahead whose name a
// directory fsync has already made durable, and renamed once its fsync
// returns (spool_spare.go): no file creation and no directory fsync on the
// commit's path. A segment whose messages are all removed becomes a spare
// again (truncated, renamed, and made durable by the next refill's
// directory fsync), so a spool in a steady state creates no file per
// message. Larger bodies are streamed to a file of their own
// (msg/<ID>), never held whole in memory.
//
// State changes write msg/<ID>.env (temporary file, fsync, rename,
// directory fsync), which supersedes the record stored with the body.
// Removing a message of a segment appends a record to the removal log
// (msg/<gen>.rml, see spool_rmlog.go); the segment is deleted with its
// last message, and a log file once all the segments it names are.
//
// A Spool keeps only the schedule in memory (about 150 bytes per
// message); envelopes are read from the files, which the page cache keeps
// warm. Leases are not persisted: after a restart nothing is claimed.
//
// Layout under the spool directory:
//
//	lock        flock(2)ed while open; holds the owner's PID
//	tmp/        files being written (emptied on open: never acknowledged)
//	msg/        data files, segments, envelope updates, removal logs,
//	            spare segment files (msg/<seq>.spare, empty; and
//	            msg/<seq>.recycle, a segment becoming one)
//	            (and the tombstones msg/<ID>.<seq>.rm of earlier versions,
//	            still honoured)
//	corrupt/    files OpenSpool could not use, moved aside (see Recovered)
type Spool struct {
	dir  string
	log  *slog.Logger
	lock *os.File
	msgs *dirSync

	mu        sync.Mutex
	cond      *sync.Cond // signalled when an item stops being busy
	idx       *index
	storing   map[ID]bool
	live      map[uint64]int32 // messages left per segment
	seq       uint64           // last segment number used
	closed    bool
	inflight  sync.WaitGroup
	recovered []Recovered
	cacheMax  int  // envelopes kept decoded in memory
	cacheN    int  // items with a cached envelope
	cacheRing []ID // cached IDs, oldest first (may hold stale entries)

	// fault, set by tests through SpoolOptions.fault, is called before
	// each file system change; an error it returns is that change's
	// error (a full disk, an I/O error, or a simulated crash).
	fault func(op, name string) error

	bufs sync.Pool // *[]byte buffers for small messages

	bmu      sync.Mutex // group commit of small messages
	bcond    *sync.Cond
	bpending []*pendingStore
	brunning bool
	segBuf   []byte // the leader's buffer for a segment's one write

	lmu    sync.Mutex // the removal log (spool_rmlog.go)
	rmGens []*rmGen   // its files, oldest first
	rmCur  *rmGen     // the one appended to; nil until the next removal
	rmSeq  uint64     // last log file number used
	rmMax  int        // records per log file: rmGenRecords (tests change it)

	rmu       sync.Mutex      // taken after mu, never before it
	readers   map[uint64]int  // open readers per segment (under rmu)
	recycling map[uint64]bool // segments being made spares (under rmu)

	spmu     sync.Mutex // spare segment files (spool_spare.go)
	spares   []spareFile
	recycled []spareFile   // recycled segments awaiting the directory fsync that makes them spares
	spWake   chan struct{} // asks for a refill; nil when spares are off
	spStop   chan struct{}
	spDone   chan struct{}
}

// SpoolOptions tunes OpenSpool. The zero value is ready to use.
type SpoolOptions struct {
	// Logger receives what the startup scan recovered or moved aside, and
	// unreadable messages. Nil discards.
	Logger *slog.Logger
	// CacheEnvelopes is how many decoded envelopes the spool keeps in
	// memory (the most recently stored, changed or read), so that the
	// Scheduler can look at due messages without reading files. Default
	// 10000 (a few MB); negative disables the cache.
	CacheEnvelopes int

	// fault is Spool.fault (tests of this package). A spool with faults
	// injected makes no spare segment files, so that the tests' counts of
	// file system changes stay those of the commit itself.
	fault func(op, name string) error
}

// Recovered describes a file OpenSpool found unusable and moved into the
// spool's corrupt/ directory. Nothing is deleted: an operator can inspect
// or restore it.
type Recovered struct {
	// Name is the file's name in msg/.
	Name string
	// MovedTo is its path now; empty when the file stays in msg/ (an
	// unusable envelope update of a message in a shared segment: the
	// message is left out of the schedule and its segment kept).
	MovedTo string
	// Err says what was wrong with it.
	Err error
}

// ErrLocked is wrapped by OpenSpool's error when another process (or
// another Spool in this process) has the spool open.
var ErrLocked = errors.New("queue: spool is in use")

const (
	smallMax       = 128 << 10 // bodies up to this size are group-committed
	segBufMax      = 1 << 20   // segments up to this size are written in one write(2)
	copyBufSize    = 64 << 10
	maxBatch       = 256     // messages per segment
	maxBatchBytes  = 8 << 20 // bytes per segment
	envSuffix      = ".env"
	segSuffix      = ".seg"
	tombSuffix     = ".rm"
	maxScanWorkers = 16

	defaultCacheEnvelopes = 10000
)

var _ Queue = (*Spool)(nil)

// OpenSpool opens (creating it if needed) the spool in dir, locks it
// against other openers, removes unacknowledged temporary files, and scans
// msg/ to rebuild the schedule. Files it cannot use are moved to corrupt/
// and listed by Recovered; they never stop the spool from opening. That
// includes FIFOs, devices, sockets, links and directories, whatever their
// names: they are never opened (a FIFO would block the open).
func OpenSpool(ctx context.Context, dir string, opts *SpoolOptions) (*Spool, error) {
	if opts == nil {
		opts = &SpoolOptions{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{dir, filepath.Join(dir, "tmp"), filepath.Join(dir, "msg"), filepath.Join(dir, "corrupt")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("queue: spool: %w", err)
		}
	}
	lock, err := lockFile(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, err
	}
	s := &Spool{dir: dir, log: log, lock: lock, idx: newIndex(), storing: make(map[ID]bool),
		live: make(map[uint64]int32), readers: make(map[uint64]int), recycling: make(map[uint64]bool), cacheMax: opts.CacheEnvelopes, fault: opts.fault, rmMax: rmGenRecords}
	if s.cacheMax == 0 {
		s.cacheMax = defaultCacheEnvelopes
	}
	s.cond = sync.NewCond(&s.mu)
	s.bcond = sync.NewCond(&s.bmu)
	fail := func(err error) (*Spool, error) {
		if s.msgs != nil {
			s.msgs.f.Close()
		}
		lock.Close()
		return nil, err
	}
	if s.msgs, err = openDirSync(filepath.Join(dir, "msg")); err != nil {
		return fail(err)
	}
	if s.fault != nil {
		s.msgs.hook = func() error { return s.fault("dirsync", "msg") }
	}
	if err := s.cleanTmp(); err != nil {
		return fail(err)
	}
	if err := s.scan(ctx); err != nil {
		return fail(err)
	}
	s.seq = max(s.seq, uint64(time.Now().UnixNano()))
	if s.fault == nil {
		s.startSpares()
	}
	return s, nil
}

// Dir returns the spool directory.
func (s *Spool) Dir() string { return s.dir }

// Recovered lists the files the opening scan found unusable.
func (s *Spool) Recovered() []Recovered {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recovered(nil), s.recovered...)
}

// Len returns the number of messages in the spool.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.idx.items)
}

// Close waits for operations in progress, then releases the lock. Bodies
// already opened stay readable. Further calls return ErrClosed.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	s.inflight.Wait()
	s.closeSpares()
	s.closeLog()
	var err error
	if s.msgs.hasDeferred() {
		err = s.msgs.sync()
	}
	err = errors.Join(err, s.msgs.f.Close())
	return errors.Join(err, s.lock.Close())
}

// begin registers an operation; it fails once the spool is closed.
func (s *Spool) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.inflight.Add(1)
	return nil
}

func (s *Spool) path(name string) string { return filepath.Join(s.dir, "msg", name) }

// inject returns the error a test injects before a file system change
// (op on name), or nil.
func (s *Spool) inject(op, name string) error {
	if s.fault == nil {
		return nil
	}
	return s.fault(op, name)
}

// write writes b to f, or fails as a test injects.
func (s *Spool) write(f *os.File, name string, b []byte) error {
	err := s.inject("write", name)
	if err == nil {
		_, err = f.Write(b)
	}
	if err != nil {
		return fmt.Errorf("queue: spool: writing %s: %w", name, err)
	}
	return nil
}

func segName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segSuffix) }

func tombName(id ID, seq uint64) string { return fmt.Sprintf("%s.%016x%s", id, seq, tombSuffix) }

// loc is where a message's files are.
type loc struct {
	seg uint64
	end int64
	env bool
}

func (l loc) data(id ID) string {
	if l.seg != 0 {
		return segName(l.seg)
	}
	return string(id)
}

func (s *Spool) cleanTmp() error {
	tmp := filepath.Join(s.dir, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	for _, e := range ents {
		// An unfinished write: its Store or Modify never returned success.
		if err := s.inject("scan", "tmp/"+e.Name()); err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return fmt.Errorf("queue: spool: %w", err)
		}
	}
	if len(ents) > 0 {
		s.log.Info("queue spool: removed unfinished writes", slog.Int("files", len(ents)))
	}
	return nil
}
