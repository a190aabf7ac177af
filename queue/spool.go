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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Spool is the file-backed Queue, the default for an embedded relay. Each
// message is one data file, msg/<ID>, holding the body followed by the
// envelope record (see EncodeEnvelope) and a fixed-size footer; state
// changes write msg/<ID>.env, which supersedes the record in the data file.
// Every file is written under tmp/, fsynced and renamed into place, and the
// msg directory is fsynced before Store, Modify or Remove return, so an
// acknowledged message survives a crash (power loss included, on a file
// system that honours fsync). Concurrent operations share directory fsyncs
// (group commit), and their data-file fsyncs run in parallel, which the
// file system's journal batches.
//
// A Spool keeps only the schedule in memory (about 150 bytes per message);
// envelopes are read from the files, which the page cache keeps warm.
// Leases are not persisted: after a restart nothing is claimed.
//
// Layout under the spool directory:
//
//	lock        flock(2)ed while open; holds the owner's PID
//	tmp/        files being written (emptied on open: never acknowledged)
//	msg/        <ID> data files and <ID>.env envelope updates
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
	closed    bool
	inflight  sync.WaitGroup
	recovered []Recovered
}

// SpoolOptions tunes OpenSpool. The zero value is ready to use.
type SpoolOptions struct {
	// Logger receives what the startup scan recovered or moved aside.
	// Nil discards.
	Logger *slog.Logger
}

// Recovered describes a file OpenSpool found unusable and moved into the
// spool's corrupt/ directory. Nothing is deleted: an operator can inspect
// or restore it.
type Recovered struct {
	// Name is the file's name in msg/.
	Name string
	// MovedTo is its path now.
	MovedTo string
	// Err says what was wrong with it.
	Err error
}

// ErrLocked is wrapped by OpenSpool's error when another process (or
// another Spool in this process) has the spool open.
var ErrLocked = errors.New("queue: spool is in use")

const (
	footerLen   = 32 // "\nMXQB %016x %08x\n": body length, body CRC-32C
	footerMagic = "\nMXQB "
	copyBufSize = 64 << 10
	envSuffix   = ".env"
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
	s := &Spool{dir: dir, log: log, lock: lock, idx: newIndex(), storing: make(map[ID]bool)}
	s.cond = sync.NewCond(&s.mu)
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
	if err := s.cleanTmp(); err != nil {
		return fail(err)
	}
	if err := s.scan(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// Dir returns the spool directory.
func (s *Spool) Dir() string { return s.dir }

// Recovered lists the files the opening scan moved aside.
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
	err := s.msgs.f.Close()
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

func (s *Spool) cleanTmp() error {
	tmp := filepath.Join(s.dir, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	for _, e := range ents {
		// An unfinished write: its Store or Modify never returned success.
		if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
			return fmt.Errorf("queue: spool: %w", err)
		}
	}
	if len(ents) > 0 {
		s.log.Info("queue spool: removed unfinished writes", slog.Int("files", len(ents)))
	}
	return nil
}

// Store implements Queue: the body goes to a temporary file followed by
// the envelope record, which is fsynced, renamed to msg/<ID>, and the
// directory fsynced (shared with concurrent operations) before Store
// returns.
func (s *Spool) Store(ctx context.Context, env *Envelope, body io.Reader) (err error) {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.inflight.Done()
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
	defer func() {
		s.mu.Lock()
		delete(s.storing, id)
		if err == nil {
			s.idx.put(env)
		}
		s.mu.Unlock()
	}()

	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), string(id)+".*")
	if err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if err != nil {
			f.Close()
			if renamed {
				os.Remove(s.path(string(id)))
			} else {
				os.Remove(tmp)
			}
		}
	}()
	n, sum, buf, err := copyBody(ctx, f, body)
	if err != nil {
		return err
	}
	env.Size = n
	rec, err := EncodeEnvelope(env)
	if err != nil {
		return err
	}
	buf = append(append(buf, rec...), footer(n, sum)...)
	if _, err := f.Write(buf); err != nil {
		return fmt.Errorf("queue: spool: writing %s: %w", id, err)
	}
	putBuf(buf)
	if err := f.Sync(); err != nil {
		return fmt.Errorf("queue: spool: fsync %s: %w", id, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	if err := os.Rename(tmp, s.path(string(id))); err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	renamed = true
	if err := s.msgs.sync(); err != nil {
		return err
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, copyBufSize+4096); return &b }}

