package lookup

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestRegexpNewline: without the m flag "." matches a newline, as POSIX
// regcomp without REG_NEWLINE (a folded header in header_checks); with m
// it does not, and ^ matches after a newline.
func TestRegexpNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "re")
	os.WriteFile(path, []byte("/^X-Folded:.*second/ ACROSS\n/^second/m LINE\n"), 0o644)
	tb, err := Open(context.Background(), "regexp:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"X-Folded: first\n\tsecond": "ACROSS", "X-Other: a\nsecond": "LINE"} {
		if v, ok, err := tb.Lookup(context.Background(), key); err != nil || !ok || v != want {
			t.Errorf("%q: got %q %v %v, want %q", key, v, ok, err, want)
		}
	}
}
