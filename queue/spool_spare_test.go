package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// spareNames returns the spare segment files in msg/.
func spareNames(t *testing.T, dir string) []string {
	t.Helper()
	return bySuffix(dirNames(t, filepath.Join(dir, "msg")), spareSuffix, true)
}

// TestSpareSegments: a group commit writes into a spare made ahead (no
// file creation, no directory fsync on the commit's path), the spare
// becomes the segment, more are made as they are used, and Close leaves
// none behind.
func TestSpareSegments(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openT(t, dir)
	storeBatch(t, s, "A", "B")
	seq := s.idx.items["A"].seg
	if got := msgNames(t, dir); !slices.Equal(got, []string{segName(seq)}) {
		t.Errorf("msg/ holds %v", got)
	}
	spares := spareNames(t, dir)
	if len(spares) != spareTarget-1 {
		t.Fatalf("%d spares after the first commit, want %d (made at open)", len(spares), spareTarget-1)
	}
	if next, _ := parseSeq(strings.TrimSuffix(spares[0], spareSuffix)); next != seq+1 {
		t.Errorf("the first commit used segment %x, not the oldest spare (next is %x)", seq, next)
	}
	// More commits than spares: the refills keep up, or commits create
	// their segments; every message is stored either way.
	for i := range 3 * spareTarget {
		id := ID(fmt.Sprintf("M%d", i))
		if err := s.Store(ctx, &Envelope{ID: id, Recipients: []Recipient{{Address: "u@example.com"}}}, strings.NewReader("body")); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 2+3*spareTarget {
		t.Fatalf("%d messages", s.Len())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := spareNames(t, dir); len(got) != 0 {
		t.Errorf("Close left %d spares", len(got))
	}
	s = openT(t, dir)
	defer s.Close()
	if s.Len() != 2+3*spareTarget || body(t, s, "A") != "body of A" || body(t, s, "M7") != "body" {
		t.Errorf("after reopen: %d messages", s.Len())
	}
}

// TestSpareLeftovers: what a crash leaves of spares. An empty spare and
// a spare whose write was cut (never acknowledged) are removed without
// being reported; a whole segment that came back under its spare name (a
// power failure undid the rename after the fsync) is a segment again,
// its messages kept.
func TestSpareLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	storeBatch(t, s, "A", "B")
	storeBatch(t, s, "C")
	segAB, segC := s.idx.items["A"].seg, s.idx.items["C"].seg
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(s.path(segName(segC)))
	if err != nil {
		t.Fatal(err)
	}
	// The rename of A and B's segment lost; C's segment copied into a
	// spare and cut short; an empty spare.
	if err := os.Rename(s.path(segName(segAB)), s.path(spareName(segAB))); err != nil {
		t.Fatal(err)
	}
	cut := segC + 1000
	if err := os.WriteFile(s.path(spareName(cut)), whole[:len(whole)-5], 0o600); err != nil {
		t.Fatal(err)
	}
	empty := segC + 2000
	if err := os.WriteFile(s.path(spareName(empty)), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	s = openT(t, dir) // fails the test if anything is reported
	defer s.Close()
	for _, id := range []ID{"A", "B", "C"} {
		if got := body(t, s, id); got != "body of "+string(id) {
			t.Errorf("message %s after the crash: %q", id, got)
		}
	}
	if s.Len() != 3 {
		t.Errorf("%d messages, want 3", s.Len())
	}
	names := msgNames(t, dir)
	if !slices.Contains(names, segName(segAB)) || len(names) != 2 {
		t.Errorf("msg/ holds %v; want the two segments", names)
	}
	for _, n := range spareNames(t, dir) {
		if n == spareName(cut) || n == spareName(empty) || n == spareName(segAB) {
			t.Errorf("%s left in msg/", n)
		}
	}
	if s.seq < empty {
		t.Errorf("next segment numbers (%x) may reuse the leftovers' (%x)", s.seq, empty)
	}
}

// TestSpareRecycling: a segment whose messages are all removed becomes a
// spare (no file created for the next commit), unless a reader has it
// open: then it is deleted and the reader still reads the whole body. A
// *.recycle file left by a crash is deleted by the next open, unreported.
func TestSpareRecycling(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openT(t, dir)
	storeBatch(t, s, "A", "B")
	seg := s.idx.items["A"].seg
	segFile := statT(t, s.path(segName(seg)))
	for _, id := range []ID{"A", "B"} {
		if err := s.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// The same file, by inode: the refill goroutine may make other
	// spares meanwhile, so counting them would not tell.
	if n := sameFileAs(t, dir, segFile); !strings.HasSuffix(n, spareSuffix) {
		t.Errorf("after the segment's last removal its file is %q, want a spare", n)
	}
	if segs := bySuffix(msgNames(t, dir), segSuffix, true); len(segs) != 0 {
		t.Errorf("segments left: %v", segs)
	}
	// The recycled spare is the newest: used after the older ones, and
	// it is whole when used.
	for i := range spareTarget + 2 {
		storeBatch(t, s, ID(fmt.Sprintf("R%d", i)))
	}
	for i := range spareTarget + 2 {
		id := ID(fmt.Sprintf("R%d", i))
		if got := body(t, s, id); got != "body of "+string(id) {
			t.Fatalf("%s: %q", id, got)
		}
	}

	// A reader keeps the segment from being recycled.
	storeBatch(t, s, "C")
	rc, err := s.Body(ctx, "C")
	if err != nil {
		t.Fatal(err)
	}
	cFile := statT(t, s.path(segName(s.idx.items["C"].seg)))
	if err := s.Remove(ctx, "C"); err != nil {
		t.Fatal(err)
	}
	if n := sameFileAs(t, dir, cFile); n != "" {
		t.Errorf("a segment open by a reader was recycled: it is %s", n)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(b) != "body of C" {
		t.Errorf("reader of a removed message: %q, %v", b, err)
	}
	if len(s.readers) != 0 {
		t.Errorf("readers left counted: %v", s.readers)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	left := s.path(recycleName(seg + 1))
	if err := os.WriteFile(left, []byte("what was a segment"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir) // fails the test if anything is reported
	defer s.Close()
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("%s left after open: %v", left, err)
	}
	if s.Len() != spareTarget+2 {
		t.Errorf("%d messages after reopen, want %d", s.Len(), spareTarget+2)
	}
}

// TestRecycledSpareWaitsForDirSync: a recycled segment's new name is not
// durable, so it is not handed out until a refill's directory fsync has
// made it so (a commit into it whose rename a power failure undid would
// otherwise leave its acknowledged messages under a name the next open
// deletes).
func TestRecycledSpareWaitsForDirSync(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openT(t, dir)
	defer s.Close()
	storeBatch(t, s, "A")
	if err := s.Remove(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	s.spmu.Lock()
	recycled, spares := slices.Clone(s.recycled), slices.Clone(s.spares)
	s.spmu.Unlock()
	if len(recycled) != 1 {
		t.Fatalf("%d recycled segments awaiting the fsync, want 1", len(recycled))
	}
	for _, sp := range spares {
		if sp.seq == recycled[0].seq {
			t.Fatal("a recycled segment was handed out before a directory fsync")
		}
	}
	syncs := 0
	s.msgs.mu.Lock()
	s.msgs.hook = func() error { syncs++; return nil }
	s.msgs.mu.Unlock()
	if err := s.refillSpares(); err != nil {
		t.Fatal(err)
	}
	s.spmu.Lock()
	promoted := slices.ContainsFunc(s.spares, func(sp spareFile) bool { return sp.seq == recycled[0].seq })
	s.spmu.Unlock()
	if !promoted || syncs != 1 {
		t.Errorf("after a refill (%d directory fsyncs): recycled segment a spare: %v", syncs, promoted)
	}
}

// TestSpareCommitAfterFailedDirSync: once a directory fsync has failed
// the spool acknowledges nothing more, commits into spares (which do no
// directory fsync of their own) included.
func TestSpareCommitAfterFailedDirSync(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	s.msgs.mu.Lock()
	s.msgs.err = errors.New("fsync of msg/ failed")
	s.msgs.mu.Unlock()
	err := s.Store(context.Background(), &Envelope{ID: "A", Recipients: []Recipient{{Address: "u@example.com"}}}, strings.NewReader("body"))
	if err == nil {
		t.Fatal("a Store was acknowledged after a failed directory fsync")
	}
	if s.Len() != 0 {
		t.Errorf("%d messages", s.Len())
	}
}

func statT(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// sameFileAs returns the name in msg/ of the file fi describes, or "".
func sameFileAs(t *testing.T, dir string, fi os.FileInfo) string {
	t.Helper()
	for _, n := range dirNames(t, filepath.Join(dir, "msg")) {
		if other, err := os.Stat(filepath.Join(dir, "msg", n)); err == nil && os.SameFile(fi, other) {
			return n
		}
	}
	return ""
}
