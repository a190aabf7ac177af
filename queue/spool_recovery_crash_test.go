package queue

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var errCrash = errors.New("simulated crash")

// messySpool builds a spool that needs every kind of repair on open:
// unfinished writes in tmp/, envelope updates, a tombstoned message, an
// empty segment whose removal was interrupted, a tombstone of a segment
// that is gone, an envelope update whose message is gone (an interrupted
// Remove), a damaged envelope update of a segment message, a truncated
// message file, a junk name, a segment stored twice, a damaged removal
// log and one of a segment that is gone.
func messySpool(t *testing.T, dir string) {
	ctx := context.Background()
	s := openT(t, dir)
	storeBatch(t, s, "A", "B", "C")
	storeBatch(t, s, "D", "E")
	storeBatch(t, s, "F", "G", "H")
	seg1, seg2, seg3 := s.idx.items["A"].seg, s.idx.items["D"].seg, s.idx.items["F"].seg
	large := strings.Repeat("large\r\n", 30000)
	for _, id := range []ID{"L", "X", "Z"} {
		if err := s.Store(ctx, &Envelope{ID: id, Recipients: []Recipient{{Address: "u@example.com"}}}, strings.NewReader(large+string(id))); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []ID{"A", "C", "L", "Z"} {
		if err := s.Modify(ctx, id, func(e *Envelope) error { e.Attempts = 2; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Remove(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	msg := func(name string) string { return filepath.Join(dir, "msg", name) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(msg(tombName("D", seg2)), nil, 0o600)) // D and E removed, the segment not yet
	must(os.WriteFile(msg(tombName("E", seg2)), nil, 0o600))
	must(os.WriteFile(msg(tombName("Q", 0xff)), nil, 0o600)) // its segment is gone
	must(os.Remove(msg("Z")))                                // Z's removal interrupted
	b, err := os.ReadFile(msg("C.env"))
	must(err)
	must(os.WriteFile(msg("C.env"), b[:len(b)-5], 0o600)) // damaged update
	b, err = os.ReadFile(msg("X"))
	must(err)
	must(os.WriteFile(msg("X"), b[:len(b)/2], 0o600)) // truncated
	must(os.WriteFile(msg("junk name.txt"), []byte("junk"), 0o600))
	b, err = os.ReadFile(msg(segName(seg1)))
	must(err)
	must(os.WriteFile(msg(segName(seg3+1)), b, 0o600)) // A, B, C stored again
	must(os.WriteFile(filepath.Join(dir, "tmp", "A.env.123"), []byte("half"), 0o600))
	// Removal logs: one damaged between good records (F and G removed,
	// a junk line, then a torn record), one naming only a segment that is
	// gone.
	damaged := appendRemoval(nil, removal{"F", seg3})
	damaged = append(damaged, "junk\n"...)
	damaged = appendRemoval(damaged, removal{"G", seg3})
	damaged = append(damaged, appendRemoval(nil, removal{"H", seg3})[:10]...)
	must(os.WriteFile(msg(rmlogName(1)), damaged, 0o600))
	must(os.WriteFile(msg(rmlogName(2)), appendRemoval(nil, removal{"Q", 0xfe}), 0o600))
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// corruptContents returns the contents of the files in corrupt/.
func corruptContents(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "corrupt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, "corrupt", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

// TestRecoveryCrash: a crash at any step of the opening scan's repairs,
// and a second crash at another step of the next open, leave a spool that
// then opens to exactly the messages an uninterrupted open gives, with
// every file it set aside still kept in corrupt/ (a set-aside file is never
// lost, at worst kept twice).
func TestRecoveryCrash(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	state := filepath.Join(base, "state")
	messySpool(t, state)

	ref := filepath.Join(base, "ref")
	copyDir(t, state, ref)
	s, err := OpenSpool(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, s)
	nRecovered := len(s.Recovered())
	s.Close()
	wantCorrupt := corruptContents(t, ref)
	if _, h := want["H"]; !h || want["F"] != "" || want["G"] != "" {
		t.Errorf("the damaged log's good records not applied (F, G removed, H kept): %v", want)
	}
	if len(want) == 0 || nRecovered < 5 {
		t.Fatalf("the messy spool is not messy: %d messages, %d recovered", len(want), nRecovered)
	}

	// Count the steps of an uninterrupted open.
	steps := 0
	count := filepath.Join(base, "count")
	copyDir(t, state, count)
	s, err = OpenSpool(ctx, count, &SpoolOptions{fault: func(op, name string) error { steps++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if steps < 15 {
		t.Fatalf("only %d repair steps", steps)
	}

	crashAt := func(dir string, n int) {
		calls := 0
		s, err := OpenSpool(ctx, dir, &SpoolOptions{fault: func(op, name string) error {
			if calls++; calls == n {
				return fmt.Errorf("%w before %s of %s", errCrash, op, name)
			}
			return nil
		}})
		if err == nil {
			s.Close()
		} else if !errors.Is(err, errCrash) {
			t.Fatalf("open with a crash at step %d: %v", n, err)
		}
	}
	for n := 1; n <= steps; n++ {
		dir := filepath.Join(base, fmt.Sprint("crash", n))
		copyDir(t, state, dir)
		crashAt(dir, n)
		crashAt(dir, 1+(n*7)%steps)
		s, err := OpenSpool(ctx, dir, nil)
		if err != nil {
			t.Fatalf("crash at step %d: the spool does not open: %v", n, err)
		}
		sameSnapshot(t, fmt.Sprintf("crash at step %d", n), snapshot(t, s), want)
		s.Close()
		got := corruptContents(t, dir)
		for _, c := range wantCorrupt {
			if !slices.Contains(got, c) {
				t.Errorf("crash at step %d: a file set aside is lost: %.80q", n, c)
			}
		}
		s = openT(t, dir) // nothing more to repair
		s.Close()
		os.RemoveAll(dir)
	}
}
