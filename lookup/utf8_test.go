package lookup

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// utf8Cases are the answers Postfix 3.7 (smtputf8_enable=yes) gives for
// testdata/utf8: a non-UTF-8 key is not found, a non-UTF-8 value fails the
// query with a configuration error. TestNonUTF8IsPostfix re-asks postmap.
var utf8Cases = []struct {
	spec, key, value string // value "(not found)" or "(query error)"
}{
	{"cdb:raw", "bad\xff", "(not found)"},
	{"cdb:raw", "k2", "(query error)"},
	{"cdb:raw", "k3", "v3"},
	{"regexp:bad-value.regexp", "bb", "(query error)"},
	{"regexp:bad-value.regexp", "b\xff", "(not found)"},
	{"regexp:bad-value.regexp", "cc", "ok"},
	{"static:S", "x\xff", "(not found)"},
	{"inline:{bad=x}", "bad\xff", "(not found)"},
}

func TestNonUTF8(t *testing.T) {
	ctx := context.Background()
	t.Chdir("testdata/utf8")
	for _, c := range utf8Cases {
		tab, err := Open(ctx, c.spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, ok, err := tab.Lookup(ctx, c.key)
		got := v
		switch {
		case err != nil:
			got = "(query error)"
			if KindOf(err) != Config || !errors.Is(err, ErrNonUTF8Value) {
				t.Errorf("%s: Lookup(%q) error %v, want a Config ErrNonUTF8Value", c.spec, c.key, err)
			}
		case !ok:
			got = "(not found)"
		}
		if got != c.value {
			t.Errorf("%s: Lookup(%q) = %q, postmap says %q", c.spec, c.key, got, c.value)
		}
	}
	// A Map built from Go values follows the same rules.
	m := NewMap(map[string]string{"bad\xff": "v", "k": "v\xff"})
	if _, ok, err := m.Lookup(ctx, "bad\xff"); ok || err != nil {
		t.Errorf("Map: non-UTF-8 key found=%v err=%v", ok, err)
	}
	if _, _, err := m.Lookup(ctx, "k"); !errors.Is(err, ErrNonUTF8Value) {
		t.Errorf("Map: non-UTF-8 value err=%v", err)
	}
}

func TestNonUTF8IsPostfix(t *testing.T) {
	postmap := testenv.NeedProgram(t, "postmap")
	env := testenv.PostfixEnv(t)
	for _, c := range utf8Cases {
		cmd := exec.Command(postmap, "-q", c.key, c.spec)
		cmd.Dir, cmd.Env = "testdata/utf8", env
		out, err := cmd.CombinedOutput()
		got := strings.TrimSuffix(string(out), "\n")
		switch {
		case strings.Contains(got, "query error"):
			got = "(query error)"
		case err != nil:
			got = "(not found)"
		}
		if got != c.value {
			t.Errorf("postmap -q %q %s = %q; utf8Cases says %q", c.key, c.spec, got, c.value)
		}
	}
}
