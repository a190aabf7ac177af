package lookup

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// postmapAnswer is what postmap -q says for one key: a value, a miss,
// or a failed lookup.
type postmapAnswer struct {
	value  string
	found  bool
	failed bool
}

// askPostmap runs postmap -q key spec and reads its answer: exit 0 and
// the value, exit 1 and no output (a miss), or anything else (a failure:
// postmap exits 1 too, but says "fatal" or "error" on stderr).
func askPostmap(t *testing.T, postmap string, env []string, spec, key string) postmapAnswer {
	t.Helper()
	cmd := exec.Command(postmap, "-q", key, spec)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return postmapAnswer{value: strings.TrimSuffix(string(out), "\n"), found: true}
	case errors.As(err, &ee) && ee.ExitCode() == 1 && !strings.Contains(stderr.String(), "fatal") && !strings.Contains(stderr.String(), "error"):
		return postmapAnswer{}
	}
	return postmapAnswer{failed: true}
}

func ourAnswer(t *testing.T, tab Table, key string) postmapAnswer {
	v, found, err := tab.Lookup(context.Background(), key)
	return postmapAnswer{value: v, found: found, failed: err != nil}
}

// TestNetTablesAgainstPostmap asks postmap -q and our socketmap: and tcp:
// tables the same keys of the same in-process servers, a dead server
// included, and wants the same answers.
func TestNetTablesAgainstPostmap(t *testing.T) {
	postmap := testenv.NeedProgram(t, "postmap")
	env := testenv.PostfixEnv(t)
	sock := startServer(t, "tcp", readNetstringReq, socketmapAnswers)
	tcp := startServer(t, "tcp", readTCPReq, tcpAnswers)
	dead := deadAddr(t)
	cases := []struct {
		spec string
		keys []string
	}{
		{"socketmap:inet:" + sock.addr() + ":virtual", []string{"bob@example.com", "Mixed@Example.COM", "mixed@example.com", "spaces", "nobody@example.com", "temp", "timeout", "perm", "weird", "long", "badframe"}},
		{"socketmap:inet:" + sock.addr() + ":othermap", []string{"bob@example.com"}},
		{"socketmap:inet:" + dead + ":virtual", []string{"bob@example.com"}},
		{"tcp:" + tcp.addr(), []string{"bob@example.com", "with space%", "Mixed@Example.COM", "mixed@example.com", "nobody@example.com", "soft", "bad", "badcode", "badhex", "long"}},
	}
	for _, c := range cases {
		tab, err := Open(context.Background(), c.spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range c.keys {
			want := askPostmap(t, postmap, env, c.spec, k)
			if got := ourAnswer(t, tab, k); got != want {
				t.Errorf("%s, key %q: we answer %+v, postmap -q %+v", c.spec, k, got, want)
			}
		}
		tab.(interface{ Close() error }).Close()
	}
	// A dead tcp: server: postmap retries ten times a second apart
	// before it fails; we fail at once. Only the outcome is compared.
	if testing.Short() {
		return
	}
	spec := "tcp:" + dead
	tab, _ := Open(context.Background(), spec, nil)
	want := askPostmap(t, postmap, env, spec, "bob@example.com")
	if got := ourAnswer(t, tab, "bob@example.com"); got != want || !got.failed {
		t.Errorf("%s: we answer %+v, postmap -q %+v; want both to fail", spec, got, want)
	}
}
