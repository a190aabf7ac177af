package queue

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// install makes the temporary file f durable as msg/name: fsync, close,
// rename, directory fsync (shared with concurrent callers). It sets
// *renamed once the file has its final name.
func (s *Spool) install(f *os.File, name string, renamed *bool) error {
	if err := s.syncRename(f, f.Name(), name, renamed); err != nil {
		return err
	}
	return s.msgs.sync()
}

// syncRename fsyncs and closes f, then renames it (at path from) msg/name
// and sets *renamed. The rename is durable once msg/ is fsynced.
func (s *Spool) syncRename(f *os.File, from, name string, renamed *bool) error {
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
	if err := os.Rename(from, s.path(name)); err != nil {
		return fmt.Errorf("queue: spool: %w", err)
	}
	*renamed = true
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

// failed returns the error of an earlier failed fsync, which stands for
// good: nil while fsyncs succeed.
func (g *dirSync) failed() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
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
