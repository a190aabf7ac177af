package queue

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
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
// (msg/<seq>.seg) with one file fsync and one directory fsync, so the rate
// is not capped at one fsync per message and nothing is acknowledged
// before it is on disk. Larger bodies are streamed to a file of their own
// (msg/<ID>), never held whole in memory.
//
// State changes write msg/<ID>.env (temporary file, fsync, rename,
// directory fsync), which supersedes the record stored with the body.
// Removing a message of a segment writes a tombstone msg/<ID>.<seq>.rm;
// the segment is deleted with its last message.
//
// A Spool keeps only the schedule in memory (about 150 bytes per
// message); envelopes are read from the files, which the page cache keeps
// warm. Leases are not persisted: after a restart nothing is claimed.
//
// Layout under the spool directory:
//
//	lock        flock(2)ed while open; holds the owner's PID
//	tmp/        files being written (emptied on open: never acknowledged)
//	msg/        data files, segments, envelope updates, tombstones
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

	// fault is Spool.fault (tests of this package).
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
// and listed by Recovered; they never stop the spool from opening.
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
		live: make(map[uint64]int32), cacheMax: opts.CacheEnvelopes, fault: opts.fault}
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
		s.mu.Lock()
		delete(s.storing, id)
		if err == nil {
			s.idx.put(env)
			it := s.idx.items[id]
			it.seg, it.end = at.seg, at.end
			s.remember(it, env)
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

// install makes the temporary file f durable as msg/name: fsync, close,
// rename, directory fsync (shared with concurrent callers). It sets
// *renamed once the file has its final name.
func (s *Spool) install(f *os.File, name string, renamed *bool) error {
	err := s.inject("fsync", name)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return fmt.Errorf("queue: spool: fsync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	if err := s.inject("rename", name); err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	if err := os.Rename(f.Name(), s.path(name)); err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	*renamed = true
	return s.msgs.sync()
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

// writeSegment writes batch to a new segment: temporary file, fsync,
// rename, directory fsync.
func (s *Spool) writeSegment(batch []*pendingStore) (err error) {
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	name := segName(seq)
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), name+".*")
	if err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	renamed := false
	defer func() {
		if err != nil {
			f.Close()
			if renamed {
				os.Remove(s.path(name))
			} else {
				os.Remove(f.Name())
			}
		}
	}()
	var off int64
	for _, q := range batch {
		if err := s.write(f, name, q.data); err != nil {
			return err
		}
		off += int64(len(q.data))
		q.seg, q.end = seq, off
	}
	if err := s.install(f, name, &renamed); err != nil {
		return err
	}
	s.mu.Lock()
	s.live[seq] = int32(len(batch))
	s.mu.Unlock()
	return nil
}

// remember caches a copy of e as it's envelope, evicting the oldest
// cached envelopes beyond cacheMax. The caller holds s.mu.
func (s *Spool) remember(it *item, e *Envelope) {
	if s.cacheMax < 0 {
		return
	}
	c := e.Clone()
	c.Lease = Lease{}
	if it.cache == nil {
		s.cacheN++
		s.cacheRing = append(s.cacheRing, it.id)
	}
	it.cache = &c
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
		b, err := os.ReadFile(s.path(string(id) + envSuffix))
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
		f, err := os.Open(s.path(l.data(id)))
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
	f, err := os.Open(s.path(l.data(id)))
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
	s.mu.Lock()
	it.env = true
	s.idx.put(e)
	s.remember(it, e)
	s.mu.Unlock()
	return nil
}

// writeFile durably replaces msg/name with b. When it fails after the
// rename (the directory fsync failed), renamed is true: msg/name has the
// new content, maybe not durably.
func (s *Spool) writeFile(name string, b []byte) (renamed bool, err error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), name+".*")
	if err != nil {
		return false, fmt.Errorf("queue: spool: %w", err)
	}
	defer func() {
		if err != nil && !renamed {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := s.write(f, name, b); err != nil {
		return false, err
	}
	err = s.install(f, name, &renamed)
	return renamed, err
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

// Remove implements Queue. A message in its own file loses its data file
// first, so that an interruption between the two unlinks never brings back
// the original envelope; a message in a segment gets a tombstone, and the
// segment goes with its last message.
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
	s.mu.Unlock()
	err = s.inject("remove", string(id))
	switch {
	case err != nil:
	case l.seg == 0:
		err = os.Remove(s.path(string(id)))
	default:
		var f *os.File
		if f, err = os.OpenFile(s.path(tombName(id, l.seg)), os.O_WRONLY|os.O_CREATE, 0o600); err == nil {
			err = f.Close()
		}
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
	if last {
		s.dropSegment(l.seg)
	}
	return nil
}

// dropSegment deletes a segment whose messages are all removed, then,
// once that is durable, their tombstones. A failure leaves files that the
// next open cleans up.
func (s *Spool) dropSegment(seq uint64) {
	name := segName(seq)
	var ids []ID
	if f, err := os.Open(s.path(name)); err == nil {
		if st, err := f.Stat(); err == nil {
			es, _ := readEntries(f, st.Size())
			for _, e := range es {
				ids = append(ids, e.env.ID)
			}
		}
		f.Close()
	}
	err := s.inject("remove", name)
	if err == nil {
		err = os.Remove(s.path(name))
	}
	if err != nil {
		s.log.Error("queue spool: cannot remove an empty segment", slog.String("file", name), slog.Any("err", err))
		return
	}
	// The tombstones may go once the segment's removal is durable: the
	// next directory fsync, whoever makes it, deletes them.
	paths := make([]string, len(ids))
	for i, id := range ids {
		paths[i] = s.path(tombName(id, seq))
	}
	s.msgs.afterNextSync(paths)
}

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

// dirSync is group commit for a directory: sync returns once an fsync of
// the directory that started after the call has completed. Callers that
// arrive while an fsync runs share the next one. After a failed fsync
// every later call fails too: what the kernel dropped cannot be known, so
// the spool stops acknowledging mail.
type dirSync struct {
	f       *os.File
	mu      sync.Mutex
	cond    *sync.Cond
	tickets uint64 // calls so far
	done    uint64 // calls covered by a completed fsync
	running bool
	err     error        // sticky
	hook    func() error // tests: called before each fsync; its error is the fsync's
	after   []string     // files to delete once the next fsync completes
}

// afterNextSync deletes paths once a directory fsync that starts after
// this call has completed.
func (g *dirSync) afterNextSync(paths []string) {
	g.mu.Lock()
	g.after = append(g.after, paths...)
	g.mu.Unlock()
}

func (g *dirSync) hasDeferred() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.after) > 0
}

func openDirSync(path string) (*dirSync, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("queue: spool: %w", err)
	}
	g := &dirSync{f: f}
	g.cond = sync.NewCond(&g.mu)
	return g, nil
}

func (g *dirSync) sync() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tickets++
	me := g.tickets
	for g.done < me && g.err == nil {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		upto := g.tickets
		after := g.after
		g.after = nil
		g.mu.Unlock()
		var err error
		if g.hook != nil {
			err = g.hook()
		}
		if err == nil {
			err = g.f.Sync()
		}
		if err == nil {
			for _, p := range after {
				os.Remove(p) // what fails is cleaned up on open
			}
		}
		g.mu.Lock()
		g.running = false
		if err != nil {
			g.err = fmt.Errorf("queue: spool: fsync of %s failed, the spool no longer acknowledges mail: %w", g.f.Name(), err)
		}
		g.done = upto
		g.cond.Broadcast()
	}
	return g.err
}