func putBuf(b []byte) {
	if cap(b) <= 4*copyBufSize {
		b = b[:0]
		bufPool.Put(&b)
	}
}

// copyBody copies body into f through a pooled buffer and returns the
// byte count, the body's CRC-32C and the buffer holding the unwritten
// tail (the caller appends the record to it, so a small message takes one
// write).
func copyBody(ctx context.Context, f *os.File, body io.Reader) (int64, uint32, []byte, error) {
	buf := (*bufPool.Get().(*[]byte))[:0]
	var n int64
	var sum uint32
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, nil, err
		}
		if len(buf) == copyBufSize {
			if _, err := f.Write(buf); err != nil {
				return 0, 0, nil, fmt.Errorf("queue: spool: writing body: %w", err)
			}
			buf = buf[:0]
		}
		k, err := body.Read(buf[len(buf):copyBufSize])
		sum = crc32.Update(sum, castagnoli, buf[len(buf):len(buf)+k])
		buf = buf[:len(buf)+k]
		n += int64(k)
		if err == io.EOF {
			return n, sum, buf, nil
		}
		if err != nil {
			return 0, 0, nil, fmt.Errorf("queue: reading body: %w", err)
		}
	}
}

func footer(bodyLen int64, sum uint32) []byte {
	return fmt.Appendf(nil, "%s%016x %08x\n", footerMagic, bodyLen, sum)
}

// parseFooter returns the body length and CRC-32C that the footer ft of a
// data file of size bytes declares.
func parseFooter(ft []byte, size int64) (int64, uint32, error) {
	bad := fmt.Errorf("%w: bad data file footer", ErrCorrupt)
	if len(ft) != footerLen || string(ft[:len(footerMagic)]) != footerMagic || ft[footerLen-1] != '\n' || ft[footerLen-10] != ' ' {
		return 0, 0, bad
	}
	n, err1 := strconv.ParseUint(string(ft[len(footerMagic):footerLen-10]), 16, 63)
	sum, err2 := strconv.ParseUint(string(ft[footerLen-9:footerLen-1]), 16, 32)
	if err1 != nil || err2 != nil || int64(n) > size-footerLen {
		return 0, 0, bad
	}
	return int64(n), uint32(sum), nil
}

// readData reads the record embedded in an open data file and returns it
// with the body length. It checks that the record fills the space between
// body and footer exactly and that its Size is the body's length.
func readData(f *os.File) (*Envelope, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := st.Size()
	if size < footerLen {
		return nil, 0, fmt.Errorf("%w: data file of %d bytes", ErrCorrupt, size)
	}
	// One read usually gets the record and the footer.
	tail := min(size, 4096)
	b := make([]byte, tail)
	if _, err := f.ReadAt(b, size-tail); err != nil {
		return nil, 0, err
	}
	bodyLen, _, err := parseFooter(b[tail-footerLen:], size)
	if err != nil {
		return nil, 0, err
	}
	recLen := size - footerLen - bodyLen
	if recLen > maxRecordSize+64 {
		return nil, 0, fmt.Errorf("%w: record of %d bytes", ErrCorrupt, recLen)
	}
	if recLen > tail-footerLen {
		b = make([]byte, recLen+footerLen)
		if _, err := f.ReadAt(b, bodyLen); err != nil {
			return nil, 0, err
		}
	} else {
		b = b[tail-footerLen-recLen:]
	}
	e, n, err := decodeRecord(b[:recLen])
	if err != nil {
		return nil, 0, err
	}
	if int64(n) != recLen {
		return nil, 0, fmt.Errorf("%w: %d bytes after the record", ErrCorrupt, recLen-int64(n))
	}
	if e.Size != bodyLen {
		return nil, 0, fmt.Errorf("%w: envelope size %d, body %d bytes", ErrCorrupt, e.Size, bodyLen)
	}
	return e, bodyLen, nil
}

