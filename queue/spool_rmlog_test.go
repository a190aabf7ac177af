package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// rmlogFiles returns the names of the removal log files in msg/.
func rmlogFiles(t *testing.T, dir string) []string {
	t.Helper()
	return bySuffix(msgNames(t, dir), rmlogSuffix, true)
}

// ids returns the IDs of the messages in s, sorted.
func ids(t *testing.T, s *Spool) []ID {
	t.Helper()
	var out []ID
	for id := range snapshot(t, s) {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func removeT(t *testing.T, s *Spool, ids ...ID) {
	t.Helper()
	for _, id := range ids {
		if err := s.Remove(context.Background(), id); err != nil {
			t.Fatalf("removing %s: %v", id, err)
		}
	}
}

// removedAB stores A, B and C in one segment, removes A and B, and
// returns the path of the log file that holds their removals.
func removedAB(t *testing.T, dir string) string {
	t.Helper()
	s := openT(t, dir)
	storeBatch(t, s, "A", "B", "C")
	removeT(t, s, "A", "B")
	s.Close()
	logs := rmlogFiles(t, dir)
	if len(logs) != 1 {
		t.Fatalf("log files %v", logs)
	}
	return filepath.Join(dir, "msg", logs[0])
}

// drain opens the spool in dir, checks that it holds the messages want,
// removes them and checks that nothing is left in msg/.
func drain(t *testing.T, dir, what string, want ...ID) {
	t.Helper()
	s := openT(t, dir)
	wantIDs(t, what, s, want...)
	removeT(t, s, want...)
	s.Close()
	if got := msgNames(t, dir); len(got) != 0 {
		t.Errorf("%s: msg/ after removing everything: %v", what, got)
	}
}

func wantIDs(t *testing.T, what string, s *Spool, want ...ID) {
	t.Helper()
	if got := ids(t, s); !slices.Equal(got, want) {
		t.Errorf("%s: messages %v, want %v", what, got, want)
	}
}

// A log file takes rmMax records, then a new one starts; a log file is
// deleted once the segments it names are all gone, and after a reopen
// the records still needed take the messages out again.
func TestRmlogRotationAndCompaction(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	s.rmMax = 3
	var seg [6][5]ID
	for i := range seg {
		for j := range seg[i] {
			seg[i][j] = ID(fmt.Sprintf("S%dM%d", i, j))
		}
		storeBatch(t, s, seg[i][:]...)
	}
	// Four rounds of one removal per segment: 24 records, 8 files; the
	// files of rounds r hold segments 0-2 or 3-5.
	for r := range 4 {
		for i := range seg {
			removeT(t, s, seg[i][r])
		}
	}
	if n := len(rmlogFiles(t, dir)); n != 8 {
		t.Fatalf("%d log files after 24 removals of 3 per file, want 8", n)
	}
	// Segments 1-5 go: the four files holding segment 0's records stay.
	for i := 1; i < len(seg); i++ {
		removeT(t, s, seg[i][4])
	}
	if err := s.msgs.sync(); err != nil {
		t.Fatal(err)
	}
	if n := len(rmlogFiles(t, dir)); n != 4 {
		t.Errorf("%d log files once segments 1-5 are gone, want 4: %v", n, rmlogFiles(t, dir))
	}
	s.Close()

	drain(t, dir, "reopened", seg[0][4])
}

// A torn last record (an append a power failure cut) is no removal: that
// message comes back, the others stay removed, nothing is set aside, and
// the torn file is never appended to again.
func TestRmlogTornLastRecord(t *testing.T) {
	dir := t.TempDir()
	torn := removedAB(t, dir)
	st, err := os.Stat(torn)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(torn, st.Size()-5); err != nil {
		t.Fatal(err)
	}

	s := openT(t, dir) // fails on anything recovered
	wantIDs(t, "after a torn record", s, "B", "C")
	storeBatch(t, s, "D", "E")
	removeT(t, s, "B", "D")
	if st2, err := os.Stat(torn); err != nil || st2.Size() != st.Size()-5 {
		t.Errorf("the torn log file was written again: %v %v", st2.Size(), err)
	}
	s.Close()
	drain(t, dir, "reopened", "C", "E")
}

// A log file damaged between good records is set aside (reported, kept in
// corrupt/) after its good records are written to a new log file; the
// removal of the damaged record is undone (the message comes back, to be
// delivered again), the others hold across further reopens.
func TestRmlogDamaged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := removedAB(t, dir)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	orig := slices.Clone(b)
	b[18] ^= 0x20 // the space after the ID in A's record
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	s, err := OpenSpool(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := s.Recovered()
	if len(rec) != 1 || rec[0].Name != filepath.Base(path) || !errors.Is(rec[0].Err, ErrCorrupt) {
		t.Fatalf("recovered %+v, want the damaged log", rec)
	}
	if kept, err := os.ReadFile(rec[0].MovedTo); err != nil || string(kept) != string(b) {
		t.Errorf("damaged log not kept in corrupt/: %v", err)
	}
	wantIDs(t, "after a damaged record", s, "A", "C")
	s.Close()
	s = openT(t, dir)
	wantIDs(t, "reopened", s, "A", "C")
	s.Close()
	if string(orig) == string(b) {
		t.Fatal("nothing damaged")
	}
}

// The log and the segments disagree: records naming a segment that is
// gone or a message not in its segment change nothing; a lost log file
// brings its removed messages back (delivered again, never lost).
func TestRmlogDisagrees(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	storeBatch(t, s, "A", "B", "C")
	seq := s.idx.items["A"].seg
	s.Close()
	write := func(name string, rs ...removal) {
		var b []byte
		for _, r := range rs {
			b = appendRemoval(b, r)
		}
		if err := os.WriteFile(filepath.Join(dir, "msg", name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(rmlogName(5), removal{"A", seq + 1}, removal{"X", 0xabc}) // segments that do not exist
	write(rmlogName(6), removal{"Z", seq})                          // a message its segment does not hold
	s = openT(t, dir)
	wantIDs(t, "records of other segments", s, "A", "B", "C")
	if logs := rmlogFiles(t, dir); !slices.Equal(logs, []string{rmlogName(6)}) {
		t.Errorf("log files %v, want only the one naming a segment on disk", logs)
	}
	removeT(t, s, "A")
	s.Close()

	for _, n := range rmlogFiles(t, dir) {
		os.Remove(filepath.Join(dir, "msg", n))
	}
	drain(t, dir, "log lost", "A", "B", "C")
}

// Every message of a segment has its removal record but the process died
// before deleting the segment: the next open deletes the segment and the
// log, and brings nothing back.
func TestRmlogCrashBeforeSegmentDeletion(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	storeBatch(t, s, "A", "B", "C")
	seg := segName(s.idx.items["A"].seg)
	s.fault = func(op, name string) error {
		if op == "remove" && name == seg {
			return errCrash
		}
		return nil
	}
	removeT(t, s, "A", "B", "C")
	s.fault = nil
	s.Close()
	if got := msgNames(t, dir); len(got) != 2 || !slices.Contains(got, seg) {
		t.Fatalf("msg/ %v, want the segment and its log", got)
	}
	drain(t, dir, "reopened")
}

// A failed append fails the Remove, the message stays; the next Remove
// writes to a new log file.
func TestRmlogAppendFails(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openT(t, dir)
	storeBatch(t, s, "A", "B", "C")
	s.fault = func(op, name string) error {
		if op == "append" {
			return errCrash
		}
		return nil
	}
	if err := s.Remove(ctx, "A"); !errors.Is(err, errCrash) {
		t.Fatalf("Remove with a failing append: %v", err)
	}
	s.fault = nil
	wantIDs(t, "after the failed removal", s, "A", "B", "C")
	removeT(t, s, "A")
	if n := len(rmlogFiles(t, dir)); n != 2 {
		t.Errorf("%d log files, want the sealed one and a new one", n)
	}
	s.Close()
	drain(t, dir, "reopened", "B", "C")
}
