package queue

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGroupCommit: callers that arrive while a directory fsync runs share
// the next one, and a failed fsync fails every later call.
func TestGroupCommit(t *testing.T) {
	g, err := openDirSync(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var syncs int
	g.hook = func() error { syncs++; return nil }
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

func openT(t *testing.T, dir string) *Spool {
	t.Helper()
	s, err := OpenSpool(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Recovered(); len(r) > 0 {
		t.Errorf("recovered %+v", r)
	}
	return s
}

// msgNames returns the names of the files in msg/ but the spare segment
// files (empty, made ahead: spool_spare.go).
func msgNames(t *testing.T, dir string) []string {
	t.Helper()
	return bySuffix(dirNames(t, filepath.Join(dir, "msg")), spareSuffix, false)
}

// bySuffix returns the names that end in suffix (want true) or the names
// that do not (want false).
func bySuffix(names []string, suffix string, want bool) []string {
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, suffix) == want {
			out = append(out, n)
		}
	}
	return out
}

// dirNames returns the names of the files in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// storeBatch stores the messages ids as one group commit: it holds the
// batch open until all of them are pending.
func storeBatch(t testing.TB, s *Spool, ids ...ID) {
	t.Helper()
	for _, err := range storeBatchBodies(s, ids, func(id ID) string { return "body of " + string(id) }) {
		if err != nil {
			t.Error(err)
		}
	}
}

// storeBatchBodies stores the messages ids, with the bodies body gives,
// as one group commit, and returns each Store's error.
func storeBatchBodies(s *Spool, ids []ID, body func(ID) string) []error {
	s.bmu.Lock()
	s.brunning = true
	s.bmu.Unlock()
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			e := &Envelope{ID: id, Recipients: []Recipient{{Address: "u@example.com"}}}
			errs[i] = s.Store(context.Background(), e, strings.NewReader(body(id)))
		})
	}
	for {
		s.bmu.Lock()
		n := len(s.bpending)
		s.bmu.Unlock()
		if n == len(ids) {
			break
		}
		runtime.Gosched()
	}
	s.bmu.Lock()
	s.brunning = false
	s.bcond.Broadcast()
	s.bmu.Unlock()
	wg.Wait()
	return errs
}

func body(t *testing.T, s *Spool, id ID) string {
	t.Helper()
	rc, err := s.Body(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSegmentLifecycle: messages stored together share one segment; a
// removed one is tombstoned and stays removed across a reopen, even when
// its ID is used again; the segment and its tombstones go with the last
// message; leftovers of interrupted removals are cleaned on open.
func TestSegmentLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openT(t, dir)
	storeBatch(t, s, "A", "B", "C")
	segs := map[uint64]bool{}
	for _, id := range []ID{"A", "B", "C"} {
		segs[s.idx.items[id].seg] = true
	}
	if len(segs) != 1 || segs[0] {
		t.Fatalf("a batch of 3 went to segments %v", segs)
	}
	var seq uint64
	for k := range segs {
		seq = k
	}
	if got := msgNames(t, dir); !slices.Equal(got, []string{segName(seq)}) {
		t.Fatalf("msg/ holds %v", got)
	}
	if err := s.Remove(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	if err := s.Modify(ctx, "A", func(e *Envelope) error { e.Attempts = 2; return nil }); err != nil {
		t.Fatal(err)
	}
	// B is used again for a new message (in a new segment).
	if err := s.Store(ctx, &Envelope{ID: "B", Recipients: []Recipient{{Address: "v@example.com"}}, Arrival: time.Now()}, strings.NewReader("new B")); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openT(t, dir)
	if s.Len() != 3 || body(t, s, "A") != "body of A" || body(t, s, "C") != "body of C" || body(t, s, "B") != "new B" {
		t.Fatalf("after reopen: %d messages", s.Len())
	}
	if e, _ := s.Get(ctx, "A"); e.Attempts != 2 {
		t.Errorf("A's update lost: %+v", e)
	}
	for _, id := range []ID{"A", "C", "B"} {
		if err := s.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	s.Close() // flushes the deferred tombstone deletions
	if got := msgNames(t, dir); len(got) != 0 {
		t.Errorf("msg/ after removing everything: %v", got)
	}

	// Leftovers: a tombstone of a segment that is gone, and a segment all
	// of whose messages are tombstoned (the process died before it could
	// delete them).
	s = openT(t, dir)
	storeBatch(t, s, "D", "E")
	seq = s.idx.items["D"].seg
	s.Close()
	for _, n := range []string{tombName("D", seq), tombName("E", seq), tombName("X", 12345)} {
		os.WriteFile(filepath.Join(dir, "msg", n), nil, 0o600)
	}
	s = openT(t, dir)
	if s.Len() != 0 {
		t.Errorf("tombstoned messages came back: %d", s.Len())
	}
	if got := msgNames(t, dir); len(got) != 0 {
		t.Errorf("leftovers not cleaned: %v", got)
	}
	s.Close()
}
