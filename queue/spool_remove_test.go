package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Removing the last live message of a segment removes the segment and
// creates no tombstone: one unlink, as Postfix removes a queue file.
func TestRemoveLastOfSegmentLeavesNoTombstone(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenSpool(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := &Envelope{ID: NewID(), Sender: "s@src.example", Recipients: []Recipient{{Address: "u@example.com"}}}
	if err := s.Store(ctx, e, strings.NewReader("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if names := msgNames(t, dir); len(names) != 0 {
		t.Errorf("files left after removing the only message: %v", names)
	}
	s.Close()
	s2, err := OpenSpool(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Get(ctx, e.ID); err == nil {
		t.Error("the removed message came back after a reopen")
	}
	if _, err := os.Stat(filepath.Join(dir, "corrupt")); err == nil {
		if n, _ := filepath.Glob(filepath.Join(dir, "corrupt", "*")); len(n) > 0 {
			t.Errorf("quarantined: %v", n)
		}
	}
}
