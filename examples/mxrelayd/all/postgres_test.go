package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mxrelay/mxrelay/internal/testenv"
)

// tablePrefix returns a table prefix of the test's own, whose tables
// are dropped when it ends.
func tablePrefix(t *testing.T, dsn string) string {
	var b [6]byte
	rand.Read(b[:])
	pre := "t" + hex.EncodeToString(b[:]) + "_"
	t.Cleanup(func() {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		rows, err := c.Query(ctx, `SELECT relname FROM pg_class WHERE starts_with(relname, $1) AND relkind IN ('r', 'S')`, pre)
		if err != nil {
			t.Error(err)
			return
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Error(err)
			return
		}
		for _, n := range names {
			if _, err := c.Exec(ctx, "DROP TABLE IF EXISTS "+n+" CASCADE"); err != nil {
				if _, err := c.Exec(ctx, "DROP SEQUENCE IF EXISTS "+n+" CASCADE"); err != nil {
					t.Error(err)
				}
			}
		}
	})
	return pre
}

// mxrelayd -queue postgres://... runs on a queue in PostgreSQL, as the
// issue asks of it: a message it accepts is stored there, and its queue
// tools, given the URL, see it from the database whether the daemon
// runs or not.
func TestPostgresQueue(t *testing.T) {
	dsn := testenv.NeedEnv(t, "MXRELAY_TEST_POSTGRES", "PostgreSQL")
	pre := tablePrefix(t, dsn)
	bin := build(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "main.cf")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx2.example.test
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = example.test
relay_transport = relay:[127.0.0.1]:1
smtpd_peername_lookup = no
queue_directory = %s
`, dir)), 0o644)
	cmd := exec.Command(bin, "-config", cfg, "-listen", "127.0.0.1:0", "-queue", dsn, "-prefix", pre, "-dns", "127.0.0.1:1")
	var errs strings.Builder
	cmd.Stderr = &errs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := regexp.MustCompile(`listening on (\S+), queue (postgres://.*)`).FindStringSubmatch(sc.Text()); m != nil {
				listening <- m[1]
			}
		}
		close(listening)
	}()
	var addr string
	select {
	case a, ok := <-listening:
		if !ok {
			t.Fatalf("mxrelayd exited:\n%s", errs.String())
		}
		addr = a
	case <-time.After(60 * time.Second):
		t.Fatalf("mxrelayd did not start:\n%s", errs.String())
	}
	if err := smtp.SendMail(addr, nil, "s@src.example", []string{"alice@example.test"}, []byte("Subject: shared\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	mailq := func() string {
		t.Helper()
		out, err := exec.Command(bin, "mailq", "-queue", dsn, "-prefix", pre).CombinedOutput()
		if err != nil {
			t.Fatalf("mailq: %v\n%s", err, out)
		}
		return string(out)
	}
	if got := mailq(); !strings.Contains(got, "alice@example.test") || !strings.Contains(got, "s@src.example") {
		t.Errorf("mailq while mxrelayd runs:\n%s", got)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, errs.String())
	}
	if got := mailq(); !strings.Contains(got, "alice@example.test") {
		t.Errorf("mailq after mxrelayd stopped:\n%s", got)
	}
}
