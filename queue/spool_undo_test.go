package queue

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
)

// TestSpoolFaultUndo: a crash while a failed Modify is being undone
// leaves the envelope either as acknowledged before or as the failed
// Modify wrote it, never an older one (the record stored with the body).
func TestSpoolFaultUndo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := &faulty{}
	s, err := OpenSpool(ctx, dir, &SpoolOptions{fault: func(op, name string) error {
		if op == "undo" {
			return errCrash // the process dies here
		}
		return f.fault(op, name)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Store(ctx, &Envelope{ID: "M", Recipients: []Recipient{{Address: "u@example.com"}}}, strings.NewReader("body")); err != nil {
		t.Fatal(err)
	}
	if err := s.Modify(ctx, "M", func(e *Envelope) error { e.Attempts = 7; return nil }); err != nil {
		t.Fatal(err)
	}
	f.set("dirsync", 0, syscall.EIO)
	if err := s.Modify(ctx, "M", func(e *Envelope) error { e.Attempts = 9; return nil }); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Modify = %v", err)
	}
	s.Close()
	s = openT(t, dir)
	defer s.Close()
	if e, err := s.Get(ctx, "M"); err != nil || e.Attempts != 7 && e.Attempts != 9 {
		t.Errorf("after a crash in the undo: attempts %d (%v); want 7 (acknowledged) or 9 (under way)", e.Attempts, err)
	}
}
