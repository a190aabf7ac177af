package main

import (
	"bytes"
	"context"
	"database/sql"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

func mxmap(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	rc := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), rc
}

// mxmap -q answers from a sqlite: table what postmap -q answers, byte for
// byte and exit code for exit code.
func TestSQLiteSameAsPostmap(t *testing.T) {
	postmap := testenv.NeedProgram(t, "postmap")
	dir := t.TempDir()
	dbpath := filepath.Join(dir, "mail.sqlite")
	db, err := sql.Open("sqlite", dbpath)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE alias (address text, goto text)",
		"INSERT INTO alias VALUES ('sales@example.com', 'ann@example.com'), ('sales@example.com', 'bob@example.com'), ('o''neil@example.com', 'quoted')",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	cf := filepath.Join(dir, "virtual.cf")
	os.WriteFile(cf, []byte("dbpath = "+dbpath+"\nquery = SELECT goto FROM alias WHERE address = '%s'\n"), 0o644)
	env := testenv.PostfixEnv(t)
	for _, k := range []string{"sales@example.com", "Sales@Example.COM", "o'neil@example.com", "nobody@example.com"} {
		out, _, rc := mxmap("-q", k, "sqlite:"+cf)
		cmd := exec.Command(postmap, "-q", k, "sqlite:"+cf)
		cmd.Env = env
		pout, _ := cmd.Output()
		if out != string(pout) || rc != cmd.ProcessState.ExitCode() {
			t.Errorf("-q %q: mxmap %q rc %d, postmap %q rc %d", k, out, rc, pout, cmd.ProcessState.ExitCode())
		}
	}
}

// A database that is down fails the query (exit 2, a temporary error),
// never "not found" (exit 1).
func TestDatabaseDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	for typ, text := range map[string]string{
		"pgsql": "hosts = inet:" + dead + "\ndbname = mail\nquery = SELECT '%s'\n",
		"mysql": "hosts = inet:" + dead + "\ndbname = mail\nquery = SELECT '%s'\n",
		"ldap":  "server_host = " + dead + "\nsearch_base = dc=example,dc=com\n",
	} {
		cf := filepath.Join(t.TempDir(), typ+".cf")
		os.WriteFile(cf, []byte(text), 0o644)
		out, errs, rc := mxmap("-q", "bob@example.com", typ+":"+cf)
		if rc != 2 || out != "" || !strings.Contains(errs, "temporary error") {
			t.Errorf("%s: rc %d, stdout %q, stderr %q; want exit 2 and a temporary error", typ, rc, out, errs)
		}
	}
}
