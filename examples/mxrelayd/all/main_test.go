package main

import (
	"bufio"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// build builds this mxrelayd into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mxrelayd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// This mxrelayd runs a main.cf whose relay_recipient_maps is an sqlite:
// table (sqlite_table(5) file): a listed recipient is accepted, another
// refused with Postfix's 550, where the core mxrelayd refuses the main.cf
// for its table type.
func TestSQLiteRecipients(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, "mail.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE TABLE rcpt (address text)", "INSERT INTO rcpt VALUES ('alice@example.test')"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	os.WriteFile(filepath.Join(dir, "rcpt.cf"), []byte(fmt.Sprintf("dbpath = %s\nquery = SELECT 'OK' FROM rcpt WHERE address = '%%s'\n", filepath.Join(dir, "mail.sqlite"))), 0o644)
	cfg := filepath.Join(dir, "main.cf")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`compatibility_level = 3.6
myhostname = mx2.example.test
mydestination =
mynetworks =
relay_domains = example.test
relay_recipient_maps = sqlite:%s/rcpt.cf
smtpd_peername_lookup = no
`, dir)), 0o644)
	bin := build(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "-config", cfg, "-listen", addr, "-queue", filepath.Join(dir, "q"), "-dns", "127.0.0.1:1")
	var errs strings.Builder
	cmd.Stderr = &errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var c net.Conn
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mxrelayd did not start:\n%s", errs.String())
		}
	}
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func() string {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reply: %v\n%s", err, errs.String())
			}
			if len(line) < 4 || line[3] != '-' {
				return strings.TrimSpace(line)
			}
		}
	}
	cmdReply := func(s string) string { fmt.Fprintf(c, "%s\r\n", s); return reply() }
	reply()
	cmdReply("EHLO client.example")
	cmdReply("MAIL FROM:<s@src.example>")
	if got := cmdReply("RCPT TO:<alice@example.test>"); !strings.HasPrefix(got, "250") {
		t.Errorf("listed recipient: %q", got)
	}
	if got := cmdReply("RCPT TO:<nobody@example.test>"); got != "550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown in relay recipient table" {
		t.Errorf("unlisted recipient: %q", got)
	}
}
