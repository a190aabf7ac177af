package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A log file renamed by logrotate is followed: the next write after the
// check interval goes to a new file at the path; the renamed one keeps
// what was written before. Removed, the same.
func TestLogFileFollowsRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mxrelayd.log")
	l, err := openLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	write := func(s string) {
		t.Helper()
		if _, err := l.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	write("one\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	write("two\n") // within the interval: still the renamed file
	now = now.Add(reopenCheck)
	write("three\n")
	if got := read(path + ".1"); got != "one\ntwo\n" {
		t.Errorf("rotated file: %q", got)
	}
	if got := read(path); got != "three\n" {
		t.Errorf("new file: %q", got)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	now = now.Add(reopenCheck)
	write("four\n")
	if got := read(path); got != "four\n" {
		t.Errorf("after removal: %q", got)
	}
}
