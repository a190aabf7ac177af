package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

func mxmap(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	rc := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), rc
}

const source = "Foo@Example.COM   value one\n  continued part\nbar:  colonval\nDup first\ndup second\nStraße ss-word\nuser1@backup.example OK\n"

func TestBuildQueryList(t *testing.T) {
	src := filepath.Join(t.TempDir(), "t")
	os.WriteFile(src, []byte(source), 0o644)
	_, stderr, rc := mxmap(t, "", "cdb:"+src)
	if rc != 0 || !strings.Contains(stderr, `mxmap: warning: `+src+`: duplicate entry: "dup"`) ||
		!strings.Contains(stderr, `line 3: record is in "key: value" format`) {
		t.Fatalf("build rc=%d stderr=%s", rc, stderr)
	}
	for _, c := range []struct {
		key, out string
		rc       int
	}{
		{"FOO@example.com", "value one  continued part\n", 0},
		{"STRASSE", "ss-word\n", 0},
		{"dup", "first\n", 0},
		{"nosuch", "", 1},
	} {
		out, _, rc := mxmap(t, "", "-q", c.key, "cdb:"+src)
		if out != c.out || rc != c.rc {
			t.Errorf("-q %s = %q rc %d, want %q rc %d", c.key, out, rc, c.out, c.rc)
		}
	}
	out, _, rc := mxmap(t, "User1@backup.example\nnone\nbar:\n", "-q", "-", "cdb:"+src)
	if rc != 0 || out != "User1@backup.example\tOK\nbar:\tcolonval\n" {
		t.Errorf("-q - = %q rc %d", out, rc)
	}
	if _, _, rc := mxmap(t, "none\n", "-q", "-", "cdb:"+src); rc != 1 {
		t.Errorf("-q - with no hit: rc %d, want 1", rc)
	}
	out, _, _ = mxmap(t, "", "-s", "hash:"+src)
	if !strings.HasPrefix(out, "bar:\tcolonval\ndup\tfirst\n") {
		t.Errorf("-s = %q", out)
	}
	if _, stderr, rc := mxmap(t, "", "-q", "x", "cdb:"+src+"-missing"); rc != 1 || !strings.Contains(stderr, "mxmap: fatal:") {
		t.Errorf("missing table: rc %d, %s", rc, stderr)
	}
}

// TestSameAnswersAsPostmap runs mxmap and the real postmap on the same
// source and keys, for hash:, cdb:, regexp:, lmdb:, btree:, pcre: and
// socketmap: (an in-process server), and compares output, exit
// code and the compiled cdb bytes. The keys include a trailing CR (postmap
// -q - keeps it in the key) and the empty key.
func TestSameAnswersAsPostmap(t *testing.T) {
	postmap := testenv.NeedProgram(t, "postmap")
	env := testenv.PostfixEnv(t)
	dir := t.TempDir()
	ours, theirs := filepath.Join(dir, "ours"), filepath.Join(dir, "theirs")
	os.WriteFile(ours, []byte(source), 0o644)
	os.WriteFile(theirs, []byte(source), 0o644)
	re := filepath.Join(dir, "re")
	os.WriteFile(re, []byte("/^$/ emptykey\n/^dup.$/ dup-plus-one\n/^x/ x\nendif\n"), 0o644)
	pcre := filepath.Join(dir, "pcre")
	os.WriteFile(pcre, []byte("/^$/ emptykey\n/^(d)u\\1?p(?=\\r)/ dup-cr\n/^(?!nosuch)(\\w+)@backup\\.example$/ user:$1\nendif\n"), 0o644)
	sockmap := socketmapServer(t, map[string]string{"foo@example.com": "found in socketmap", "FOO@EXAMPLE.COM": "as given"})
	mxmap(t, "", "cdb:"+ours)
	theirsB := theirs + "-btree" // btree: writes .db as hash: does
	os.WriteFile(theirsB, []byte(source), 0o644)
	for _, typ := range []string{"cdb", "hash", "lmdb", "btree"} {
		src := theirs
		if typ == "btree" {
			src = theirsB
		}
		cmd := exec.Command(postmap, typ+":"+src)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("postmap: %v %s", err, out)
		}
	}
	a, _ := os.ReadFile(ours + ".cdb")
	b, _ := os.ReadFile(theirs + ".cdb")
	if !bytes.Equal(a, b) {
		t.Error("mxmap cdb: output differs from postmap cdb:")
	}
	keys := "foo@example.com\nFOO@EXAMPLE.COM\nbar:\nbar\ndup\nstrasse\nSTRASSE\nuser1@backup.example\nnosuch\ndup\r\n\nx\r\nxy"
	tables := [][2]string{{"cdb:" + ours, "cdb:" + theirs}, {"hash:" + ours, "hash:" + theirs}, {"regexp:" + re, "regexp:" + re},
		{"lmdb:" + ours, "lmdb:" + theirs}, {"btree:" + ours, "btree:" + theirsB}, {"pcre:" + pcre, "pcre:" + pcre},
		{"socketmap:inet:" + sockmap + ":virtual", "socketmap:inet:" + sockmap + ":virtual"}}
	for _, tab := range tables {
		for _, k := range strings.Split(keys, "\n") {
			out, errs, rc := mxmap(t, "", "-q", k, tab[0])
			cmd := exec.Command(postmap, "-q", k, tab[1])
			var perrs bytes.Buffer
			cmd.Env, cmd.Stderr = env, &perrs
			pout, _ := cmd.Output()
			if out != string(pout) || rc != cmd.ProcessState.ExitCode() {
				t.Errorf("%s -q %q: mxmap %q rc %d, postmap %q rc %d", tab[0], k, out, rc, pout, cmd.ProcessState.ExitCode())
			}
			// The pattern tables' warning (stray ENDIF) is postmap's.
			if p := strings.ReplaceAll(perrs.String(), "postmap: ", "mxmap: "); (strings.HasPrefix(tab[0], "regexp:") || strings.HasPrefix(tab[0], "pcre:")) && errs != p {
				t.Errorf("%s -q %q: mxmap warns %q, postmap %q", tab[0], k, errs, p)
			}
		}
		out, _, rc := mxmap(t, keys, "-q", "-", tab[0])
		cmd := exec.Command(postmap, "-q", "-", tab[1])
		cmd.Env, cmd.Stdin = env, strings.NewReader(keys)
		pout, _ := cmd.Output()
		if out != string(pout) || rc != cmd.ProcessState.ExitCode() {
			t.Errorf("%s -q -: mxmap %q rc %d, postmap %q", tab[0], out, rc, pout)
		}
	}
}

