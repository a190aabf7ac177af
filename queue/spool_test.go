package queue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/queue"
	"github.com/mxrelay/mxrelay/queue/queuetest"
)

func openSpool(t testing.TB, dir string) *queue.Spool {
	t.Helper()
	s, err := queue.OpenSpool(context.Background(), dir, nil)
	if err != nil {
		t.Fatalf("OpenSpool: %v", err)
	}
	return s
}

func TestSpoolConformance(t *testing.T) {
	queuetest.Run(t, queuetest.Options{
		New: func(t *testing.T) queue.Queue {
			s := openSpool(t, t.TempDir())
			t.Cleanup(func() { s.Close() })
			return s
		},
		Reopen: func(t *testing.T, q queue.Queue) queue.Queue {
			s := q.(*queue.Spool)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			s2 := openSpool(t, s.Dir())
			t.Cleanup(func() { s2.Close() })
			if r := s2.Recovered(); len(r) > 0 {
				t.Errorf("reopen moved files aside: %+v", r)
			}
			return s2
		},
		Streaming: true,
	})
}

func TestSpoolLock(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir)
	_, err := queue.OpenSpool(context.Background(), dir, nil)
	if !errors.Is(err, queue.ErrLocked) || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("second OpenSpool = %v, want ErrLocked naming the owner", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Store(context.Background(), env("u@example.com"), strings.NewReader("x")); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Store after Close = %v, want ErrClosed", err)
	}
	s2 := openSpool(t, dir) // the lock is free again
	s2.Close()
}

func env(rcpts ...string) *queue.Envelope {
	e := &queue.Envelope{Sender: "s@example.org", Arrival: t0, NextAttempt: t0}
	for _, r := range rcpts {
		e.Recipients = append(e.Recipients, queue.Recipient{Address: r})
	}
	return e
}

// TestSpoolRecovery: unusable files found on open are moved aside intact
// and reported; good messages are kept; unfinished writes are dropped.
func TestSpoolRecovery(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openSpool(t, dir)
	var ids []queue.ID
	for i := range 6 {
		e := env(fmt.Sprintf("u%d@example.com", i))
		if err := s.Store(ctx, e, strings.NewReader(fmt.Sprintf("body %d\r\n", i))); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	for _, id := range ids[3:5] {
		if err := s.Modify(ctx, id, func(e *queue.Envelope) error { e.Attempts = 1; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	msg := func(name string) string { return filepath.Join(dir, "msg", name) }
	damage := map[string][]byte{}
	// 0: a flipped byte in the record; 1: truncated (half a data file);
	// 3: a damaged envelope update; 4: an update without its data file
	// (an interrupted Remove: finished, not moved aside).
	b, _ := os.ReadFile(msg(string(ids[0])))
	b[len(b)-60] ^= 0x20
	damage[string(ids[0])] = b
	b, _ = os.ReadFile(msg(string(ids[1])))
	damage[string(ids[1])] = b[:len(b)/2]
	b, _ = os.ReadFile(msg(string(ids[3]) + ".env"))
	damage[string(ids[3])+".env"] = b[:len(b)-3]
	damage["junk name.txt"] = []byte("hello")
	for name, b := range damage {
		if err := os.WriteFile(msg(name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(msg(string(ids[4]))); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tmp", "ABC.123"), []byte("half"), 0o600)

	s = openSpool(t, dir)
	defer s.Close()
	got := map[string]queue.Recovered{}
	for _, r := range s.Recovered() {
		got[r.Name] = r
	}
	want := []string{string(ids[0]), string(ids[1]), string(ids[3]), string(ids[3]) + ".env", "junk name.txt"}
	for _, name := range want {
		r, ok := got[name]
		if !ok {
			t.Errorf("%s not reported; recovered %v", name, got)
			continue
		}
		if r.Err == nil || !strings.HasPrefix(r.MovedTo, filepath.Join(dir, "corrupt")+"/") {
			t.Errorf("%s: %+v", name, r)
		}
		if d, ok := damage[name]; ok {
			if b, err := os.ReadFile(r.MovedTo); err != nil || !bytes.Equal(b, d) {
				t.Errorf("%s: moved-aside copy differs (%v)", name, err)
			}
		}
		if _, err := os.Stat(msg(name)); !os.IsNotExist(err) {
			t.Errorf("%s still in msg/", name)
		}
	}
	if len(got) != len(want) {
		t.Errorf("recovered %d files, want %d: %v", len(got), len(want), got)
	}
	if !errors.Is(got[string(ids[0])].Err, queue.ErrCorrupt) {
		t.Errorf("checksum damage reported as %v", got[string(ids[0])].Err)
	}
	if s.Len() != 2 {
		t.Errorf("%d messages kept, want 2", s.Len())
	}
	for _, id := range []queue.ID{ids[2], ids[5]} {
		if _, err := s.Get(ctx, id); err != nil {
			t.Errorf("good message %s: %v", id, err)
		}
	}
	if _, err := os.Stat(msg(string(ids[4]) + ".env")); !os.IsNotExist(err) {
		t.Errorf("the rest of an interrupted removal is still there: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ not emptied: %v", ents)
	}
	// A second open finds nothing more to move.
	s.Close()
	s = openSpool(t, dir)
	if r := s.Recovered(); len(r) != 0 {
		t.Errorf("second open recovered %v", r)
	}
}

// TestSpoolBodyChecksum: a body damaged on disk is reported at the end of
// the read, never delivered as whole.
func TestSpoolBodyChecksum(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openSpool(t, dir)
	defer s.Close()
	e := env("u@example.com")
	if err := s.Store(ctx, e, strings.NewReader("Subject: x\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "msg", string(e.ID)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("J"), 15)
	f.Close()
	rc, err := s.Body(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, queue.ErrCorrupt) {
		t.Errorf("reading a damaged body: %v, want ErrCorrupt", err)
	}
}
