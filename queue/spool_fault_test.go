package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// faulty is an injectable fault: the n-th call (from 1) of op fails with
// err; n = 0 fails every call of op.
type faulty struct {
	mu    sync.Mutex
	op    string
	n     int
	calls int
	err   error
}

func (f *faulty) fault(op, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.op != op {
		return nil
	}
	f.calls++
	if f.n == 0 || f.calls == f.n {
		return f.err
	}
	return nil
}

func (f *faulty) set(op string, n int, err error) {
	f.mu.Lock()
	f.op, f.n, f.calls, f.err = op, n, 0, err
	f.mu.Unlock()
}

// snapshot is what a spool shows: its messages (envelope records and
// bodies) and the names in msg/ and tmp/.
func snapshot(t *testing.T, s *Spool) map[ID]string {
	t.Helper()
	out := map[ID]string{}
	err := s.Walk(context.Background(), func(e *Envelope) error {
		rec, err := EncodeEnvelope(e)
		if err != nil {
			return err
		}
		out[e.ID] = string(rec) + "|" + body(t, s, e.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tmpNames(t *testing.T, dir string) []string {
	t.Helper()
	return dirNames(t, filepath.Join(dir, "tmp"))
}

func sameSnapshot(t *testing.T, what string, got, want map[ID]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d messages, want %d", what, len(got), len(want))
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: message %s changed or lost:\n got %.200q\nwant %.200q", what, id, got[id], w)
		}
	}
}

// TestSpoolFaults: a full disk (ENOSPC) or an I/O error (EIO) at each
// file system step of Store (small, group-committed, large), Modify and
// Remove gives a clear error wrapping the errno; nothing half-written is
// visible, before or after a reopen; nothing acknowledged is lost or
// changed; and the spool goes on working once the fault is gone (except
// after a failed directory fsync, after which it refuses to acknowledge
// mail until reopened).
func TestSpoolFaults(t *testing.T) {
	ctx := context.Background()
	small := strings.Repeat("small body\r\n", 100)
	large := strings.Repeat("large body line\r\n", 20000) // 340 KB: its own file
	for _, size := range []string{"small", "large"} {
		for _, op := range []string{"write", "fsync", "rename", "dirsync"} {
			for _, errno := range []error{syscall.ENOSPC, syscall.EIO} {
				t.Run(fmt.Sprintf("%s/%s/%v", size, op, errno), func(t *testing.T) {
					dir := t.TempDir()
					f := &faulty{}
					s, err := OpenSpool(ctx, dir, &SpoolOptions{fault: f.fault})
					if err != nil {
						t.Fatal(err)
					}
					defer func() { s.Close() }()
					// Acknowledged before the fault: one of each kind,
					// one modified.
					for i, b := range []string{small, large} {
						e := &Envelope{ID: ID(fmt.Sprint("OLD", i)), Recipients: []Recipient{{Address: "u@example.com"}}}
						if err := s.Store(ctx, e, strings.NewReader(b)); err != nil {
							t.Fatal(err)
						}
					}
					if err := s.Modify(ctx, "OLD1", func(e *Envelope) error { e.Attempts = 7; return nil }); err != nil {
						t.Fatal(err)
					}
					before := snapshot(t, s)
					names := msgNames(t, dir)

					b := small
					if size == "large" {
						b = large
					}
					f.set(op, 0, errno)
					e := &Envelope{ID: "NEW", Recipients: []Recipient{{Address: "u@example.com"}}}
					err = s.Store(ctx, e, strings.NewReader(b))
					if !errors.Is(err, errno) {
						t.Fatalf("Store under %v at %s = %v; want an error wrapping it", errno, op, err)
					}
					if _, err := s.Get(ctx, "NEW"); !errors.Is(err, ErrNotFound) {
						t.Errorf("failed Store visible: Get = %v", err)
					}
					if got := msgNames(t, dir); !slices.Equal(got, names) {
						t.Errorf("failed Store left files in msg/: %v, before %v", got, names)
					}
					if got := tmpNames(t, dir); len(got) != 0 {
						t.Errorf("failed Store left temporary files: %v", got)
					}
					// Modify and Remove under the same fault fail cleanly.
					// (After a failed directory fsync every later one fails
					// with the sticky error, which wraps the first.)
					err = s.Modify(ctx, "OLD0", func(e *Envelope) error { e.Attempts = 9; return nil })
					if !errors.Is(err, errno) {
						t.Errorf("Modify under %v at %s = %v", errno, op, err)
					}
					sameSnapshot(t, "after failed Store and Modify", snapshot(t, s), before)
					f.set("remove", 0, errno)
					if err := s.Remove(ctx, "OLD0"); !errors.Is(err, errno) {
						t.Errorf("Remove under %v = %v", errno, err)
					}
					sameSnapshot(t, "after failed Remove", snapshot(t, s), before)

					// The fault is gone.
					f.set("", 0, nil)
					err = s.Store(ctx, &Envelope{ID: "AFTER", Recipients: []Recipient{{Address: "u@example.com"}}}, strings.NewReader(b))
					if op == "dirsync" {
						// What the kernel dropped is unknown: no more
						// acknowledgements from this Spool.
						if err == nil {
							t.Fatal("Store acknowledged after a failed directory fsync")
						}
					} else if err != nil {
						t.Fatalf("Store after the fault: %v", err)
					}
					want := before
					if err == nil {
						want = snapshot(t, s)
						if len(want) != len(before)+1 {
							t.Fatalf("store after the fault not visible")
						}
					}
					s.Close()
					s, err = OpenSpool(ctx, dir, nil)
					if err != nil {
						t.Fatalf("reopen: %v", err)
					}
					if r := s.Recovered(); len(r) != 0 {
						t.Errorf("reopen moved files aside: %+v", r)
					}
					sameSnapshot(t, "after reopen", snapshot(t, s), want)
					if err := s.Store(ctx, &Envelope{ID: "REOPENED", Recipients: []Recipient{{Address: "u@example.com"}}}, strings.NewReader(b)); err != nil {
						t.Errorf("Store after reopen: %v", err)
					}
				})
			}
		}
	}
}

// TestSpoolFaultRemoveHalf: when Remove takes the message's data away but
// cannot delete its envelope update, the message is gone (not listed with
// a body that no longer opens), now and after a reopen, which finishes the
// removal.
func TestSpoolFaultRemoveHalf(t *testing.T) {
	ctx := context.Background()
	for _, b := range []string{"small", strings.Repeat("large\r\n", 30000)} {
		dir := t.TempDir()
		f := &faulty{}
		s, err := OpenSpool(ctx, dir, &SpoolOptions{fault: f.fault})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []ID{"M", "N"} {
			if err := s.Store(ctx, &Envelope{ID: id, Recipients: []Recipient{{Address: "u@example.com"}}}, strings.NewReader(b)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Modify(ctx, "M", func(e *Envelope) error { e.Attempts = 1; return nil }); err != nil {
			t.Fatal(err)
		}
		f.set("remove", 2, syscall.EIO) // the envelope update's unlink
		if err := s.Remove(ctx, "M"); err != nil {
			t.Errorf("Remove = %v; the message's data is gone, so it is removed", err)
		}
		if _, err := s.Get(ctx, "M"); !errors.Is(err, ErrNotFound) {
			t.Errorf("half-removed message still listed: %v", err)
		}
		s.Close()
		s = openT(t, dir)
		if _, err := s.Get(ctx, "M"); !errors.Is(err, ErrNotFound) {
			t.Errorf("half-removed message back after reopen: %v", err)
		}
		if body(t, s, "N") != b || slices.Contains(msgNames(t, dir), "M.env") {
			t.Errorf("after reopen: msg/ %v", msgNames(t, dir))
		}
		s.Close()
	}
}

// TestSpoolFaultGroupCommit: when the write of a group-committed segment
// fails, every Store of the batch fails and none is visible: a segment
// written in one write, and one too large for the leader's buffer,
// written message by message, failing at its third.
func TestSpoolFaultGroupCommit(t *testing.T) {
	for _, c := range []struct {
		body  string
		write int
	}{{"body", 1}, {strings.Repeat("x", 120<<10), 3}} {
		ctx := context.Background()
		dir := t.TempDir()
		f := &faulty{}
		s, err := OpenSpool(ctx, dir, &SpoolOptions{fault: f.fault})
		if err != nil {
			t.Fatal(err)
		}
		f.set("write", c.write, syscall.ENOSPC)
		ids := make([]ID, 10)
		for i := range ids {
			ids[i] = ID(fmt.Sprint("M", i))
		}
		errs := storeBatchBodies(s, ids, func(ID) string { return c.body })
		for i, err := range errs {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("%d-byte bodies: Store %s of the failed batch = %v", len(c.body), ids[i], err)
			}
		}
		if s.Len() != 0 || len(msgNames(t, dir)) != 0 || len(tmpNames(t, dir)) != 0 {
			t.Errorf("%d-byte bodies: failed batch left %d messages, msg/ %v, tmp/ %v", len(c.body), s.Len(), msgNames(t, dir), tmpNames(t, dir))
		}
		s.Close()
	}
}

// TestSpoolFullDisk fills a real 1 MiB tmpfs (needs root to mount it;
// skipped otherwise, TestSpoolFaults injects the same errors everywhere):
// Stores fail with ENOSPC once it is full, every acknowledged message
// stays intact, nothing half-written is visible, the spool reopens on
// the full disk, and once space is freed Stores succeed again.
func TestSpoolFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	ctx := context.Background()
	s, err := OpenSpool(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	acked := map[ID]string{}
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		b := strings.Repeat(fmt.Sprintf("line %d\r\n", i), 1+i%5*(1+i%3)*700) // up to ~170 KB
		id := ID(fmt.Sprint("M", i))
		switch err := s.Store(ctx, &Envelope{ID: id, Recipients: []Recipient{{Address: "u@example.com"}}}, strings.NewReader(b)); {
		case err == nil:
			acked[id] = b
		case errors.Is(err, syscall.ENOSPC):
			full = err
			if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("failed Store visible: %v", err)
			}
		default:
			t.Fatalf("Store: %v", err)
		}
	}
	if full == nil {
		t.Fatal("the 1 MiB tmpfs never filled")
	}
	t.Logf("%d messages acknowledged, then: %v", len(acked), full)
	check := func(what string) {
		t.Helper()
		if s.Len() != len(acked) {
			t.Errorf("%s: %d messages, %d acknowledged", what, s.Len(), len(acked))
		}
		for id, b := range acked {
			if got := body(t, s, id); got != b {
				t.Errorf("%s: %s: body of %d bytes, want %d", what, id, len(got), len(b))
			}
		}
		if n := tmpNames(t, dir); len(n) != 0 {
			t.Errorf("%s: temporary files left: %v", what, n)
		}
	}
	check("full")
	// Modify on the full disk: it succeeds or fails, never half.
	for id := range acked {
		err := s.Modify(ctx, id, func(e *Envelope) error { e.Attempts = 3; return nil })
		if e, gerr := s.Get(ctx, id); gerr != nil || (err == nil) != (e.Attempts == 3) {
			t.Errorf("Modify on a full disk: %v; envelope %+v, %v", err, e, gerr)
		}
		if err == nil {
			break
		}
	}
	s.Close()
	if s, err = OpenSpool(ctx, dir, nil); err != nil {
		t.Fatalf("reopen on a full disk: %v", err)
	}
	if r := s.Recovered(); len(r) != 0 {
		t.Errorf("reopen moved files aside: %+v", r)
	}
	check("reopened")
	n := 0
	for id := range acked {
		if err := s.Remove(ctx, id); err != nil {
			t.Fatalf("Remove on a full disk: %v", err)
		}
		delete(acked, id)
		if n++; n == len(acked)/2+1 {
			break
		}
	}
	id := ID("AFTER")
	if err := s.Store(ctx, &Envelope{ID: id, Recipients: []Recipient{{Address: "u@example.com"}}}, bytes.NewReader([]byte("after"))); err != nil {
		t.Fatalf("Store after freeing space: %v", err)
	}
	acked[id] = "after"
	check("space freed")
}