// socketmapServer answers socketmap requests for the map "virtual" from m
// on a loopback port, until the test ends, and returns its host:port.
func socketmapServer(t *testing.T, m map[string]string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					var n int
					if _, err := fmt.Fscanf(r, "%d:", &n); err != nil {
						return
					}
					req := make([]byte, n+1)
					if _, err := io.ReadFull(r, req); err != nil {
						return
					}
					reply := "NOTFOUND "
					if v, ok := m[strings.TrimPrefix(string(req[:n]), "virtual ")]; ok {
						reply = "OK " + v
					}
					fmt.Fprintf(c, "%d:%s,", len(reply), reply)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestListSameAsPostmap: -s lists what postmap -s lists (sorted, since
// postmap lists in database order), for inline: and hash:, and refuses
// the tables postmap cannot list.
func TestListSameAsPostmap(t *testing.T) {
	postmap := testenv.NeedProgram(t, "postmap")
	env := testenv.PostfixEnv(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "t")
	os.WriteFile(src, []byte(source), 0o644)
	cmd := exec.Command(postmap, "hash:"+src)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("postmap: %v %s", err, out)
	}
	sorted := func(s string) string {
		l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		slices.Sort(l)
		return strings.Join(l, "\n")
	}
	for _, spec := range []string{"inline:{ b=2, A=1, { c = x y } }", "hash:" + src, "static:x"} {
		out, _, rc := mxmap(t, "", "-s", spec)
		cmd := exec.Command(postmap, "-s", spec)
		cmd.Env = env
		pout, _ := cmd.Output()
		if sorted(out) != sorted(string(pout)) || rc != cmd.ProcessState.ExitCode() {
			t.Errorf("-s %s: mxmap %q rc %d, postmap %q rc %d", spec, out, rc, pout, cmd.ProcessState.ExitCode())
		}
	}
}

// The database types are not linked into this mxmap: asking one names
// the module that provides it, and examples/mxmap/all.
func TestDriverTypeNamesItsModule(t *testing.T) {
	for _, typ := range []string{"pgsql", "mysql", "sqlite", "ldap"} {
		_, stderr, rc := mxmap(t, "", "-q", "k", typ+":/etc/postfix/"+typ+".cf")
		if rc == 0 || !strings.Contains(stderr, "unsupported dictionary type: "+typ) || !strings.Contains(stderr, "github.com/mxrelay/mxrelay/lookup/"+typ) {
			t.Errorf("%s: rc %d, stderr %q; want an error naming the type and its module", typ, rc, stderr)
		}
	}
}
