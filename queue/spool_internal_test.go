package queue

import (
	"runtime"
	"sync"
	"testing"
)

// TestGroupCommit: callers that arrive while a directory fsync runs share
// the next one, and a failed fsync fails every later call.
func TestGroupCommit(t *testing.T) {
	g, err := openDirSync(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var syncs int
	g.hook = func() { syncs++ }
	// An fsync is "running": ten callers queue up behind it.
	g.mu.Lock()
	g.running = true
	g.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() { errs <- g.sync() })
	}
	for {
		g.mu.Lock()
		n := g.tickets
		g.mu.Unlock()
		if n == 10 {
			break
		}
		runtime.Gosched()
	}
	g.mu.Lock()
	g.running = false
	g.cond.Broadcast()
	g.mu.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if syncs != 1 {
		t.Errorf("10 waiting callers took %d fsyncs, want 1", syncs)
	}
	// A lone caller gets its own fsync, started after its call.
	if err := g.sync(); err != nil || syncs != 2 {
		t.Errorf("lone sync: %v, %d fsyncs", err, syncs)
	}
	g.f.Close()
	if err := g.sync(); err == nil {
		t.Fatal("fsync of a closed directory succeeded")
	}
	if err := g.sync(); err == nil {
		t.Error("a later sync succeeded after a failed fsync")
	}
}
