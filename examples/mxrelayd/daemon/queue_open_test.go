package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueueURLRefused: -queue postgres://... is refused with the command
// that runs on PostgreSQL, by the daemon and the queue tools, and no
// directory named after the URL is made.
func TestQueueURLRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	url := "postgres://mxrelay@db.example.test/mail"
	for _, args := range [][]string{
		{"-queue", url, "-listen", "127.0.0.1:0", "-dns", noDNS},
		{"mailq", "-queue", url},
	} {
		var out, errs output
		if code := run(context.Background(), args, &out, &errs, nil); code == 0 || !strings.Contains(errs.String(), "mxrelayd-pg") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errs.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "postgres:")); err == nil {
		t.Error("a directory named postgres: was made")
	}
	if err := checkQueueDir("/var/spool/mxrelay"); err != nil {
		t.Errorf("a directory refused: %v", err)
	}
	if err := checkQueueDir("./q://x"); err != nil {
		t.Errorf("a relative path with :// refused: %v", err)
	}
}
