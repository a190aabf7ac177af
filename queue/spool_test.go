package queue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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
	for _, c := range []struct {
		name  string
		cache int
	}{{"cache=default", 0}, {"cache=2", 2}, {"cache=off", -1}} {
		t.Run(c.name, func(t *testing.T) {
			open := func(t *testing.T, dir string) *queue.Spool {
				s, err := queue.OpenSpool(context.Background(), dir, &queue.SpoolOptions{CacheEnvelopes: c.cache})
				if err != nil {
					t.Fatalf("OpenSpool: %v", err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			queuetest.Run(t, queuetest.Options{
				New: func(t *testing.T) queue.Queue { return open(t, t.TempDir()) },
				Reopen: func(t *testing.T, q queue.Queue) queue.Queue {
					s := q.(*queue.Spool)
					if err := s.Close(); err != nil {
						t.Fatalf("Close: %v", err)
					}
					s2 := open(t, s.Dir())
					if r := s2.Recovered(); len(r) > 0 {
						t.Errorf("reopen moved files aside: %+v", r)
					}
					return s2
				},
				Streaming: true,
				BigBody:   map[bool]int64{true: 50 << 20, false: 1 << 20}[c.cache == 0],
			})
		})
	}
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

// dataFiles returns the data files (message files and segments) in msg/.
func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "msg"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !strings.Contains(e.Name(), ".") || strings.HasSuffix(e.Name(), ".seg") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestSpoolRecovery: unusable files found on open are moved aside intact
// and reported; good messages are kept; unfinished writes are dropped.
func TestSpoolRecovery(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openSpool(t, dir)
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: a file of its own
	var ids []queue.ID
	files := map[queue.ID]string{}
	for i := range 7 {
		e := env(fmt.Sprintf("u%d@example.com", i))
		body := []byte(fmt.Sprintf("body %d\r\n", i))
		if i == 1 || i == 4 {
			body = big
		}
		before := dataFiles(t, dir)
		if err := s.Store(ctx, e, bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		after := dataFiles(t, dir)
		if len(after) != len(before)+1 {
			t.Fatalf("one store added %d data files", len(after)-len(before))
		}
		for _, f := range after {
			if !slices.Contains(before, f) {
				files[e.ID] = f
			}
		}
		ids = append(ids, e.ID)
	}
	if files[ids[1]] != string(ids[1]) || !strings.HasSuffix(files[ids[0]], ".seg") {
		t.Fatalf("large bodies go to msg/<ID>, small ones to segments: %v", files)
	}
	for _, id := range []queue.ID{ids[3], ids[4], ids[6]} {
		if err := s.Modify(ctx, id, func(e *queue.Envelope) error { e.Attempts = 1; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	msg := func(name string) string { return filepath.Join(dir, "msg", name) }
	damage := map[string][]byte{}
	// 0: a flipped byte in a record (segment); 1: a truncated message file;
	// 3: a damaged envelope update (segment: the entry is copied out);
	// 6: the same for a message file (both moved aside);
	// 4: an update without its data file (an interrupted Remove:
	// finished, not moved aside).
	b, _ := os.ReadFile(msg(files[ids[0]]))
	b[len(b)-60] ^= 0x20
	damage[files[ids[0]]] = b
	b, _ = os.ReadFile(msg(files[ids[1]]))
	damage[files[ids[1]]] = b[:len(b)/2]
	for _, id := range []queue.ID{ids[3], ids[6]} {
		b, _ = os.ReadFile(msg(string(id) + ".env"))
		damage[string(id)+".env"] = b[:len(b)-3]
	}
	damage["junk name.txt"] = []byte("hello")
	for name, b := range damage {
		if err := os.WriteFile(msg(name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(msg(files[ids[4]])); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tmp", "ABC.123"), []byte("half"), 0o600)

	s = openSpool(t, dir)
	defer s.Close()
	got := map[string]queue.Recovered{}
	for _, r := range s.Recovered() {
		got[r.Name] = r
	}
	want := []string{files[ids[0]], files[ids[1]], string(ids[3]) + ".env", files[ids[3]],
		string(ids[6]) + ".env", files[ids[6]], "junk name.txt"}
	for _, name := range want {
		r, ok := got[name]
		if !ok {
			t.Errorf("%s not reported; recovered %v", name, got)
			continue
		}
		if r.Err == nil || !strings.HasPrefix(r.MovedTo, filepath.Join(dir, "corrupt")+"/") {
			t.Errorf("%s: %+v", name, r)
		}
		if _, err := os.Stat(r.MovedTo); err != nil {
			t.Errorf("%s: not kept in corrupt/: %v", name, err)
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
	if !errors.Is(got[files[ids[0]]].Err, queue.ErrCorrupt) {
		t.Errorf("checksum damage reported as %v", got[files[ids[0]]].Err)
	}
	if b, err := os.ReadFile(got[files[ids[3]]].MovedTo); err != nil || !bytes.HasPrefix(b, []byte("body 3\r\n")) {
		t.Errorf("entry of message 3 copied out as %q, %v", b, err)
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
	if s.Len() != 2 {
		t.Errorf("second open: %d messages", s.Len())
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
	f, err := os.OpenFile(filepath.Join(dir, "msg", dataFiles(t, dir)[0]), os.O_RDWR, 0)
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
