package lookup

import (
	"context"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

func ourAnswer(t *testing.T, tab Table, key string) testenv.Answer {
	v, found, err := tab.Lookup(context.Background(), key)
	return testenv.Answer{Value: v, Found: found, Failed: err != nil}
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
			want := testenv.PostmapQuery(t, postmap, env, c.spec, k)
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
	want := testenv.PostmapQuery(t, postmap, env, spec, "bob@example.com")
	if got := ourAnswer(t, tab, "bob@example.com"); got != want || !got.Failed {
		t.Errorf("%s: we answer %+v, postmap -q %+v; want both to fail", spec, got, want)
	}
}