// load reads the current envelope of id: msg/<ID>.env when hasEnv, else
// the record in the data file.
func (s *Spool) load(id ID, hasEnv bool) (*Envelope, error) {
	if hasEnv {
		b, err := os.ReadFile(s.path(string(id) + envSuffix))
		if err != nil {
			return nil, err
		}
		e, n, err := decodeRecord(b)
		if err == nil && n != len(b) {
			err = fmt.Errorf("%w: %d bytes after the record", ErrCorrupt, len(b)-n)
		}
		if err == nil && e.ID != id {
			err = fmt.Errorf("%w: record of message %s", ErrCorrupt, e.ID)
		}
		return e, err
	}
	f, err := os.Open(s.path(string(id)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	e, _, err := readData(f)
	if err == nil && e.ID != id {
		err = fmt.Errorf("%w: record of message %s", ErrCorrupt, e.ID)
	}
	return e, err
}

// getItem returns the schedule entry of id, or ErrNotFound.
func (s *Spool) getItem(id ID) (hasEnv bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.idx.items[id]
	if it == nil {
		return false, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return it.env, nil
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
	hasEnv, err := s.getItem(id)
	if err != nil {
		return Envelope{}, err
	}
	e, err := s.load(id, hasEnv)
	if err != nil {
		return Envelope{}, notFound(id, err)
	}
	s.mu.Lock()
	e.Lease = s.idx.lease(id)
	s.mu.Unlock()
	return *e, nil
}

// bodyReader streams a body and checks its CRC-32C at the end: a body
// damaged on disk gives an error wrapping ErrCorrupt instead of io.EOF, so
// it is never delivered as if it were whole.
type bodyReader struct {
	r   *io.SectionReader
	f   *os.File
	id  ID
	sum uint32
	got uint32
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.got = crc32.Update(b.got, castagnoli, p[:n])
	if err == io.EOF && b.got != b.sum {
		return n, fmt.Errorf("%w: message %s: body checksum mismatch", ErrCorrupt, b.id)
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.f.Close() }

// Body implements Queue. The reader streams from the data file, checks
// the body's checksum at the end, and stays valid after the message is
// removed.
func (s *Spool) Body(ctx context.Context, id ID) (io.ReadCloser, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.inflight.Done()
	if _, err := s.getItem(id); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(string(id)))
	if err != nil {
		return nil, notFound(id, err)
	}
	st, err := f.Stat()
	if err == nil && st.Size() < footerLen {
		err = fmt.Errorf("%w: data file of %d bytes", ErrCorrupt, st.Size())
	}
	var n int64
	var sum uint32
	if err == nil {
		ft := make([]byte, footerLen)
		if _, err = f.ReadAt(ft, st.Size()-footerLen); err == nil {
			n, sum, err = parseFooter(ft, st.Size())
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: spool: message %s: %w", id, err)
	}
	return &bodyReader{r: io.NewSectionReader(f, 0, n), f: f, id: id, sum: sum}, nil
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
	e, err := s.load(id, it.env)
	if err != nil {
		return notFound(id, err)
	}
	s.mu.Lock()
	e.Lease = s.idx.lease(id)
	s.mu.Unlock()
	size := e.Size
	if err := fn(e); err != nil {
		return err
	}
	e.ID, e.Size = id, size
	rec, err := EncodeEnvelope(e)
	if err != nil {
		return err
	}
	if err := s.writeFile(string(id)+envSuffix, rec); err != nil {
		return err
	}
	s.mu.Lock()
	it.env = true
	s.idx.put(e)
	s.mu.Unlock()
	return nil
}

// writeFile durably replaces msg/name with b.
func (s *Spool) writeFile(name string, b []byte) (err error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), name+".*")
	if err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("queue: spool: writing %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("queue: spool: fsync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	if err := os.Rename(f.Name(), s.path(name)); err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	return s.msgs.sync()
}

// Remove implements Queue. The data file goes first, so that a crash
// between the two unlinks never brings back the original envelope.
func (s *Spool) Remove(ctx context.Context, id ID) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.inflight.Done()
	it, err := s.acquire(id)
	if err != nil {
		return err
	}
	defer s.cond.Broadcast()
	defer s.mu.Unlock()
	err = os.Remove(s.path(string(id)))
	if err == nil && it.env {
		err = os.Remove(s.path(string(id) + envSuffix))
	}
	if err == nil {
		err = s.msgs.sync()
	}
	s.mu.Lock()
	it.busy = false
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("queue: spool: removing %s: %w", id, err)
	}
	s.idx.remove(id)
	return nil
}

// Claim implements Queue. Envelopes are read from disk; a message whose
// files cannot be read is skipped (and logged), not handed out.
func (s *Spool) Claim(ctx context.Context, now time.Time, lease time.Duration, accept func(*Envelope) bool) (Envelope, error) {
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
		e, err := s.load(id, it.env)
		if err != nil {
			s.log.Error("queue spool: cannot read message", slog.String("id", string(id)), slog.Any("err", err))
			return nil, false
		}
		return e, true
	})
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
		hasEnv, err := s.getItem(id)
		if err != nil {
			continue
		}
		e, err := s.load(id, hasEnv)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("queue: spool: message %s: %w", id, err)
		}
		s.mu.Lock()
		e.Lease = s.idx.lease(id)
		s.mu.Unlock()
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// scan rebuilds the schedule from msg/. It reads the files in parallel.
func (s *Spool) scan(ctx context.Context) error {
	d, err := os.Open(filepath.Join(s.dir, "msg"))
	if err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("queue: spool: reading msg/: %w", err)
	}
	data := make(map[string]bool, len(names))
	envs := make(map[string]bool)
	var bad []Recovered
	for _, n := range names {
		switch base, isEnv := strings.CutSuffix(n, envSuffix); {
		case !ID(base).Valid():
			bad = append(bad, Recovered{Name: n, Err: errors.New("not a spool file name")})
		case isEnv:
			envs[base] = true
		default:
			data[n] = true
		}
	}
	for n := range envs {
		if data[n] {
			continue
		}
		// Remove unlinks the data file first, and Modify never writes an
		// envelope for a message without one: this is what an
		// interrupted Remove leaves, the rest of a message already gone.
		if err := os.Remove(s.path(n + envSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("queue: spool: %w", err)
		}
		s.log.Info("queue spool: finished an interrupted removal", slog.String("id", n))
	}
	ids := make([]string, 0, len(data))
	for n := range data {
		ids = append(ids, n)
	}
	type result struct {
		env *Envelope
		err error
	}
	res := make([]result, len(ids))
	workers := min(max(runtime.GOMAXPROCS(0)*2, 2), 16)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(ids); i += workers {
				if ctx.Err() != nil {
					return
				}
				res[i].env, res[i].err = s.scanOne(ID(ids[i]), envs[ids[i]])
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, r := range res {
		id := ID(ids[i])
		if r.err != nil {
			bad = append(bad, Recovered{Name: ids[i], Err: r.err})
			if envs[ids[i]] {
				bad = append(bad, Recovered{Name: ids[i] + envSuffix, Err: fmt.Errorf("moved with its data file: %w", r.err)})
			}
			continue
		}
		s.idx.put(r.env)
		s.idx.items[id].env = envs[ids[i]]
	}
	if len(bad) == 0 {
		return nil
	}
	stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
	for i := range bad {
		r := &bad[i]
		r.MovedTo = filepath.Join(s.dir, "corrupt", r.Name+"."+stamp)
		if err := os.Rename(s.path(r.Name), r.MovedTo); err != nil {
			return fmt.Errorf("queue: spool: moving aside %s: %w", r.Name, err)
		}
		s.log.Warn("queue spool: moved aside an unusable file", slog.String("file", r.Name),
			slog.String("to", r.MovedTo), slog.Any("err", r.Err))
	}
	s.recovered = bad
	return s.msgs.sync()
}

// scanOne reads and cross-checks the files of one message.
func (s *Spool) scanOne(id ID, hasEnv bool) (*Envelope, error) {
	f, err := os.Open(s.path(string(id)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	e, bodyLen, err := readData(f)
	if err != nil {
		return nil, err
	}
	if e.ID != id {
		return nil, fmt.Errorf("%w: data file holds message %s", ErrCorrupt, e.ID)
	}
	if !hasEnv {
		return e, nil
	}
	u, err := s.load(id, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id+envSuffix, err)
	}
	if u.Size != bodyLen {
		return nil, fmt.Errorf("%w: %s: size %d, body %d bytes", ErrCorrupt, id+envSuffix, u.Size, bodyLen)
	}
	return u, nil
}

// dirSync is group commit for a directory: sync returns once an fsync of
// the directory that started after the call has completed. Callers that
// arrive while an fsync runs share the next one, so n concurrent renames
// cost about two fsyncs, not n. After a failed fsync every later call
// fails too: what the kernel dropped cannot be known, so the spool stops
// acknowledging mail.
type dirSync struct {
	f       *os.File
	mu      sync.Mutex
	cond    *sync.Cond
	tickets uint64 // calls so far
	done    uint64 // calls covered by a completed fsync
	running bool
	err     error  // sticky
	hook    func() // tests: called before each fsync
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
		g.mu.Unlock()
		if g.hook != nil {
			g.hook()
		}
		err := g.f.Sync()
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
