package lookup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mxrelay/mxrelay/internal/regfile"
)

// fileState identifies one version of a file.
type fileState struct {
	ino   uint64
	size  int64
	mtime time.Time
}

func statFile(path string) (fileState, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileState{}, err
	}
	st := fileState{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st, nil
}

// reloader holds a value loaded from a file and loads it again when the
// file changes, checking at most once per interval. A failed reload keeps
// the old value and is reported through the logger and Err.
type reloader[T any] struct {
	spec, path string
	o          *OpenOptions
	load       func(path string) (T, []Warning, error)

	cur       atomic.Pointer[loaded[T]]
	epoch     time.Time    // carries a monotonic reading: clock() is cheap
	nextCheck atomic.Int64 // clock() value of the next check
	mu        sync.Mutex   // serialises reloads
	lastErr   atomic.Pointer[error]
}

type loaded[T any] struct {
	v        T
	state    fileState
	warnings []Warning
}

func newReloader[T any](spec, path string, o *OpenOptions, load func(string) (T, []Warning, error)) (*reloader[T], error) {
	r := &reloader[T]{spec: spec, path: path, o: o, load: load, epoch: time.Now()}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *reloader[T]) reload() error {
	st, err := statFile(r.path)
	if err == nil {
		var v T
		var w []Warning
		v, w, err = r.load(r.path)
		if err == nil {
			r.cur.Store(&loaded[T]{v: v, state: st, warnings: w})
			for _, x := range w {
				r.o.logger().Warn(x.String(), "table", r.spec)
			}
			r.lastErr.Store(nil)
			return nil
		}
	}
	if _, ok := err.(*Error); !ok {
		err = &Error{Table: r.spec, Kind: Config, Err: err}
	}
	r.lastErr.Store(&err)
	return err
}

// get returns the current value, reloading first when the file changed.
func (r *reloader[T]) get() *loaded[T] {
	iv := r.o.reloadInterval()
	if iv < 0 {
		return r.cur.Load()
	}
	now := r.clock()
	next := r.nextCheck.Load()
	if now >= next && r.nextCheck.CompareAndSwap(next, now+int64(iv)) {
		r.check()
	}
	return r.cur.Load()
}

// clock returns the time in nanoseconds on a scale of its own: from
// OpenOptions.Now when set, else the monotonic time since the table was
// opened. The latter is one monotonic clock read (time.Since's fast
// path), half the cost of time.Now, which also reads the wall clock; it
// runs on every lookup, so it matters.
func (r *reloader[T]) clock() int64 {
	if r.o != nil && r.o.Now != nil {
		return r.o.Now().UnixNano()
	}
	return int64(time.Since(r.epoch))
}

// check reloads the file if it changed. The file is opened and read by a
// goroutine of its own, outside any lock that lookups take: the caller
// waits for it at most OpenOptions.ReloadTimeout, then goes on with the
// previous contents, and while a reload is under way other checks return
// at once (the contents are swapped in atomically when it is done). Only
// regular files are opened (regfile), so a FIFO or device put in the
// file's place fails the reload instead of blocking it.
func (r *reloader[T]) check() {
	if !r.mu.TryLock() {
		return // a reload is under way; answer from the current contents
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer r.mu.Unlock()
		st, err := statFile(r.path)
		cur := r.cur.Load()
		if err == nil && st == cur.state {
			return
		}
		if err := r.reload(); err != nil {
			r.o.logger().Error("table reload failed; keeping the previous contents", "table", r.spec, "err", err)
		}
	}()
	t := time.NewTimer(r.o.reloadTimeout())
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.o.logger().Warn("table reload is taking long; answering from the previous contents meanwhile", "table", r.spec, "timeout", r.o.reloadTimeout())
	}
}

// Err returns the error of the last failed reload, or nil when the last
// (re)load succeeded.
func (r *reloader[T]) Err() error {
	if p := r.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Warnings returns the warnings of the most recent successful load.
func (r *reloader[T]) Warnings() []Warning { return r.cur.Load().warnings }

// String returns the table's spec, "type:name".
func (r *reloader[T]) String() string { return r.spec }

// HashTable is a hash:, texthash:, btree:, lmdb: or dbm: table: the
// postmap source file parsed into an in-memory hash, as ParseText reads it. It reloads itself when
// the file changes; a reload that fails keeps the previous contents and is
// reported by Err and the logger.
type HashTable struct {
	*reloader[*Map]
}

// sourceTypes are the table types whose file Postfix builds with postmap
// from a source file, and the files postmap writes for each: mxrelay reads
// the source itself (see the package docs, "Deliberate differences").
var sourceTypes = map[string][]string{
	"hash":  {".db"},
	"btree": {".db"},
	"lmdb":  {".lmdb"},
	"dbm":   {".dir", ".pag"},
}

// builtFileKind names the format of a file postmap builds.
func builtFileKind(suffix string) string {
	switch suffix {
	case ".db":
		return "a Berkeley DB file"
	case ".lmdb":
		return "an LMDB file"
	}
	return "a DBM file"
}

// openSourceType returns the opener of a type read from its postmap
// source file.
func openSourceType(typ string) OpenFunc {
	return func(_ context.Context, path string, o *OpenOptions) (Table, error) {
		return openSource(typ, path, o)
	}
}

// openSource reads the postmap source file path of a table of type typ
// (hash:, btree:, lmdb:, dbm:) into memory.
func openSource(typ, path string, o *OpenOptions) (Table, error) {
	spec := typ + ":" + path
	if path == "" {
		return nil, fmt.Errorf("%s: needs a file name", typ)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		for _, suffix := range sourceTypes[typ] {
			if _, err2 := os.Stat(path + suffix); err2 == nil {
				return nil, errorf(spec, "", Config, "%s%s is %s, which mxrelay does not read; %s: tables are loaded from their source file %s, which is missing", path, suffix, builtFileKind(suffix), typ, path)
			}
		}
	}
	r, err := newReloader(spec, path, o, func(p string) (*Map, []Warning, error) {
		f, err := regfile.Open(p)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		e, w, err := ParseText(f, p, o.Parse)
		if err != nil {
			return nil, nil, err
		}
		m := make(map[string]string, len(e))
		for _, x := range e {
			m[x.Key] = x.Value
		}
		return newMapFolded(spec, m, !o.Parse.NoFold), w, nil
	})
	if err != nil {
		return nil, err
	}
	return HashTable{r}, nil
}

// Lookup looks key up in the current contents of the file.
func (t HashTable) Lookup(ctx context.Context, key string) (string, bool, error) {
	return t.get().v.Lookup(ctx, key)
}

// All returns the current entries in key order. It never fails.
func (t HashTable) All() ([]Entry, error) { return t.get().v.All(), nil }
