//go:build unix

package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mxrelay/mxrelay/internal/regfile"
)

// TestSpoolSpecialFiles puts FIFOs (and a directory and a symbolic link)
// named like every kind of queue file into msg/: OpenSpool returns at once
// instead of blocking on a FIFO, moves each of them to corrupt/ and
// reports it, and the stored messages are all still there.
func TestSpoolSpecialFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openT(t, dir)
	storeBatch(t, s, "A", "B")
	seq := s.idx.items["A"].seg
	s.Close()

	msg := filepath.Join(dir, "msg")
	fifos := []string{"F1", "B.env", segName(seq + 1), tombName("A", seq+1), rmlogName(seq + 1)}
	for _, n := range fifos {
		if err := syscall.Mkfifo(filepath.Join(msg, n), 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
	}
	os.Mkdir(filepath.Join(msg, "D1"), 0o700)
	os.WriteFile(filepath.Join(dir, "elsewhere"), nil, 0o600)
	os.Symlink(filepath.Join(dir, "elsewhere"), filepath.Join(msg, "L1"))
	special := append(fifos, "D1", "L1")

	type result struct {
		s   *Spool
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := OpenSpool(ctx, dir, nil)
		ch <- result{s, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("OpenSpool did not return (blocked on a FIFO?)")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	s = r.s
	defer s.Close()

	moved := map[string]bool{}
	for _, rec := range s.Recovered() {
		if !errors.Is(rec.Err, regfile.ErrNotRegular) {
			t.Errorf("recovered %s: %v, want not a regular file", rec.Name, rec.Err)
			continue
		}
		fi, err := os.Lstat(rec.MovedTo)
		if err != nil || fi.Mode().IsRegular() || filepath.Dir(rec.MovedTo) != filepath.Join(dir, "corrupt") {
			t.Errorf("%s moved to %s: %v", rec.Name, rec.MovedTo, err)
		}
		moved[rec.Name] = true
	}
	for _, n := range special {
		if !moved[n] {
			t.Errorf("%s not moved aside", n)
		}
		if _, err := os.Lstat(filepath.Join(msg, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still in msg/: %v", n, err)
		}
	}
	var ids []ID
	s.Walk(ctx, func(e *Envelope) error { ids = append(ids, e.ID); return nil })
	if len(ids) != 2 {
		t.Fatalf("messages after the scan: %v, want A and B", ids)
	}
	for _, id := range []ID{"A", "B"} {
		if b := body(t, s, id); b != "body of "+string(id) {
			t.Errorf("body of %s = %q", id, b)
		}
	}
}

// A FIFO put in the place of a message's file after the scan is refused
// when the message is read, at once, not waited on.
func TestSpoolFIFOAfterScan(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openT(t, dir)
	defer s.Close()
	big := make([]byte, 200000) // a file of its own
	for i := range big {
		big[i] = 'x'
	}
	if err := s.Store(ctx, &Envelope{ID: "L", Recipients: []Recipient{{Address: "u@example.com"}}}, bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "msg", "L")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("message not in a file of its own: %v", err)
	}
	os.Remove(p)
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ch := make(chan error, 1)
	go func() {
		rc, err := s.Body(ctx, "L")
		if err == nil {
			rc.Close()
		}
		ch <- err
	}()
	select {
	case err := <-ch:
		if !errors.Is(err, regfile.ErrNotRegular) {
			t.Errorf("Body of a FIFO: %v, want not a regular file", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Body blocked on a FIFO")
	}
}
